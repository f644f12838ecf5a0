"""Stored vulnerability reports: `record_report` (what a scan job calls as a scan moves on), and what
the Harbor API reads back (artifact scan overviews, the report JSON by MIME type).

A report is kept per (artifact digest, scanner registration, report MIME type), with its summary
counts in columns and its findings as rows, so overviews, the pull policy and the security hub are
SQL over indexes rather than JSON reads.
"""

from __future__ import annotations

import json
import uuid as uuids
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from berth.db.models import ScanReport, ScanSnapshot, ScanVulnerability, utcnow
from berth.db.session import Database, after_commit
from berth.events.bus import EventBus
from berth.events.types import Event
from berth.scan.model import Severity
from berth.services.errors import BadRequest

#: Harbor's vulnerability report MIME types, preferred first (the `X-Accept-Vulnerabilities` default)
REPORT_V11 = "application/vnd.security.vulnerability.report; version=1.1"
REPORT_V10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
VULNERABILITY_MIME_TYPES = (REPORT_V11, REPORT_V10)
#: the state of an SBOM generation is kept as a report of this MIME type, its JSON naming the accessory
SBOM_MIME_TYPE = "application/vnd.security.sbom.report+json; version=1.0"
#: Harbor's scan statuses
STATUSES = ("Pending", "Running", "Success", "Error", "Stopped")
_COUNT_COLUMNS = {
    Severity.CRITICAL: "critical_cnt", Severity.HIGH: "high_cnt", Severity.MEDIUM: "medium_cnt",
    Severity.LOW: "low_cnt", Severity.NEGLIGIBLE: "negligible_cnt", Severity.UNKNOWN: "unknown_cnt",
}


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    name: str = ""
    vendor: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of a report's `vulnerabilities`, as the hub and the policy read it."""

    cve_id: str
    package: str
    version: str
    fixed_version: str
    severity: Severity
    cvss_v3_score: float | None
    description: str
    links: tuple[str, ...]
    #: the report's `cwe_ids`, comma-separated, and its `vendor_attributes` as JSON ("" when none):
    #: the scan data export's "CWE Ids" and "Additional Data"
    cwe_ids: str = ""
    vendor_attributes: str = ""


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """A stored report without its JSON: Harbor's NativeReportSummary."""

    report_id: str
    digest: str
    mime_type: str
    status: str
    severity: str
    #: severity name ("Critical") -> count, only those found
    counts: dict[str, int]
    total: int
    fixable: int
    scanner: ScannerInfo
    start_time: datetime | None
    end_time: datetime | None
    created_at: datetime


def findings_of(report: Mapping[str, Any]) -> list[Finding]:
    """The findings of a Harbor vulnerability report (pure); a malformed item is a BadRequest."""
    items = report.get("vulnerabilities") or []
    if not isinstance(items, list):
        raise BadRequest("the report's vulnerabilities must be a list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise BadRequest("every vulnerability of a report needs an id")
        out.append(Finding(
            cve_id=item["id"][:128], package=str(item.get("package") or "")[:255],
            version=str(item.get("version") or "")[:255], fixed_version=str(item.get("fix_version") or "")[:255],
            severity=Severity.from_harbor(str(item.get("severity") or "")), cvss_v3_score=_cvss_v3(item),
            description=str(item.get("description") or ""),
            links=tuple(str(link) for link in item.get("links") or () if isinstance(link, str)),
            cwe_ids=",".join(cwe for cwe in _list(item.get("cwe_ids")) if isinstance(cwe, str)),
            vendor_attributes=_vendor_attributes(item.get("vendor_attributes")),
        ))
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _vendor_attributes(value: Any) -> str:
    """Vendor attributes as the export shows them: JSON text, "" when the scanner gave none."""
    if not isinstance(value, dict) or not value:
        return ""
    return json.dumps(value, sort_keys=True)


def _cvss_v3(item: Mapping[str, Any]) -> float | None:
    """The preferred CVSS v3 score, else NVD's from vendor_attributes (as Harbor falls back)."""
    preferred = item.get("preferred_cvss") or {}
    score = preferred.get("score_v3") if isinstance(preferred, dict) else None
    if score is None:
        cvss = (item.get("vendor_attributes") or {}).get("CVSS") or {}
        nvd = cvss.get("nvd") if isinstance(cvss, dict) else None
        score = nvd.get("V3Score") if isinstance(nvd, dict) else None
    return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None


def summarize(findings: Sequence[Finding]) -> dict[str, Any]:
    """The summary columns of a report with these findings (pure)."""
    values: dict[str, Any] = {column: 0 for column in _COUNT_COLUMNS.values()}
    for finding in findings:
        values[_COUNT_COLUMNS[finding.severity]] += 1
    values["total_cnt"] = len(findings)
    values["fixable_cnt"] = sum(1 for f in findings if f.fixed_version)
    highest = max((f.severity for f in findings), default=None)
    values["severity"] = highest.harbor if highest is not None else "None"  # Harbor's word for a clean report
    return values


class ScanReportService:
    def __init__(self, db: Database, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events
        #: called with an artifact digest after its reports changed (the pull policy forgets it)
        self.changed_hooks: list[Callable[[str], None]] = []

    async def record_report(
        self, *, digest: str, registration_uuid: str, mime_type: str, status: str,
        report: Mapping[str, Any] | None = None, scanner: ScannerInfo | None = None,
        start_time: datetime | None = None, end_time: datetime | None = None, job_id: str = "",
        event: Callable[[str], Event] | None = None,
    ) -> str:
        """Store the state of a scan of `digest` by a scanner for one report MIME type, replacing the
        previous one: Pending or Running as it starts, Success with the report, Error or Stopped.
        Returns the report id (a new one when the previous report was finished). `event`, given the
        report id, makes the event recorded in the same transaction (a scan that ended)."""
        if status not in STATUSES:
            raise BadRequest(f"unknown scan status {status}")
        if mime_type not in (*VULNERABILITY_MIME_TYPES, SBOM_MIME_TYPE):
            raise BadRequest(f"unsupported report MIME type {mime_type}")
        findings = findings_of(report) if report is not None else []
        scanner = scanner or ScannerInfo()
        now = utcnow()
        values: dict[str, Any] = {
            "status": status, **summarize(findings), "report": json.dumps(report) if report is not None else None,
            "scanner_name": scanner.name[:255], "scanner_vendor": scanner.vendor[:255],
            "scanner_version": scanner.version[:255], "start_time": start_time, "end_time": end_time,
            "job_id": job_id[:64], "updated_at": now,
        }
        if report is None:
            values["severity"] = ""
        key = (ScanReport.digest == digest, ScanReport.registration_uuid == registration_uuid,
               ScanReport.mime_type == mime_type)
        async with self._db.write() as conn:
            row = (await conn.execute(select(ScanReport.id, ScanReport.uuid, ScanReport.status).where(*key))).first()
            if row is None:
                report_id = str(uuids.uuid4())
                result = await conn.execute(insert(ScanReport).values(
                    uuid=report_id, digest=digest, registration_uuid=registration_uuid, mime_type=mime_type,
                    created_at=now, **values))
                row_id = result.inserted_primary_key[0]
            else:
                # a scan that starts over gets a new report id, as Harbor makes a new report per scan
                finished = row.status in ("Success", "Error", "Stopped")
                report_id = str(uuids.uuid4()) if finished and status in ("Pending", "Running") else row.uuid
                await conn.execute(update(ScanReport).where(ScanReport.id == row.id).values(uuid=report_id, **values))
                await conn.execute(delete(ScanVulnerability).where(ScanVulnerability.report_id == row.id))
                row_id = row.id
            if findings:
                await conn.execute(insert(ScanVulnerability), [_vulnerability_row(row_id, f) for f in findings])
            if status == "Success" and mime_type in VULNERABILITY_MIME_TYPES:
                await _snapshot(conn, digest, registration_uuid, values, now)
            if event is not None and self._events is not None:
                await self._events.record(conn, event(report_id))
            after_commit(conn, lambda: self._changed(digest))
        return report_id

    def _changed(self, digest: str) -> None:
        for hook in self.changed_hooks:
            hook(digest)

    async def summaries(self, digests: Iterable[str], registration_uuid: str) -> dict[str, list[ReportSummary]]:
        """Every stored report of one scanner on these digests, by digest."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        columns = [c for c in ScanReport.__table__.columns if c.key != "report"]
        async with self._db.read() as conn:
            rows = await conn.execute(select(*columns).where(
                ScanReport.digest.in_(wanted), ScanReport.registration_uuid == registration_uuid))
            out: dict[str, list[ReportSummary]] = {}
            for row in rows:
                out.setdefault(row.digest, []).append(_summary(row))
        return out

    async def job_of(self, digest: str, report_id: str) -> int | None:
        """The task that made the artifact's report `report_id` (Harbor's report uuid), None if unknown."""
        async with self._db.read() as conn:
            job_id = await conn.scalar(select(ScanReport.job_id).where(
                ScanReport.uuid == report_id, ScanReport.digest == digest))
        return int(job_id) if job_id and job_id.isdigit() else None

    async def report(self, digest: str, registration_uuid: str, mime_types: Sequence[str]) -> tuple[str, Any] | None:
        """(MIME type, report JSON) of the first of `mime_types` a finished scan stored, else None."""
        async with self._db.read() as conn:
            rows = dict((await conn.execute(
                select(ScanReport.mime_type, ScanReport.report).where(
                    ScanReport.digest == digest, ScanReport.registration_uuid == registration_uuid,
                    ScanReport.mime_type.in_(list(mime_types)), ScanReport.report.is_not(None))
            )).all())
        for mime in mime_types:
            if mime in rows:
                return mime, json.loads(rows[mime])
        return None


async def _snapshot(conn: Any, digest: str, registration_uuid: str, values: dict[str, Any], now: datetime) -> None:
    """Keep the counts of a successful report as the digest's snapshot of the day (the last one of a
    day wins): the history the security overview's trend is drawn from."""
    day = now.strftime("%Y-%m-%d")
    counts = {key: values[key] for key in (*_COUNT_COLUMNS.values(), "total_cnt", "fixable_cnt", "severity")}
    await conn.execute(delete(ScanSnapshot).where(
        ScanSnapshot.day == day, ScanSnapshot.digest == digest, ScanSnapshot.registration_uuid == registration_uuid))
    await conn.execute(insert(ScanSnapshot).values(
        day=day, digest=digest, registration_uuid=registration_uuid, recorded_at=now, **counts))


def _vulnerability_row(report_id: int, finding: Finding) -> dict[str, Any]:
    return {
        "report_id": report_id, "cve_id": finding.cve_id, "package": finding.package, "version": finding.version,
        "fixed_version": finding.fixed_version, "severity": finding.severity.harbor,
        "severity_code": int(finding.severity), "cvss_v3_score": finding.cvss_v3_score,
        "description": finding.description, "links": json.dumps(list(finding.links)),
        "cwe_ids": finding.cwe_ids, "vendor_attributes": finding.vendor_attributes,
    }


def _summary(row: Any) -> ReportSummary:
    counts = {severity.harbor: getattr(row, column) for severity, column in _COUNT_COLUMNS.items()
              if getattr(row, column)}
    return ReportSummary(
        row.uuid, row.digest, row.mime_type, row.status, row.severity, counts, row.total_cnt, row.fixable_cnt,
        ScannerInfo(row.scanner_name, row.scanner_vendor, row.scanner_version), row.start_time, row.end_time,
        row.created_at,
    )
