"""Project storage quotas as Harbor keeps them: a hard limit per project (-1 unlimited), the bytes
used (each blob and manifest counted once per project, whichever repositories hold it), and pushes
held to the limit.

Enforcement runs inside the write transaction that links: `charge` locks the project's quota row
(SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer at a time), finds which of the pushed
digests are new to the project, lets berth.quotas decide, and adds them to `used_storage` before the
caller links them. Two pushes into one project so queue on that row and never both pass a check that
only one fits. Deleting a manifest or unlinking a blob takes the same lock and subtracts what the
project no longer holds (`hold`/`release`); deleting a repository sets `used_storage` to NULL
(`invalidate`) and the next push or read recalculates it with one index-backed SUM. Pushes never
sum a project's blobs otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, select, union, update

from berth.db.models import Blob, Manifest, Project, Quota, Repository, RepositoryBlob, User, utcnow
from berth.db.session import Database, after_rollback
from berth.events.bus import EventBus
from berth.events.types import QuotaExceeded, QuotaWarning
from berth.quotas import QuotaDecision, decide
from berth.services.configurations import ConfigurationService
from berth.services.errors import BadRequest, Denied, NotFound
from berth.services.projects import limit_problem
from berth.services.querying import fits, orderings


class QuotaExceededError(Denied):
    """403 DENIED with Harbor's overflow message: the push would go over the project's limit."""


def _in_project(project_id: int, digests: list[str]):  # type: ignore[no-untyped-def]
    """Those of `digests` some repository of the project holds, as a blob or as a manifest."""
    return union(
        select(RepositoryBlob.digest)
        .join(Repository, Repository.id == RepositoryBlob.repository_id)
        .where(Repository.project_id == project_id, RepositoryBlob.digest.in_(digests)),
        select(Manifest.digest)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Repository.project_id == project_id, Manifest.digest.in_(digests)),
    )


async def usage_of(conn, project_id: int) -> int:  # type: ignore[no-untyped-def]
    """Bytes the project uses, recalculated: each distinct blob and manifest of its repositories once
    (Harbor's SUM over project_blob). Index-backed: repositories by project_id, then the
    (repository_id, digest) keys of repository_blobs and manifests, then blobs by digest."""
    held = union(
        select(Blob.digest, Blob.size)
        .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
        .join(Repository, Repository.id == RepositoryBlob.repository_id)
        .where(Repository.project_id == project_id),
        select(Manifest.digest, Manifest.size)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Repository.project_id == project_id),
    ).subquery()
    return int(await conn.scalar(select(func.coalesce(func.sum(held.c.size), 0))) or 0)


async def recount_usage(conn, project_id: int) -> int:  # type: ignore[no-untyped-def]
    """Set the project's used storage to a recount from its reference records (what usage_of sums:
    the blob links and manifests the garbage collector also goes by), under the quota row's lock;
    returns it."""
    locked = await conn.scalar(select(Quota.id).where(Quota.project_id == project_id).with_for_update())
    used = await usage_of(conn, project_id)
    if locked is not None:
        await conn.execute(update(Quota).where(Quota.id == locked).values(used_storage=used))
    return used


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    id: int
    project_id: int
    project_name: str
    owner_name: str
    hard: int
    used: int
    created_at: datetime
    updated_at: datetime


class QuotaService:
    def __init__(
        self, db: Database, configurations: ConfigurationService, events: EventBus | None = None,
    ) -> None:
        self._db = db
        self._configurations = configurations
        self._events = events or EventBus()

    # --- enforcement on push ----------------------------------------------------------------------

    async def charge(
        self, conn, repo_id: int, sizes: Mapping[str, int], *, repository: str, digest: str = "",
    ) -> None:  # type: ignore[no-untyped-def]
        """Count into the project of `repo_id` those of `sizes` (digest -> bytes) new to it, inside the
        caller's write transaction and before it links them, recording QuotaWarning with it at >= 85%;
        raise QuotaExceededError (QuotaExceeded recorded after the rollback) when that would go over
        the limit. Nothing is checked when no new bytes are asked for (Harbor neither checks nor warns
        then) or the project has no quota row.

        `digest` names the manifest in the events (Harbor leaves it empty for blobs)."""
        if not sizes:
            return
        row = await self._lock(conn, repo_id)
        if row is None:
            return
        project_id = row.project_id
        digests = list(sizes)
        present = set((await conn.execute(_in_project(project_id, digests))).scalars())
        delta = sum(sizes[d] for d in digests if d not in present)
        used = row.used_storage
        if used is None:
            used = await usage_of(conn, project_id)
        if delta == 0:  # nothing new, or only empty blobs: Harbor asks for nothing then
            if row.used_storage is None:
                await conn.execute(update(Quota).where(Quota.id == row.id).values(used_storage=used))
            return
        enforced = bool(await self._configurations.get("quota_per_project_enable"))
        decision = decide(int(row.hard_storage), int(used), delta, enforced=enforced)
        project = repository.split("/", 1)[0]
        if not decision.allowed:
            # the push's transaction rolls back: the refusal is written once it has
            refused = QuotaExceeded(project=project, repository=repository, digest=digest, message=decision.message)
            after_rollback(conn, lambda: self._events.record_alone(self._db, refused))
            raise QuotaExceededError(decision.message)
        await conn.execute(update(Quota).where(Quota.id == row.id).values(used_storage=decision.used))
        if decision.warning is not None:  # Harbor's QUOTA_WARNING when usage is >= 85%, with the push
            await self._events.record(conn, QuotaWarning(project=project, repository=repository, digest=digest,
                                                         message=decision.warning))

    async def check_start(self, repository: str, *, warn: bool = True) -> None:
        """An upload start (a POST without mount) asks for 0 bytes, as in Harbor: refused only when the
        project is already over its limit (which an admin lowering it can cause); warns at >= 85%
        unless the request is charged for its bytes later (`warn=False`: a monolithic POST)."""
        decision = await self._check(repository, {})
        if decision is not None and warn and decision.warning is not None:
            await self._events.record_alone(self._db, QuotaWarning(
                project=repository.split("/", 1)[0], repository=repository, message=decision.warning))

    async def _lock(self, conn, repo_id: int):  # type: ignore[no-untyped-def]
        """The quota row of the repository's project, locked until the transaction ends. Taken first,
        so that membership checks after it see what earlier holders of the lock linked or unlinked."""
        return (await conn.execute(
            select(Quota.id, Quota.project_id, Quota.hard_storage, Quota.used_storage)
            .where(Quota.project_id == select(Repository.project_id).where(Repository.id == repo_id).scalar_subquery())
            .with_for_update()
        )).first()

    async def hold(self, conn, repo_id: int):  # type: ignore[no-untyped-def]
        """First thing in a transaction that unlinks one digest from the repository: lock the quota row;
        hand the result to `release` after the unlink."""
        return await self._lock(conn, repo_id)

    async def release(self, conn, held, digest: str, size: int) -> None:  # type: ignore[no-untyped-def]
        """After unlinking `digest` (inside the `hold` transaction): the project frees its `size` bytes
        unless another of its repositories still holds it. Exact, so deletes cost no recalculation."""
        if held is None or held.used_storage is None:
            return
        if (await conn.execute(_in_project(held.project_id, [digest]))).first() is not None:
            return
        await conn.execute(update(Quota).where(Quota.id == held.id)
                           .values(used_storage=func.max(0, Quota.used_storage - size)
                                   if self._db.is_sqlite else func.greatest(0, Quota.used_storage - size)))

    async def precheck(self, repository: str, sizes: Mapping[str, int], *, digest: str = "") -> None:
        """Before a push made of several transactions (copying an artifact, as Harbor's copy middleware
        does): refuse up front when all of `sizes` new to the project cannot fit, so such a push does
        not stop half-way in the common case. Each step is still charged as it links."""
        if sizes:
            await self._check(repository, sizes, digest=digest)

    async def _check(self, repository: str, sizes: Mapping[str, int], *, digest: str = "") -> QuotaDecision | None:
        """Read-only: the decision on `sizes` (those new to the project) against a limited, enforced
        quota, None when there is none; QuotaExceeded recorded and QuotaExceededError raised on refusal."""
        if not await self._configurations.get("quota_per_project_enable"):
            return None
        project = repository.split("/", 1)[0]
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(Quota.project_id, Quota.hard_storage, Quota.used_storage)
                .join(Project, Project.id == Quota.project_id).where(Project.name == project)
            )).first()
            if row is None or row.hard_storage == -1:
                return None
            present = set((await conn.execute(_in_project(row.project_id, list(sizes))))
                          .scalars()) if sizes else set()
            used = row.used_storage if row.used_storage is not None else await usage_of(conn, row.project_id)
        decision = decide(int(row.hard_storage), int(used), sum(v for d, v in sizes.items() if d not in present))
        if not decision.allowed:
            await self._events.record_alone(self._db, QuotaExceeded(
                project=project, repository=repository, digest=digest, message=decision.message))
            raise QuotaExceededError(decision.message)
        return decision

    async def invalidate(self, conn, repo_id: int) -> None:  # type: ignore[no-untyped-def]
        """Inside a transaction that unlinks from the repository's project (first, so every writer takes
        the quota row before link rows): the next push or read recalculates the usage."""
        await conn.execute(
            update(Quota)
            .where(Quota.project_id == select(Repository.project_id).where(Repository.id == repo_id).scalar_subquery())
            .values(used_storage=None)
        )

    async def usage(self, project_id: int) -> tuple[int, int]:
        """(hard limit, bytes used) of a project; -1 when it has no quota row."""
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(Quota.hard_storage, Quota.used_storage).where(Quota.project_id == project_id))).first()
            if row is not None and row.used_storage is not None:
                return int(row.hard_storage), int(row.used_storage)
            used = await usage_of(conn, project_id)
        return (-1 if row is None else int(row.hard_storage)), used

    # --- the quotas API -----------------------------------------------------------------------------

    async def list(
        self, *, project_id: int | None = None, sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[QuotaRecord], int]:
        query = (
            select(Quota.id, Quota.project_id, Quota.hard_storage, Quota.created_at, Quota.updated_at,
                   Project.name, User.username)
            .join(Project, Project.id == Quota.project_id)
            .outerjoin(User, User.id == Project.owner_id)
        )
        if project_id is not None:
            query = query.where(Quota.project_id == project_id if fits(Quota.project_id, project_id) else false())
        keys = {"id": Quota.id, "creation_time": Quota.created_at, "update_time": Quota.updated_at,
                "hard.storage": Quota.hard_storage}
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(
                query.order_by(*orderings(sort, keys, [Quota.id])).offset(offset).limit(limit))).all()
        records = []
        for row in rows:
            _, used = await self.usage(row.project_id)
            records.append(QuotaRecord(row.id, row.project_id, row.name, row.username or "", int(row.hard_storage),
                                       used, row.created_at, row.updated_at))
        return records, total

    async def get(self, quota_id: int) -> QuotaRecord:
        async with self._db.read() as conn:
            project_id = await conn.scalar(select(Quota.project_id).where(Quota.id == quota_id))
        if project_id is None:
            raise NotFound(f"quota {quota_id} not found")
        found, _ = await self.list(project_id=project_id, limit=1)
        return found[0]

    async def set_hard(self, quota_id: int, storage: object) -> None:
        problem = limit_problem(storage)
        if problem:
            raise BadRequest(problem)
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Quota).where(Quota.id == quota_id).values(hard_storage=storage, updated_at=utcnow())
            )
        if result.rowcount == 0:
            raise NotFound(f"quota {quota_id} not found")
