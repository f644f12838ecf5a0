"""The adapter's scan requests in berth's database: accepted, running, finished with their rendered
reports, or failed; deleted once older than the adapter keeps them. The registry credential never
comes here: a row only says whether the request had one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, insert, select, update

from berth.db.models import ScannerReport, ScannerScan, utcnow
from berth.db.session import Database
from berth.scan.mimes import VULNERABILITY_REPORTS, Wanted
from berth.scan.request import ScanRequest

QUEUED, RUNNING, FINISHED, FAILED = "queued", "running", "finished", "failed"
UNFINISHED = (QUEUED, RUNNING)


@dataclass(frozen=True, slots=True)
class Scan:
    """A stored scan request (without its credential) and where it stands."""

    id: str
    request: ScanRequest
    had_authorization: bool
    state: str
    error: str
    updated_at: datetime


class ScanStore:
    """Rows of `scanner_scans` and `scanner_reports`. `ttl`: how long a scan is kept after its last change."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    async def add(self, request: ScanRequest) -> str:
        scan_id = str(uuid.uuid4())
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(insert(ScannerScan).values(
                id=scan_id, registry_url=request.registry_url, repository=request.repository,
                digest=request.digest, tag=request.tag, mime_type=request.mime_type,
                produces=orjson.dumps(request.reports).decode(), had_authorization=request.authorization is not None,
                state=QUEUED, error="", created_at=now, updated_at=now,
            ))
        return scan_id

    async def get(self, scan_id: str) -> Scan | None:
        """The scan, None when unknown or expired (a row the purge has not reached yet counts as gone)."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(ScannerScan).where(ScannerScan.id == scan_id))).first()
        if row is None or _aware(row.updated_at) < utcnow() - self.ttl:
            return None
        return _scan(row)

    async def unfinished(self) -> list[Scan]:
        """Scans queued or running, oldest first: what a restarted adapter has to run again."""
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(ScannerScan).where(ScannerScan.state.in_(UNFINISHED)).order_by(ScannerScan.created_at)
            )).all()
        return [_scan(row) for row in rows]

    async def start(self, scan_id: str) -> None:
        await self._set(scan_id, RUNNING, "")

    async def fail(self, scan_id: str, message: str) -> None:
        await self._set(scan_id, FAILED, message)

    async def finish(self, scan_id: str, reports: dict[Wanted, str]) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(ScannerReport).where(ScannerReport.scan_id == scan_id))
            if reports:
                await conn.execute(insert(ScannerReport), [
                    {"scan_id": scan_id, "media_type": mime, "sbom_media_type": sbom or "", "body": body}
                    for (mime, sbom), body in reports.items()
                ])
            await conn.execute(update(ScannerScan).where(ScannerScan.id == scan_id)
                               .values(state=FINISHED, error="", updated_at=utcnow()))

    async def report(self, scan_id: str, wanted: Wanted) -> str | None:
        """A finished scan's report; the two vulnerability MIMEs share one body, so either answers for the other."""
        mime, sbom = wanted
        mimes = VULNERABILITY_REPORTS if mime in VULNERABILITY_REPORTS else (mime,)
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(ScannerReport.media_type, ScannerReport.body).where(
                    ScannerReport.scan_id == scan_id, ScannerReport.media_type.in_(mimes),
                    ScannerReport.sbom_media_type == (sbom or ""),
                )
            )).all()
        bodies = {row.media_type: row.body for row in rows}
        return bodies.get(mime) or next(iter(bodies.values()), None)

    async def purge_expired(self) -> int:
        """Delete scans (and their reports) unchanged for longer than the TTL; returns how many."""
        async with self.db.write() as conn:
            expired = delete(ScannerScan).where(ScannerScan.updated_at < utcnow() - self.ttl)
            return (await conn.execute(expired)).rowcount or 0

    async def _set(self, scan_id: str, state: str, error: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(ScannerScan).where(ScannerScan.id == scan_id)
                               .values(state=state, error=error, updated_at=utcnow()))


def _scan(row) -> Scan:  # type: ignore[no-untyped-def]
    request = ScanRequest(
        registry_url=row.registry_url, repository=row.repository, digest=row.digest, tag=row.tag,
        mime_type=row.mime_type, reports=tuple((mime, sbom) for mime, sbom in orjson.loads(row.produces)),
    )
    return Scan(row.id, request, row.had_authorization, row.state, row.error, _aware(row.updated_at))


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
