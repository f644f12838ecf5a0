"""The online garbage collector: reclaims what nothing references while pushes and pulls go on.

A run, in steps, each in batches of BATCH rows (or keys) so memory stays flat and a killed run leaves
only finished batches and marks behind:

1. untagged artifacts (when asked), through the artifact delete path, so accessories go with them;
2. upload sessions older than the upload expiry, with their bytes, and upload folders without one;
3. blob links (`repository_blobs`) that no manifest of their repository references, untouched for
   the grace window; the project's quota gives back what it no longer holds, in the same transaction;
4. blobs: mark (a conditional UPDATE: no link, no manifest reference, untouched for the grace window,
   so a push that touched it first wins), delete the bytes, then the row; rows marked by a run that
   was killed are finished first;
5. blob files without a row (what a crash between the storage delete and the row delete leaves, or a
   push that stored bytes and died), listed from storage a batch at a time, once older than the grace;
6. repositories left empty.

Pushes cannot link a marked blob: they wait until the row has gone, then record it anew and store
their own bytes (berth.services.uploads). So a manifest never points at a missing blob.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import aliased

from berth.db.models import (
    Blob, Manifest, ManifestBlob, ManifestChild, Repository, RepositoryBlob, Tag, Upload, utcnow,
)
from berth.db.session import Database
from berth.gc import GC, GcParameters, GcReport
from berth.jobs.kinds import JobContext, JobKind
from berth.references import parse_digest
from berth.services.artifacts import ArtifactService
from berth.services.blobs import BlobService
from berth.services.errors import ManifestUnknown, NameUnknown, NotFound, PreconditionFailed
from berth.services.quotas import QuotaService, recount_usage
from berth.services.repositories import RepositoryService
from berth.services.uploads import UploadService
from berth.storage import paths
from berth.storage.base import StorageDriver

log = structlog.get_logger("berth")

#: rows (or storage keys) handled per transaction
BATCH = 1000

#: progress: (step, done, total or None)
Progress = Callable[[str, int, int | None], None]


@dataclass
class GcTotals:
    """This process's GC counters since it started (the metrics endpoint reads them)."""

    runs: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0
    last_seconds: float = 0.0
    last_bytes: int = 0
    last_blobs: int = 0
    last_end: float = 0.0

    def record(self, status: str, report: GcReport | None) -> None:
        self.runs[status] = self.runs.get(status, 0) + 1
        if report is not None:
            if not report.dry_run:
                self.blobs += report.blobs
                self.bytes += report.bytes
            self.last_seconds, self.last_bytes, self.last_blobs = report.seconds, report.bytes, report.blobs
            self.last_end = time.time()


class GarbageCollector:
    def __init__(
        self, db: Database, storage: StorageDriver, *, repositories: RepositoryService, blobs: BlobService,
        uploads: UploadService, artifacts: ArtifactService, quotas: QuotaService,
        grace_seconds: float = 7200.0, upload_expiry_hours: float = 24.0,
    ) -> None:
        self._db = db
        self._storage = storage
        self._repositories = repositories
        self._blobs = blobs
        self._uploads = uploads
        self._artifacts = artifacts
        self._quotas = quotas
        self.grace = timedelta(seconds=grace_seconds)
        self.upload_expiry = timedelta(hours=upload_expiry_hours)
        self.totals = GcTotals()

    async def run(
        self, parameters: GcParameters, *, log_line: Callable[[str], None] = lambda _: None,
        progress: Progress | None = None,
    ) -> GcReport:
        started = time.monotonic()
        report = GcReport(dry_run=parameters.dry_run)
        cutoff = utcnow() - self.grace
        step = progress or (lambda *_: None)
        log_line(f"garbage collection started: dry_run={parameters.dry_run}, "
                 f"delete_untagged={parameters.delete_untagged}, workers={parameters.workers}, "
                 f"grace {self.grace.total_seconds():g} s")
        try:
            if parameters.delete_untagged:
                await self._untagged(parameters, cutoff, report, step)
                log_line(f"untagged artifacts: {report.artifacts}")
            await self._expired_uploads(parameters, report, step)
            log_line(f"upload sessions and folders: {report.uploads}")
            projects = await self._links(parameters, cutoff, report, step)
            log_line(f"blob links no manifest needs: {report.links}")
            await self._sweep_blobs(parameters, cutoff, report, step)
            log_line(f"blobs: {report.blobs} ({report.bytes} bytes)")
            await self._orphans(parameters, cutoff, report, step)
            log_line(f"blob files without a record: {report.orphan_files}")
            projects |= await self._empty_repositories(parameters, cutoff, report, step)
            log_line(f"empty repositories: {report.repositories}")
            if not parameters.dry_run:
                for project_id in sorted(projects):
                    async with self._db.write() as conn:
                        await recount_usage(conn, project_id)
        except BaseException:
            report.seconds = time.monotonic() - started
            self.totals.record("Error", report)
            raise
        report.seconds = time.monotonic() - started
        self.totals.record("Success", report)
        log_line(report.summary() + f" in {report.seconds:.1f} s")
        return report

    # --- 1. untagged artifacts -------------------------------------------------------------------

    async def _untagged(self, parameters: GcParameters, cutoff: datetime, report: GcReport, step: Progress) -> None:
        """Artifacts without a tag that are neither an accessory nor a child of an index (those go with
        their subject or parent), pushed before the grace window (an index's children come first);
        and accessories whose subject has gone (a run killed between the two deletes)."""
        parent, subject = aliased(Manifest), aliased(Manifest)
        is_child = exists().where(ManifestChild.child_digest == Manifest.digest, parent.id == ManifestChild.manifest_id,
                                  parent.repository_id == Manifest.repository_id)
        has_subject = exists().where(subject.repository_id == Manifest.repository_id,
                                     subject.digest == Manifest.subject_digest)
        last = 0
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(
                    select(Manifest.id, Manifest.digest, Repository.name)
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(Manifest.id > last, Manifest.created_at < cutoff,
                           Manifest.subject_digest.is_(None) | ~has_subject,
                           ~exists().where(Tag.manifest_id == Manifest.id), ~is_child)
                    .order_by(Manifest.id).limit(BATCH))).all()
            if not rows:
                return
            for row in rows:
                if parameters.dry_run:
                    report.artifacts += 1
                    continue
                try:
                    await self._artifacts.delete_unused(row.name, row.digest)
                    report.artifacts += 1
                except (NotFound, ManifestUnknown, NameUnknown, PreconditionFailed):
                    pass  # gone meanwhile (another delete, another node's run), tagged again, or now a child
            step("artifacts", report.artifacts, None)
            last = rows[-1].id

    # --- 2. uploads ------------------------------------------------------------------------------

    async def _expired_uploads(self, parameters: GcParameters, report: GcReport, step: Progress) -> None:
        cutoff = utcnow() - self.upload_expiry
        while True:
            async with self._db.read() as conn:
                ids = (await conn.execute(select(Upload.id).where(Upload.updated_at < cutoff)
                                          .order_by(Upload.id).limit(BATCH))).scalars().all()
            if parameters.dry_run:
                report.uploads += len(ids)
                break
            for upload_id in ids:
                await self._uploads.discard(upload_id)
            report.uploads += len(ids)
            step("uploads", report.uploads, None)
            if len(ids) < BATCH:
                break
        # folders no session row names (a crash, a monolithic upload that died), as old as the expiry
        batch: list[str] = []
        seen: set[str] = set()
        async for key in self._storage.list(paths.UPLOADS):
            upload_id = paths.upload_id_of(key)
            if upload_id is None or upload_id in seen:
                continue
            seen.add(upload_id)
            batch.append(upload_id)
            if len(batch) >= BATCH:
                await self._orphan_uploads(batch, cutoff, parameters, report)
                batch = []
            if len(seen) > 10 * BATCH:
                seen.clear()  # only to skip a folder's other parts; memory stays bounded
        if batch:
            await self._orphan_uploads(batch, cutoff, parameters, report)

    async def _orphan_uploads(self, ids: list[str], cutoff: datetime, parameters: GcParameters,
                              report: GcReport) -> None:
        async with self._db.read() as conn:
            known = set((await conn.execute(select(Upload.id).where(Upload.id.in_(ids)))).scalars())
        for upload_id in ids:
            if upload_id in known:
                continue
            newest = None
            async for key in self._storage.list(paths.upload_dir(upload_id)):
                when = await self._storage.modified(key)
                if when is not None and (newest is None or when > newest):
                    newest = when
            if newest is None or newest >= cutoff:
                continue
            report.uploads += 1
            if not parameters.dry_run:
                await self._storage.delete_prefix(paths.upload_dir(upload_id))

    # --- 3. blob links ---------------------------------------------------------------------------

    async def _links(self, parameters: GcParameters, cutoff: datetime, report: GcReport, step: Progress) -> set[int]:
        """Links no manifest of the repository references, untouched for the grace window. The delete
        repeats the conditions, so a push that touched the link (it locks and touches the links its
        manifest relies on) or referenced it meanwhile keeps it."""
        referenced = exists().where(ManifestBlob.digest == RepositoryBlob.digest,
                                    ManifestBlob.manifest_id == Manifest.id,
                                    Manifest.repository_id == RepositoryBlob.repository_id)
        projects: set[int] = set()
        last = (0, "")
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(
                    select(RepositoryBlob.repository_id, RepositoryBlob.digest, Repository.project_id)
                    .join(Repository, Repository.id == RepositoryBlob.repository_id)
                    .where(RepositoryBlob.linked_at < cutoff, ~referenced,
                           (RepositoryBlob.repository_id > last[0])
                           | and_(RepositoryBlob.repository_id == last[0], RepositoryBlob.digest > last[1]))
                    .order_by(RepositoryBlob.repository_id, RepositoryBlob.digest).limit(BATCH))).all()
            if not rows:
                return projects
            last = (rows[-1].repository_id, rows[-1].digest)
            if parameters.dry_run:
                report.links += len(rows)
                continue
            by_repo: dict[int, list[str]] = {}
            for row in rows:
                by_repo.setdefault(row.repository_id, []).append(row.digest)
                if row.project_id is not None:
                    projects.add(row.project_id)
            for repo_id, digests in by_repo.items():
                async with self._db.write() as conn:
                    held = await self._quotas.hold(conn, repo_id)  # the house's order: quota, then links
                    gone = (await conn.execute(
                        delete(RepositoryBlob)
                        .where(RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest.in_(digests),
                               RepositoryBlob.linked_at < cutoff, ~referenced)
                        .returning(RepositoryBlob.digest))).scalars().all()
                    if gone:
                        sizes = dict((await conn.execute(
                            select(Blob.digest, Blob.size).where(Blob.digest.in_(gone)))).all())
                        for digest in gone:
                            await self._quotas.release(conn, held, digest, int(sizes.get(digest, 0)))
                for digest in gone:
                    self._blobs.forget_link(repo_id, digest)
                report.links += len(gone)
            step("links", report.links, None)

    # --- 4. blobs --------------------------------------------------------------------------------

    @staticmethod
    def _collectable(cutoff: datetime, *, dry: bool = False):  # type: ignore[no-untyped-def]
        """No link, no manifest reference, untouched for the grace window; or already marked (a run
        killed mid-way: its marks are finished). `dry`: as it will be once step 3 has removed the links
        it removes (a blob no manifest references keeps only links touched within the window)."""
        links = exists().where(RepositoryBlob.digest == Blob.digest)
        if dry:
            links = exists().where(RepositoryBlob.digest == Blob.digest, RepositoryBlob.linked_at >= cutoff)
        unreferenced = and_(
            Blob.last_linked_at < cutoff, ~links, ~exists().where(ManifestBlob.digest == Blob.digest))
        return Blob.gc_marked_at.is_not(None) | unreferenced

    async def count_collectable(self) -> tuple[int, int]:
        """(blobs, bytes) a run would delete now (without the links and artifacts it would free first)."""
        cutoff = utcnow() - self.grace
        async with self._db.read() as conn:
            row = (await conn.execute(select(func.count(), func.coalesce(func.sum(Blob.size), 0))
                                      .where(self._collectable(cutoff, dry=True)))).one()
        return int(row[0]), int(row[1])

    async def _sweep_blobs(self, parameters: GcParameters, cutoff: datetime, report: GcReport, step: Progress) -> None:
        total, _ = await self.count_collectable()
        step("blobs", 0, total)
        done = 0
        last = ""
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(
                    select(Blob.digest, Blob.size)
                    .where(Blob.digest > last, self._collectable(cutoff, dry=parameters.dry_run))
                    .order_by(Blob.digest).limit(BATCH))).all()
            if not rows:
                return
            last = rows[-1].digest
            done += len(rows)
            if parameters.dry_run:
                report.blobs += len(rows)
                report.bytes += sum(int(row.size) for row in rows)
                step("blobs", done, max(total, done))
                continue
            mark = _unique_now()
            digests = [row.digest for row in rows]
            async with self._db.write() as conn:
                # the mark: conditional, so a push that touched (linked) a blob first keeps it. The rows
                # are locked in digest order, as pushes lock them (touch_blobs), and those a push holds
                # are skipped: it is touching them, so they are not garbage (PostgreSQL; SQLite has one
                # writer at a time)
                free = (await conn.execute(
                    select(Blob.digest).where(Blob.digest.in_(digests), self._collectable(cutoff))
                    .order_by(Blob.digest).with_for_update(skip_locked=True))).scalars().all()
                if free:
                    await conn.execute(update(Blob).where(Blob.digest.in_(free), self._collectable(cutoff))
                                       .values(gc_marked_at=mark))
            freed = await self._delete_marked(digests, mark, parameters.workers)
            report.blobs += len(freed)
            report.bytes += sum(freed.values())
            step("blobs", done, max(total, done))

    async def _delete_marked(self, digests: list[str], mark: datetime, workers: int) -> dict[str, int]:
        """Delete the bytes, then the rows, of those of `digests` that still carry this run's mark."""
        async with self._db.read() as conn:
            ours = dict((await conn.execute(select(Blob.digest, Blob.size).where(
                Blob.digest.in_(digests), Blob.gc_marked_at == mark))).all())
        if not ours:
            return {}
        await self._delete_files(list(ours), workers)
        async with self._db.write() as conn:
            gone = (await conn.execute(delete(Blob).where(Blob.digest.in_(list(ours)), Blob.gc_marked_at == mark)
                                       .returning(Blob.digest))).scalars().all()
        return {digest: int(ours[digest]) for digest in gone}

    async def _delete_files(self, digests: list[str], workers: int) -> None:
        queue = list(digests)

        async def worker() -> None:
            while queue:
                digest = queue.pop()
                await self._storage.delete(paths.blob_path(parse_digest(digest)))

        await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(queue))))))

    # --- 5. orphan files -------------------------------------------------------------------------

    async def _orphans(self, parameters: GcParameters, cutoff: datetime, report: GcReport, step: Progress) -> None:
        batch: list[str] = []
        async for key in self._storage.list(paths.BLOBS):
            digest = paths.blob_digest_of(key)
            if digest is None:
                continue
            batch.append(str(digest))
            if len(batch) >= BATCH:
                await self._orphan_batch(batch, cutoff, parameters, report)
                batch = []
        if batch:
            await self._orphan_batch(batch, cutoff, parameters, report)

    async def _orphan_batch(self, digests: list[str], cutoff: datetime, parameters: GcParameters,
                            report: GcReport) -> None:
        async with self._db.read() as conn:
            known = set((await conn.execute(select(Blob.digest).where(Blob.digest.in_(digests)))).scalars())
        for digest in digests:
            if digest in known:
                continue
            key = paths.blob_path(parse_digest(digest))
            when = await self._storage.modified(key)
            if when is None or when >= cutoff:
                continue
            if parameters.dry_run:
                report.orphan_files += 1
                continue
            # a marked row stands for the file while it goes: a push that records the digest meanwhile
            # waits for it, then stores its own bytes
            mark = _unique_now()
            async with self._db.write() as conn:
                claimed = await conn.scalar(
                    self._db.insert(Blob).values(digest=digest, size=0, created_at=mark, last_linked_at=cutoff,
                                                 gc_marked_at=mark)
                    .on_conflict_do_nothing().returning(Blob.digest))
            if claimed is None:
                continue  # a push recorded it: it is not an orphan any more
            await self._storage.delete(key)
            async with self._db.write() as conn:
                await conn.execute(delete(Blob).where(Blob.digest == digest, Blob.gc_marked_at == mark))
            report.orphan_files += 1

    # --- 6. empty repositories -------------------------------------------------------------------

    async def _empty_repositories(self, parameters: GcParameters, cutoff: datetime, report: GcReport,
                                  step: Progress) -> set[int]:
        empty = and_(
            Repository.created_at < cutoff, Repository.updated_at < cutoff,
            ~exists().where(Manifest.repository_id == Repository.id),
            ~exists().where(RepositoryBlob.repository_id == Repository.id),
            ~exists().where(Upload.repository_id == Repository.id),
        )
        projects: set[int] = set()
        last = 0
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(select(Repository.id, Repository.name, Repository.project_id)
                                           .where(Repository.id > last, empty)
                                           .order_by(Repository.id).limit(BATCH))).all()
            if not rows:
                return projects
            last = rows[-1].id
            if parameters.dry_run:
                report.repositories += len(rows)
                continue
            async with self._db.write() as conn:
                gone = set((await conn.execute(delete(Repository).where(
                    Repository.id.in_([row.id for row in rows]), empty).returning(Repository.id))).scalars())
            for row in rows:
                if row.id in gone:
                    self._repositories.forget(row.name, row.id)
                    self._blobs.forget_repository(row.id)
                    if row.project_id is not None:
                        projects.add(row.project_id)
            report.repositories += len(gone)
            step("repositories", report.repositories, None)


_last_mark = datetime.min.replace(tzinfo=UTC)


def _unique_now() -> datetime:
    """A mark no other batch of this process carries (strictly increasing microseconds)."""
    global _last_mark
    now = utcnow()
    if now <= _last_mark:
        now = _last_mark + timedelta(microseconds=1)
    _last_mark = now
    return now


async def run_gc(ctx: JobContext) -> str:
    """The GARBAGE_COLLECTION job kind."""
    from berth.gc import parse_parameters

    collector: GarbageCollector = ctx.services.gc
    report = await collector.run(parse_parameters(ctx.parameters), log_line=ctx.log)
    ctx.extra_attrs.update(report.check_in())
    return report.summary()


GC_KIND = JobKind(GC, run_gc, max_running=1)

__all__ = ["BATCH", "GC", "GC_KIND", "GarbageCollector", "GcTotals"]
