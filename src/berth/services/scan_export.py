"""Harbor's scan data export (`/export/cve`): an execution per request (vendor SCAN_DATA_EXPORT, vendor
id the user) whose one job pages through the stored findings of the selected artifacts and streams
them as CSV into blob storage (storage.paths.scan_export_path), never holding more than one page;
the download hands the file over and, as Harbor does, deletes it with its execution.

Files are kept for the retention the cleanup job is given (Harbor's system artifact cleanup: a day),
so an export nobody downloads does not stay for good.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, exists, or_, select, update

from berth.db.models import (
    ArtifactLabel,
    Execution,
    Manifest,
    ManifestChild,
    Repository,
    ScannerRegistration,
    ScanReport,
    ScanVulnerability,
    Tag,
    Task,
    utcnow,
)
from berth.db.session import Database
from berth.jobs.kinds import JobContext, JobFatal, JobKind
from berth.jobs.store import ERROR, FINAL, JobStore
from berth.scan.export import (
    DIGEST,
    JOB_NAME,
    NOTHING_FOUND,
    PROJECT_IDS,
    STATUS_MESSAGE,
    USER_NAME,
    VENDOR_TYPE,
    ArtifactFacts,
    Criteria,
    Row,
    csv_lines,
    cve_matcher,
    repository_matcher,
    select_artifacts,
)
from berth.services.errors import NotFound
from berth.services.scans import REPORT_V10, REPORT_V11
from berth.storage.base import StorageDriver
from berth.storage.paths import EXPORTS, scan_export_id, scan_export_path

log = structlog.get_logger("berth.scan")

CLEANUP = "SYSTEM_ARTIFACT_CLEANUP"
#: hourly, so a file outlives its retention by an hour at most (Harbor's runs daily)
CLEANUP_CRON = "0 0 * * * *"
#: Harbor's retention of an export's file (DefaultCleanupWindowSeconds)
DEFAULT_RETENTION_SECONDS = 86400.0
#: findings read per query, and artifacts named per query
PAGE = 1000
ARTIFACT_CHUNK = 500
#: what Harbor says of a failed export that left no message
_FAILED = "Please contact the system administrator to check the logs of jobservice."


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """An export as Harbor's ScanDataExportExecution shows it, with what access checks need."""

    id: int
    user_id: int
    user_name: str
    project_ids: tuple[int, ...]
    status: str
    status_text: str
    trigger: str
    start_time: datetime
    end_time: datetime | None
    digest: str
    file_present: bool


class ScanExportService:
    def __init__(self, db: Database, storage: StorageDriver, jobs: JobStore) -> None:
        self._db = db
        self._storage = storage
        self._jobs = jobs

    # --- the API's side ----------------------------------------------------------------------------

    async def start(self, criteria: Criteria, user_id: int, user_name: str) -> int:
        """Queue an export; returns its execution id (Harbor's job id)."""
        extra = {PROJECT_IDS: [criteria.project_id], JOB_NAME: criteria.job_name, USER_NAME: user_name}
        async with self._db.write() as conn:
            execution_id = await self._jobs.create_execution(conn, VENDOR_TYPE, user_id, "MANUAL", extra)
            await self._jobs.create_task(conn, execution_id, VENDOR_TYPE,
                                         {"execution_id": execution_id, **criteria.as_parameters()})
        self._jobs.notify()
        log.info("scan data export queued", execution=execution_id, project=criteria.project_id, user=user_name)
        return execution_id

    async def get(self, execution_id: int) -> ExportRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Execution).where(
                Execution.id == execution_id, Execution.vendor_type == VENDOR_TYPE))).first()
            if row is None:
                raise NotFound(f"execution with id: {execution_id} not found")
            messages = await self._task_messages(conn, [row.id])
        return await self._record(row, messages.get(row.id, ""))

    async def list_for(self, user_id: int, limit: int = 1000) -> list[ExportRecord]:
        """The user's exports, newest first (the daily sweep keeps 50 per user, as Harbor)."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Execution).where(
                Execution.vendor_type == VENDOR_TYPE, Execution.vendor_id == user_id)
                .order_by(Execution.id.desc()).limit(limit))).all()
            messages = await self._task_messages(conn, [row.id for row in rows])
        return [await self._record(row, messages.get(row.id, "")) for row in rows]

    def content(self, execution_id: int) -> AsyncIterator[bytes]:
        return self._storage.read(scan_export_path(execution_id))

    async def discard(self, execution_id: int) -> None:
        """Delete the file and the execution (Harbor's clean-up after a download)."""
        await self._storage.delete(scan_export_path(execution_id))
        async with self._db.write() as conn:
            await conn.execute(delete(Execution).where(
                Execution.id == execution_id, Execution.vendor_type == VENDOR_TYPE))
        log.info("scan data export downloaded and deleted", execution=execution_id)

    async def _task_messages(self, conn: Any, execution_ids: Sequence[int]) -> dict[int, str]:
        if not execution_ids:
            return {}
        rows = await conn.execute(select(Task.execution_id, Task.status_message).where(
            Task.execution_id.in_(execution_ids), Task.status == ERROR))
        return {row.execution_id: row.status_message for row in rows}

    async def _record(self, row: Any, task_message: str) -> ExportRecord:
        extra = json.loads(row.extra_attrs or "{}")
        digest = str(extra.get(DIGEST) or "")
        text = str(extra.get(STATUS_MESSAGE) or row.status_message or "")
        if row.status == ERROR and not text:
            text = task_message or _FAILED
        present = bool(digest) and await self._storage.stat(scan_export_path(row.id)) is not None
        return ExportRecord(
            row.id, row.vendor_id, str(extra.get(USER_NAME) or ""),
            tuple(int(p) for p in extra.get(PROJECT_IDS) or () if isinstance(p, int)), row.status, text,
            row.trigger, row.start_time, row.end_time, digest, present,
        )

    # --- the job -------------------------------------------------------------------------------------

    async def run(self, ctx: JobContext) -> str:
        """Write the export's CSV to storage, then note its digest (or that nothing matched) on the
        execution. A stopped or failed attempt leaves no file (the driver writes atomically)."""
        try:
            criteria = Criteria.from_parameters(ctx.parameters)
            execution_id = int(ctx.parameters["execution_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise JobFatal(f"malformed export parameters: {exc}") from None
        ctx.log(f"exporting the findings of project {criteria.project_id} (repositories {criteria.repositories!r}, "
                f"tags {criteria.tags!r}, labels {list(criteria.labels)}, CVEs {criteria.cve_ids!r})")
        digest, written = hashlib.sha256(), 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal written
            async for rows in self._rows(criteria):
                data = csv_lines(rows, header=written == 0)
                written += len(rows)
                digest.update(data)
                yield data

        key = scan_export_path(execution_id)
        size = await self._storage.write(key, chunks())
        if written == 0:
            await self._storage.delete(key)
            await self._note(execution_id, {STATUS_MESSAGE: NOTHING_FOUND})
            ctx.log(NOTHING_FOUND)
            return NOTHING_FOUND
        await self._note(execution_id, {DIGEST: f"sha256:{digest.hexdigest()}"})
        ctx.log(f"wrote {written} findings ({size} bytes)")
        return f"exported {written} findings"

    async def _note(self, execution_id: int, attrs: dict[str, Any]) -> None:
        async with self._db.write() as conn:
            current = await conn.scalar(select(Execution.extra_attrs).where(Execution.id == execution_id))
            if current is None:
                raise JobFatal(f"execution {execution_id} is gone")
            merged = {**json.loads(current or "{}"), **attrs}
            await conn.execute(update(Execution).where(Execution.id == execution_id)
                               .values(extra_attrs=json.dumps(merged)))

    async def _rows(self, criteria: Criteria) -> AsyncIterator[list[Row]]:
        """The export's rows, a page at a time: repository by repository (by name), artifact by
        artifact, each artifact's findings from every scanner's successful report (a scanner's 1.1
        report in preference to its 1.0 one)."""
        matches_repository = repository_matcher(criteria.repositories)
        matches_cve = cve_matcher(criteria.cve_ids)
        async with self._db.read() as conn:
            repositories = (await conn.execute(select(Repository.id, Repository.name).where(
                Repository.project_id == criteria.project_id).order_by(Repository.name))).all()
        for repository in repositories:
            if not matches_repository(repository.name):
                continue
            artifact_ids = sorted(await self._selected_artifacts(repository.id, criteria))
            for start in range(0, len(artifact_ids), ARTIFACT_CHUNK):
                async for page in self._findings(repository.name, artifact_ids[start:start + ARTIFACT_CHUNK]):
                    rows = [row for row in page if matches_cve(row.cve_id)]
                    if rows:
                        yield rows

    async def _selected_artifacts(self, repository_id: int, criteria: Criteria) -> set[int]:
        async with self._db.read() as conn:
            manifests = dict((await conn.execute(select(Manifest.id, Manifest.digest).where(
                Manifest.repository_id == repository_id))).all())
            tags: dict[int, list[str]] = {}
            if criteria.tags:
                for manifest_id, name in await conn.execute(select(Tag.manifest_id, Tag.name).where(
                        Tag.repository_id == repository_id)):
                    tags.setdefault(manifest_id, []).append(name)
            labels: dict[int, set[int]] = {}
            if criteria.labels:
                for manifest_id, label_id in await conn.execute(
                        select(ArtifactLabel.manifest_id, ArtifactLabel.label_id).join(
                            Manifest, Manifest.id == ArtifactLabel.manifest_id).where(
                            Manifest.repository_id == repository_id, ArtifactLabel.label_id.in_(criteria.labels))):
                    labels.setdefault(manifest_id, set()).add(label_id)
            by_digest = {digest: manifest_id for manifest_id, digest in manifests.items()}
            children: dict[int, list[int]] = {}
            for parent, child_digest in await conn.execute(
                    select(ManifestChild.manifest_id, ManifestChild.child_digest).join(
                        Manifest, Manifest.id == ManifestChild.manifest_id).where(
                        Manifest.repository_id == repository_id)):
                if child_digest in by_digest:
                    children.setdefault(parent, []).append(by_digest[child_digest])
        return select_artifacts(
            (ArtifactFacts(manifest_id, tuple(tags.get(manifest_id, ())), frozenset(labels.get(manifest_id, ())),
                           tuple(children.get(manifest_id, ()))) for manifest_id in manifests),
            criteria.tags, criteria.labels)

    async def _findings(self, repository: str, artifact_ids: list[int]) -> AsyncIterator[list[Row]]:
        """Pages of findings on these artifacts, keyset-ordered by (artifact id, finding id)."""
        newer_v11 = exists().where(
            ScanReport.mime_type == REPORT_V10,
            _OtherReport.digest == ScanReport.digest, _OtherReport.registration_uuid == ScanReport.registration_uuid,
            _OtherReport.mime_type == REPORT_V11, _OtherReport.status == "Success")
        query = (select(Manifest.id.label("artifact_id"), ScanVulnerability.id.label("finding_id"), Manifest.digest,
                        ScanVulnerability.cve_id, ScanVulnerability.package, ScanVulnerability.version,
                        ScanVulnerability.fixed_version, ScanVulnerability.severity, ScanVulnerability.cwe_ids,
                        ScanVulnerability.vendor_attributes, ScannerRegistration.name.label("scanner"))
                 .select_from(ScanVulnerability)
                 .join(ScanReport, ScanReport.id == ScanVulnerability.report_id)
                 .join(Manifest, Manifest.digest == ScanReport.digest)
                 .join(ScannerRegistration, ScannerRegistration.uuid == ScanReport.registration_uuid)
                 .where(Manifest.id.in_(artifact_ids), ScanReport.status == "Success",
                        ScanReport.mime_type.in_((REPORT_V11, REPORT_V10)), ~newer_v11)
                 .order_by(Manifest.id, ScanVulnerability.id).limit(PAGE))
        after: tuple[int, int] | None = None
        while True:
            page = query if after is None else query.where(or_(
                Manifest.id > after[0], and_(Manifest.id == after[0], ScanVulnerability.id > after[1])))
            async with self._db.read() as conn:
                rows = (await conn.execute(page)).all()
            if not rows:
                return
            yield [Row(repository, row.digest, row.cve_id, row.package, row.version, row.fixed_version, row.severity,
                       row.cwe_ids, row.vendor_attributes, row.scanner) for row in rows]
            if len(rows) < PAGE:
                return
            after = (rows[-1].artifact_id, rows[-1].finding_id)

    # --- retention ------------------------------------------------------------------------------------

    async def clean_up(self, retention_seconds: float) -> int:
        """Delete export files older than the retention (by their execution's end), and files whose
        execution is gone (swept); returns how many went."""
        cutoff = utcnow() - timedelta(seconds=retention_seconds)
        async with self._db.read() as conn:
            expired = set((await conn.execute(select(Execution.id).where(
                Execution.vendor_type == VENDOR_TYPE, Execution.status.in_(FINAL),
                Execution.end_time < cutoff))).scalars())
        stored = [(key, execution_id) async for key in self._storage.list(EXPORTS)
                  if (execution_id := scan_export_id(key)) is not None]
        async with self._db.read() as conn:
            known = set((await conn.execute(select(Execution.id).where(
                Execution.id.in_([execution_id for _, execution_id in stored])))).scalars()) if stored else set()
        removed = 0
        for key, execution_id in stored:
            if execution_id in expired or execution_id not in known:
                await self._storage.delete(key)
                removed += 1
        return removed


_OtherReport = ScanReport.__table__.alias("other_report").c


def export_job_kinds(retention_seconds: float = DEFAULT_RETENTION_SECONDS) -> list[JobKind]:
    """The export job (one attempt, as Harbor's MaxFails 1) and the hourly clean-up of old files."""

    async def run_export(ctx: JobContext) -> str:
        return await ctx.services.scan_exports.run(ctx)

    async def run_cleanup(ctx: JobContext) -> str:
        removed = await ctx.services.scan_exports.clean_up(retention_seconds)
        ctx.log(f"deleted {removed} scan data export files older than {retention_seconds:g} s or left by swept executions")
        return f"deleted {removed} files"

    return [JobKind(VENDOR_TYPE, run_export), JobKind(CLEANUP, run_cleanup)]
