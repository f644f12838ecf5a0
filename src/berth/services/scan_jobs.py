"""Scans as durable jobs: what enqueues them (a push into an `auto_scan` project, `POST …/scan`,
scan-all now or on its schedule), what stops them, and scan-all's progress (Harbor's Stats).

One artifact's scan is an execution of vendor IMAGE_SCAN (vendor id: the artifact) with a task of
kind IMAGE_SCAN; an index gets a task for itself and one per child. Scan-all is an execution of
vendor SCAN_ALL whose first task (kind SCAN_ALL) adds one IMAGE_SCAN task per artifact to it, so
its tasks are its progress. The tasks run in services/scan_runs.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.artifact_types import IMAGE
from berth.db.models import Execution, Manifest, ManifestChild, ProjectMetadata, Repository, Tag, Task
from berth.db.session import Database, after_commit
from berth.events.outbox import OutboxEvent
from berth.events.types import ArtifactPushed
from berth.jobs.kinds import JobContext
from berth.jobs.store import FINAL, PENDING, RUNNING, JobStore
from berth.mediatypes import INDEXES
from berth.scan.local import SBOM, SCAN_TYPES, VULNERABILITY
from berth.services.errors import BadRequest, Conflict, NotFound, Unprocessable
from berth.services.scanners import effective_registration

IMAGE_SCAN = "IMAGE_SCAN"
SCAN_ALL = "SCAN_ALL"
#: a scan's task runs again after its worker died (lease losses are allowed on top of this)
SCAN_ATTEMPTS = 1
#: Harbor's Stats trigger names by execution trigger
_TRIGGERS = {"MANUAL": "Manual", "SCHEDULE": "Schedule", "EVENT": "Event"}


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """An artifact to scan, as a task's parameters carry it."""

    artifact_id: int
    project_id: int
    repository: str
    digest: str
    media_type: str
    tag: str

    def parameters(self, scan_type: str, registration: str) -> dict[str, Any]:
        return {"artifact_id": self.artifact_id, "project_id": self.project_id, "repository": self.repository,
                "digest": self.digest, "media_type": self.media_type, "tag": self.tag, "scan_type": scan_type,
                "registration": registration}


@dataclass(frozen=True, slots=True)
class ScanAllStats:
    """Harbor's Stats of one scan-all run."""

    total: int
    completed: int
    metrics: dict[str, int]
    ongoing: bool
    trigger: str


def scan_type_of(body: dict[str, Any] | None) -> str:
    """The scan type of Harbor's optional ScanType body (pure): vulnerability unless it says sbom."""
    scan_type = (body or {}).get("scan_type") or VULNERABILITY
    if scan_type not in SCAN_TYPES:
        raise BadRequest(f"invalid scan type {str(scan_type)[:50]!r}: vulnerability or sbom")
    return str(scan_type)


class ScanJobService:
    def __init__(self, db: Database, jobs: JobStore) -> None:
        self._db = db
        self._jobs = jobs

    # --- enqueueing ---------------------------------------------------------------------------------

    async def scan_artifact(self, repository: str, digest: str, scan_type: str, trigger: str = "MANUAL") -> int:
        """Enqueue the scan of one artifact (and an index's children); returns the execution id.
        Unprocessable when no scanner is set for its project, or the artifact is not an image;
        Conflict, as in Harbor, while a scan of that type of the same digest is pending or running."""
        unfinished = await self.unfinished_scans(None, digest, scan_type)
        if unfinished:
            raise Conflict(f"a previous scan process is {unfinished[0][1]}")
        async with self._db.write() as conn:
            target = await _target(conn, repository, digest)
            if target is None:
                raise NotFound(f"artifact {repository}@{digest} not found")
            if not await _is_scannable(conn, target.artifact_id):
                raise Unprocessable(f"artifact {repository}@{digest} is not an image: it cannot be scanned")
            execution_id = await self._enqueue(conn, target, scan_type, trigger)
            if execution_id is None:
                raise Unprocessable(f"no scanner is set for the project of {repository}")
        self._jobs.notify()
        return execution_id

    async def _enqueue(
        self, conn: AsyncConnection, target: ScanTarget, scan_type: str, trigger: str,
        execution_id: int | None = None,
    ) -> int | None:
        """The tasks of one artifact's scan (an index's children too), in a new execution or in
        `execution_id` (scan-all's); None when its project has no scanner."""
        registration = await effective_registration(conn, target.project_id)
        if registration is None:
            return None
        if execution_id is None:
            execution_id = await self._jobs.create_execution(
                conn, IMAGE_SCAN, target.artifact_id, trigger, {"scan_type": scan_type, "digest": target.digest})
        for one in [target, *await _children(conn, target)]:
            await self._jobs.create_task(conn, execution_id, IMAGE_SCAN, one.parameters(scan_type, registration.uuid),
                                         max_attempts=SCAN_ATTEMPTS)
        return execution_id

    async def on_push(self, conn: AsyncConnection, batch: Sequence[OutboxEvent]) -> None:
        """The outbox subscriber: scan what was pushed into a project with `auto_scan` (and generate
        its SBOM with `auto_sbom_generation`), enqueued in the outbox's delivery transaction."""
        enqueued = False
        for item in batch:
            event = item.event
            if not isinstance(event, ArtifactPushed):
                continue
            target = await _target(conn, event.repository, event.digest)
            if target is None or not await _is_scannable(conn, target.artifact_id):
                continue
            switches = await _project_switches(conn, target.project_id)
            for scan_type, key in ((VULNERABILITY, "auto_scan"), (SBOM, "auto_sbom_generation")):
                if switches.get(key) == "true":
                    enqueued |= await self._enqueue(conn, target, scan_type, "EVENT") is not None
        if enqueued:
            after_commit(conn, self._jobs.notify)

    # --- scan all -----------------------------------------------------------------------------------

    async def scan_all(self, trigger: str = "MANUAL") -> int:
        """Start a scan-all run now; its first task lists the artifacts. Conflict while one is going on."""
        if trigger == "MANUAL" and (await self.scan_all_stats()).ongoing:
            raise Conflict("a previous scan all job is still running")
        execution_id, _ = await self._jobs.submit(SCAN_ALL, 0, SCAN_ALL, {}, trigger=trigger)
        return execution_id

    async def run_scan_all(self, ctx: JobContext) -> str:
        """The SCAN_ALL task: one scan task per image artifact (not accessories) in the run's execution."""
        async with self._db.read() as conn:
            ids = list((await conn.execute(
                select(Manifest.id).where(Manifest.type == IMAGE, Manifest.subject_digest.is_(None))
                .where(~Manifest.digest.in_(select(ManifestChild.child_digest))).order_by(Manifest.id)
            )).scalars())
        busy = await self._digests_in_scan(VULNERABILITY)  # Harbor counts these as conflicts and skips them
        queued = 0
        for start in range(0, len(ids), 200):
            async with self._db.write() as conn:
                for artifact_id in ids[start:start + 200]:
                    target = await _target_by_id(conn, artifact_id)
                    if target is not None and target.digest not in busy and await self._enqueue(
                            conn, target, VULNERABILITY, "", execution_id=ctx.execution_id) is not None:
                        queued += 1
            self._jobs.notify()
        ctx.log(f"{queued} artifact(s) of {len(ids)} queued for scanning"
                + (f" (those already being scanned are left to that scan: {len(busy)} digest(s))" if busy else ""))
        return f"{queued} artifact(s) queued"

    async def scan_all_stats(self, scheduled_only: bool = False) -> ScanAllStats:
        """The latest scan-all run's progress (zeros when there was none)."""
        async with self._db.read() as conn:
            query = select(Execution.id, Execution.trigger).where(Execution.vendor_type == SCAN_ALL)
            if scheduled_only:
                query = query.where(Execution.trigger == "SCHEDULE")
            latest = (await conn.execute(query.order_by(Execution.id.desc()).limit(1))).first()
            if latest is None:
                return ScanAllStats(0, 0, {}, False, "Manual")
            counts = dict((await conn.execute(
                select(Task.status, func.count()).where(Task.execution_id == latest.id, Task.kind == IMAGE_SCAN)
                .group_by(Task.status))).all())
            lister = await conn.scalar(select(Task.status).where(Task.execution_id == latest.id, Task.kind == SCAN_ALL))
        total = sum(counts.values())
        completed = sum(count for status, count in counts.items() if status in FINAL)
        ongoing = lister in (PENDING, RUNNING) or completed < total
        return ScanAllStats(total, completed, {k: int(v) for k, v in counts.items()}, ongoing,
                            _TRIGGERS.get(latest.trigger, "Manual"))

    async def stop_scan_all(self) -> None:
        async with self._db.read() as conn:
            latest = await conn.scalar(select(Execution.id).where(Execution.vendor_type == SCAN_ALL)
                                       .order_by(Execution.id.desc()).limit(1))
        if latest is not None:
            await self._jobs.stop_execution(latest)

    # --- stopping -----------------------------------------------------------------------------------

    async def unfinished_scans(
        self, repository: str | None, digest: str, scan_type: str,
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """(task id, status, parameters) of the artifact's scans of `scan_type` not yet ended (in
        `repository`, or in any repository: reports are kept per digest)."""
        needle = json.dumps({"digest": digest})[1:-1]
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Task.id, Task.status, Task.parameters).where(
                Task.kind == IMAGE_SCAN, Task.status.in_((PENDING, RUNNING)),
                Task.parameters.contains(needle, autoescape=True)))).all()
        found = []
        for row in rows:
            parameters = json.loads(row.parameters)
            if (repository is None or parameters.get("repository") == repository) \
                    and parameters.get("scan_type", VULNERABILITY) == scan_type:
                found.append((row.id, row.status, parameters))
        return found

    async def _digests_in_scan(self, scan_type: str) -> set[str]:
        """The digests with a scan of `scan_type` pending or running, outside this scan-all."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Task.parameters).where(
                Task.kind == IMAGE_SCAN, Task.status.in_((PENDING, RUNNING))))).scalars().all()
        parsed = (json.loads(row) for row in rows)
        return {str(p.get("digest")) for p in parsed if p.get("scan_type", VULNERABILITY) == scan_type}

    async def stop_task(self, task_id: int) -> bool:
        return await self._jobs.stop_task(task_id)


async def _target(conn: AsyncConnection, repository: str, digest: str) -> ScanTarget | None:
    artifact_id = await conn.scalar(select(Manifest.id).join(Repository, Repository.id == Manifest.repository_id)
                                    .where(Repository.name == repository, Manifest.digest == digest))
    return await _target_by_id(conn, artifact_id) if artifact_id is not None else None


async def _target_by_id(conn: AsyncConnection, artifact_id: int) -> ScanTarget | None:
    row = (await conn.execute(
        select(Manifest.id, Manifest.digest, Manifest.media_type, Repository.name, Repository.project_id)
        .join(Repository, Repository.id == Manifest.repository_id).where(Manifest.id == artifact_id)
    )).first()
    if row is None or row.project_id is None:
        return None
    tag = await conn.scalar(select(Tag.name).where(Tag.manifest_id == row.id).order_by(Tag.id).limit(1))
    return ScanTarget(row.id, row.project_id, row.name, row.digest, row.media_type, tag or "")


async def _is_scannable(conn: AsyncConnection, artifact_id: int) -> bool:
    """An image or an image index, and not an accessory (a signature or SBOM is not scanned)."""
    row = (await conn.execute(select(Manifest.type, Manifest.subject_digest).where(Manifest.id == artifact_id))).first()
    return row is not None and row.type == IMAGE and row.subject_digest is None


async def _children(conn: AsyncConnection, target: ScanTarget) -> list[ScanTarget]:
    if target.media_type not in INDEXES:
        return []
    ids = (await conn.execute(
        select(Manifest.id).join(ManifestChild, ManifestChild.child_digest == Manifest.digest)
        .where(ManifestChild.manifest_id == target.artifact_id,
               Manifest.repository_id == select(Manifest.repository_id).where(Manifest.id == target.artifact_id)
               .scalar_subquery())
    )).scalars()
    children = [await _target_by_id(conn, child) for child in ids]
    return [child for child in children if child is not None and child.media_type not in INDEXES]


async def _project_switches(conn: AsyncConnection, project_id: int) -> dict[str, str]:
    rows = await conn.execute(select(ProjectMetadata.name, ProjectMetadata.value).where(
        ProjectMetadata.project_id == project_id,
        ProjectMetadata.name.in_(("auto_scan", "auto_sbom_generation"))))
    return {name: value.lower() for name, value in rows}


async def run_scan_all(ctx: JobContext) -> str:
    """The SCAN_ALL job kind (its services are the registry)."""
    service: ScanJobService = ctx.services.scan_jobs
    return await service.run_scan_all(ctx)
