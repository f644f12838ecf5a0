"""Blobs as repositories see them: existence, reading, linking, mounting and unlinking."""

from __future__ import annotations

from typing import Any

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from berth.db.models import Blob, Project, Repository, RepositoryBlob, utcnow
from berth.db.session import Database
from berth.references import Digest, InvalidDigest, UnsupportedDigest, parse_digest
from berth.services.cache import LruCache
from berth.services.errors import BlobUnknown, DigestInvalid, Unsupported
from berth.services.quotas import QuotaService
from berth.services.repositories import RepositoryService
from berth.storage import paths
from berth.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int


def parse_blob_digest(text: str) -> Digest:
    try:
        return parse_digest(text)
    except UnsupportedDigest:
        raise Unsupported(f"unsupported digest algorithm: {text[:80]}", {"digest": text[:200]}) from None
    except InvalidDigest:
        raise DigestInvalid(f"invalid digest: {text[:200]}", {"digest": text[:200]}) from None


class BlobService:
    def __init__(
        self, db: Database, storage: StorageDriver, repositories: RepositoryService, quotas: QuotaService
    ) -> None:
        self._db = db
        self._storage = storage
        self._repositories = repositories
        self._quotas = quotas
        #: (repository id, digest) -> size, for blob HEAD/GET without a query
        self._links: LruCache[tuple[int, str], int] = LruCache(max_entries=200_000)

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"blob_links": self._links}

    @property
    def storage(self) -> StorageDriver:
        return self._storage

    async def stat(self, repository: str, digest: Digest) -> BlobInfo:
        """The blob as `repository` serves it; BlobUnknown when it is not linked there."""
        repo_id = await self._repositories.find(self._repositories.validate(repository))
        if repo_id is None:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})
        key = (repo_id, str(digest))
        size = self._links.get(key)
        if size is None:
            version = self._links.version
            async with self._db.read() as conn:
                size = await conn.scalar(
                    select(Blob.size)
                    .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
                    .where(RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest == str(digest))
                )
            if size is None:
                raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})
            self._links.put(key, size, if_version=version)
        return BlobInfo(str(digest), size)

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._storage.read(paths.blob_path(digest), offset, length)

    def local_file(self, digest: Digest) -> str | None:
        return self._storage.local_file(paths.blob_path(digest))

    async def presigned_url(self, digest: Digest, expires_seconds: int) -> str | None:
        return await self._storage.presigned_url(paths.blob_path(digest), expires_seconds)

    async def exists_in_project(self, digest: Digest, project: str) -> int | None:
        """Size of a blob that some repository of `project` links (mount without `from`)."""
        async with self._db.read() as conn:
            return await conn.scalar(
                select(Blob.size)
                .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
                .join(Repository, Repository.id == RepositoryBlob.repository_id)
                .join(Project, Project.id == Repository.project_id)
                .where(Blob.digest == str(digest), Project.name == project)
                .limit(1)
            )

    async def record(  # type: ignore[no-untyped-def]
        self, conn, digest: str, size: int, repo_id: int, repository: str
    ) -> None:
        """Record a stored blob and link it into a repository (inside the caller's transaction);
        QuotaExceededError when it does not fit, BlobInCollection while the garbage collector is
        deleting it (the caller waits and tries again, then stores its bytes anew)."""
        now = utcnow()
        # the house's lock order, as a manifest PUT takes it: the quota row, then the blob, then the link
        # (blob first would deadlock with a PUT in the project that references the same blob)
        await self._quotas.charge(conn, repo_id, {digest: size}, repository=repository)
        await claim_blob(conn, digest, now)
        recorded = await conn.scalar(
            self._db.insert(Blob)
            .values(digest=digest, size=size, created_at=now, last_linked_at=now)
            .on_conflict_do_update(index_elements=[Blob.digest], set_={"last_linked_at": now},
                                   where=Blob.gc_marked_at.is_(None))
            .returning(Blob.digest)
        )
        if recorded is None:
            # the collector recorded the digest after claim_blob looked (an orphan file it is deleting)
            raise BlobInCollection(digest)
        await self.link(conn, repo_id, digest)

    async def link(self, conn, repo_id: int, digest: str) -> None:  # type: ignore[no-untyped-def]
        now = utcnow()
        await conn.execute(
            self._db.insert(RepositoryBlob)
            .values(repository_id=repo_id, digest=digest, linked_at=now)
            .on_conflict_do_update(
                index_elements=[RepositoryBlob.repository_id, RepositoryBlob.digest], set_={"linked_at": now}
            )
        )

    async def link_from(self, source: str, repository: str, digests: list[str]) -> None:
        """Link into `repository` the blobs of `digests` that `source` holds (copying an artifact)."""
        source_id = await self._repositories.require(source)
        repo_id = await self._repositories.ensure(repository)
        async with self._db.write() as conn:
            held = dict((await conn.execute(
                select(Blob.digest, Blob.size)
                .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
                .where(RepositoryBlob.repository_id == source_id, RepositoryBlob.digest.in_(digests))
            )).all())
            await self._quotas.charge(conn, repo_id, held, repository=repository)
            if await touch_blobs(conn, held, utcnow()):
                raise BlobUnknown("blob unknown to registry: the garbage collector is deleting it")
            for digest in held:
                await self.link(conn, repo_id, digest)

    async def mount(self, repository: str, digest: Digest, source: str | None) -> BlobInfo | None:
        """Link a blob that `source` holds (without source: any repository of the same project, so a
        mount never reveals blobs of projects the caller cannot read); None if it cannot."""
        if source is not None:
            try:
                info = await self.stat(source, digest)
            except BlobUnknown:
                return None
            size = info.size
        else:
            size = await self.exists_in_project(digest, repository.split("/", 1)[0])
            if size is None:
                return None
        return await self._link_known(repository, digest, size)

    async def link_stored(self, repository: str, digest: Digest) -> BlobInfo | None:
        """Link into `repository` a blob berth stores in any repository (for system jobs that read
        across projects, such as a pull-based replication); None when berth does not have it."""
        async with self._db.read() as conn:
            size = await conn.scalar(select(Blob.size).where(Blob.digest == str(digest), Blob.gc_marked_at.is_(None)))
        if size is None:
            return None
        return await self._link_known(repository, digest, size)

    async def _link_known(self, repository: str, digest: Digest, size: int) -> BlobInfo | None:
        repo_id = await self._repositories.ensure(repository)
        try:
            await self._mount_in(repo_id, repository, digest)
        except _Withdrawn:
            return None
        return BlobInfo(str(digest), size)

    async def _mount_in(self, repo_id: int, repository: str, digest: Digest) -> None:
        async with self._db.write() as conn:
            # re-check inside the transaction: the blob row must still be there, and not be on its
            # way out (marked by the garbage collector), when linking; the touch fences the collector.
            # Locks in the house order: the quota row (charge), then the blob, then the link.
            still = await conn.scalar(select(Blob.size).where(Blob.digest == str(digest), Blob.gc_marked_at.is_(None)))
            if still is None:
                raise _Withdrawn
            await self._quotas.charge(conn, repo_id, {str(digest): still}, repository=repository)
            if await touch_blobs(conn, [str(digest)], utcnow()):
                raise _Withdrawn  # rolls the charge back
            await self.link(conn, repo_id, str(digest))

    async def drop_link(self, repo_id: int, digest: str) -> None:
        """Unlink a blob whose bytes could not be stored after it was recorded (quota recounted)."""
        async with self._db.write() as conn:
            held = await self._quotas.hold(conn, repo_id)
            result = await conn.execute(delete(RepositoryBlob).where(
                RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest == digest))
            if result.rowcount:
                size = await conn.scalar(select(Blob.size).where(Blob.digest == digest))
                await self._quotas.release(conn, held, digest, int(size or 0))
        self._links.discard((repo_id, digest))

    def forget_link(self, repo_id: int, digest: str) -> None:
        self._links.discard((repo_id, digest))

    def forget_repository(self, repo_id: int) -> None:
        self._links.discard_where(lambda key: key[0] == repo_id)

    async def unlink(self, repository: str, digest: Digest) -> None:
        """Remove the blob from one repository (the bytes stay until garbage collection)."""
        repo_id = await self._repositories.require(repository)
        async with self._db.write() as conn:
            held = await self._quotas.hold(conn, repo_id)
            result = await conn.execute(
                delete(RepositoryBlob).where(
                    RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest == str(digest)
                )
            )
            if result.rowcount:
                size = await conn.scalar(select(Blob.size).where(Blob.digest == str(digest)))
                await self._quotas.release(conn, held, str(digest), int(size or 0))
        self._links.discard((repo_id, str(digest)))
        if result.rowcount == 0:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})


async def touch_blobs(conn, digests: Iterable[str], now: datetime) -> set[str]:  # type: ignore[no-untyped-def]
    """Mark blobs as linked just now (the garbage collector's grace window starts again); returns
    those that are missing or that the collector has marked for deletion (not touched: the caller
    must not link them). The rows are locked in digest order first: concurrent pushes that share
    blobs would otherwise lock them in whatever order their scans meet them, and deadlock each other
    on PostgreSQL. FOR NO KEY UPDATE leaves the key-share locks of foreign keys (manifest_blobs rows
    being inserted) alone; a collector's conditional mark waits for the lock and then finds the
    touch (berth.services.gc)."""
    ordered = sorted(set(digests))
    if not ordered:
        return set()
    rows = (await conn.execute(
        select(Blob.digest, Blob.gc_marked_at).where(Blob.digest.in_(ordered)).order_by(Blob.digest)
        .with_for_update(key_share=True))).all()
    live = [row.digest for row in rows if row.gc_marked_at is None]
    if live:
        await conn.execute(update(Blob).where(Blob.digest.in_(live), Blob.gc_marked_at.is_(None))
                           .values(last_linked_at=now))
    return set(ordered) - set(live)


class _Withdrawn(Exception):
    """The blob went (or is going) while a mount was linking it."""


class BlobInCollection(Exception):
    """The garbage collector is deleting the blob: it cannot be linked until its row has gone."""


#: a mark older than this belongs to a collector that died: a push may take the blob back
STALE_MARK = timedelta(minutes=10)


async def claim_blob(conn, digest: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """Before a push records `digest` (inside its transaction): lock the blob's row if there is one;
    BlobInCollection while the garbage collector is deleting it, unless its mark is stale (a
    collector killed mid-run), which the push clears and so takes the blob back (its bytes are
    stored again by the push after the record)."""
    marked = await conn.scalar(select(Blob.gc_marked_at).where(Blob.digest == digest)
                               .with_for_update(key_share=True))
    if marked is None:
        return
    if _aware(marked) > now - STALE_MARK:
        raise BlobInCollection(digest)
    await conn.execute(update(Blob).where(Blob.digest == digest, Blob.gc_marked_at == marked)
                       .values(gc_marked_at=None, last_linked_at=now))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
