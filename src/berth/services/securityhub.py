"""Harbor's security hub: totals over the system default scanner's successful reports, the most
dangerous CVEs and artifacts, and the searchable list of findings per artifact (aggregate SQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from datetime import date, timedelta

from sqlalchemy import Select, and_, distinct, exists, func, literal, select, tuple_

from berth.db.models import (
    Manifest,
    Repository,
    ScannerRegistration,
    ScanReport,
    ScanSnapshot,
    ScanVulnerability,
    Tag,
    utcnow,
)
from berth.db.session import Database
from berth.scan.model import Severity
from berth.query import AllOf, AnyOf, Fuzzy, Range, Value
from berth.services.errors import BadRequest
from berth.services.querying import conditions
from berth.services.artifacts import accessory_type
from berth.services.scans import VULNERABILITY_MIME_TYPES

#: the days the security overview's trend covers, and how many CVEs it lists
TREND_DAYS = 30
COMMON_CVES = 10
_SIGNATURE_TYPES = ("application/vnd.cncf.notary.signature", "application/vnd.dev.cosign.artifact.sig.v1+json")
_KNOWN_TYPES = (*_SIGNATURE_TYPES, "application/vnd.goharbor.harbor.sbom.v1")
#: the highest severities an overview counts artifacts by, worst first ("None": a clean report)
OVERVIEW_SEVERITIES = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown", "None")
#: how many dangerous CVEs and artifacts the summary lists (Harbor's)
TOP = 5
#: with tune_count, a total above this is reported as -1 (Harbor's)
TUNED_COUNT_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Summary:
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    none: int = 0
    unknown: int = 0
    total_vulnerabilities: int = 0
    fixable: int = 0
    scanned: int = 0
    total_artifacts: int = 0
    dangerous_cves: list[dict[str, Any]] = field(default_factory=list)
    dangerous_artifacts: list[dict[str, Any]] = field(default_factory=list)


def _reports(default_uuid: Any) -> Any:
    """The conditions on a report the hub counts: the default scanner's, finished successfully."""
    return and_(ScanReport.registration_uuid == default_uuid, ScanReport.status == "Success",
                ScanReport.mime_type.in_(VULNERABILITY_MIME_TYPES))


_DEFAULT = select(ScannerRegistration.uuid).where(ScannerRegistration.is_default).limit(1).scalar_subquery()


def _score(value: Value) -> Value:
    """cvss_score_v3 values as numbers (Harbor's ranges over a float column)."""
    def number(item: Any) -> Any:
        if item is None:
            return None
        try:
            return float(item)
        except (TypeError, ValueError):
            raise BadRequest(f"cvss_score_v3 takes numbers, not {item!s}") from None

    if isinstance(value, Range):
        return Range(number(value.min), number(value.max))
    if isinstance(value, AnyOf | AllOf):
        return type(value)(tuple(number(v) for v in value.values))
    if isinstance(value, Fuzzy):
        raise BadRequest("cvss_score_v3 takes numbers or ranges, not ~fuzzy matches")
    return number(value)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """The vulnerabilities of the artifacts stored now, as their scans stood at the end of `day`."""

    day: str
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    total: int = 0
    scanned: int = 0


@dataclass(frozen=True, slots=True)
class Overview:
    """A project's (or the whole registry's) security at a glance."""

    artifacts: int
    scanned: int
    #: highest severity -> how many artifacts have it as their worst (only those found)
    by_severity: dict[str, int]
    #: (CVE id, its highest severity, how many artifacts have it), most common first
    common_cves: list[tuple[str, str, int]]
    signed: int
    trend: list[TrendPoint]

    @property
    def unsigned(self) -> int:
        return self.artifacts - self.signed


class SecurityHubService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def summary(self, with_dangerous_cve: bool, with_dangerous_artifact: bool) -> Summary:
        counted = (select(ScanReport, Repository.project_id, Repository.name.label("repository_name"))
                   .join(Manifest, Manifest.digest == ScanReport.digest)
                   .join(Repository, Repository.id == Manifest.repository_id)
                   .where(_reports(_DEFAULT))).subquery()
        async with self._db.read() as conn:
            totals = (await conn.execute(select(
                func.coalesce(func.sum(counted.c.critical_cnt), 0), func.coalesce(func.sum(counted.c.high_cnt), 0),
                func.coalesce(func.sum(counted.c.medium_cnt), 0), func.coalesce(func.sum(counted.c.low_cnt), 0),
                func.coalesce(func.sum(counted.c.negligible_cnt), 0), func.coalesce(func.sum(counted.c.unknown_cnt), 0),
                func.coalesce(func.sum(counted.c.total_cnt), 0), func.coalesce(func.sum(counted.c.fixable_cnt), 0),
                func.count(),
            ))).one()
            artifacts = await conn.scalar(select(func.count()).select_from(Manifest).where(Manifest.subject_digest.is_(None)))
            cves: list[dict[str, Any]] = []
            if with_dangerous_cve:
                score = func.max(ScanVulnerability.cvss_v3_score)
                rows = await conn.execute(
                    select(ScanVulnerability.cve_id, ScanVulnerability.package, ScanVulnerability.version,
                           func.max(ScanVulnerability.severity_code).label("code"), score.label("score"),
                           func.max(ScanVulnerability.severity).label("severity"),
                           func.max(ScanVulnerability.description).label("description"))
                    .join(ScanReport, ScanReport.id == ScanVulnerability.report_id)
                    .where(_reports(_DEFAULT), ScanVulnerability.severity == "Critical")
                    .group_by(ScanVulnerability.cve_id, ScanVulnerability.package, ScanVulnerability.version)
                    .order_by(score.desc().nulls_last(), ScanVulnerability.cve_id).limit(TOP))
                cves = [{"cve_id": r.cve_id, "severity": r.severity, "cvss_score_v3": r.score or 0.0,
                         "desc": r.description, "package": r.package, "version": r.version} for r in rows]
            dangerous: list[dict[str, Any]] = []
            if with_dangerous_artifact:
                rows = await conn.execute(
                    select(counted.c.project_id, counted.c.repository_name, counted.c.digest, counted.c.critical_cnt,
                           counted.c.high_cnt, counted.c.medium_cnt)
                    .where(counted.c.critical_cnt + counted.c.high_cnt + counted.c.medium_cnt > 0)
                    .order_by(counted.c.critical_cnt.desc(), counted.c.high_cnt.desc(), counted.c.medium_cnt.desc(),
                              counted.c.repository_name, counted.c.digest).limit(TOP))
                dangerous = [{"project_id": r.project_id, "repository_name": r.repository_name, "digest": r.digest,
                              "critical_cnt": r.critical_cnt, "high_cnt": r.high_cnt, "medium_cnt": r.medium_cnt}
                             for r in rows]
        return Summary(*(int(v) for v in totals), total_artifacts=int(artifacts or 0), dangerous_cves=cves,
                       dangerous_artifacts=dangerous)

    def _vulnerability_query(self, q: str | None) -> Select:
        keys = {
            "cve_id": ScanVulnerability.cve_id, "severity": ScanVulnerability.severity,
            "cvss_score_v3": ScanVulnerability.cvss_v3_score, "package": ScanVulnerability.package,
            "project_id": Repository.project_id, "repository_name": Repository.name, "digest": Manifest.digest,
        }
        where = conditions(q, keys, {"cvss_score_v3": _score})
        tag_filters = conditions(q, {"tag": Tag.name})
        query = (select(ScanVulnerability, Repository.project_id, Repository.name.label("repository_name"),
                        Manifest.digest.label("artifact_digest"), Manifest.id.label("artifact_id"))
                 .join(ScanReport, ScanReport.id == ScanVulnerability.report_id)
                 .join(Manifest, Manifest.digest == ScanReport.digest)
                 .join(Repository, Repository.id == Manifest.repository_id)
                 .where(_reports(_DEFAULT), *where))
        if tag_filters:
            query = query.where(exists(select(literal(1)).select_from(Tag).where(
                Tag.manifest_id == Manifest.id, *tag_filters)))
        return query

    async def vulnerabilities(
        self, q: str | None, offset: int, limit: int, with_tag: bool, tune_count: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        """Findings per artifact, most severe first; `tune_count` caps the total at -1 above 1000."""
        query = self._vulnerability_query(q)
        async with self._db.read() as conn:
            if tune_count:
                capped = await conn.scalar(select(func.count()).select_from(
                    query.limit(TUNED_COUNT_LIMIT + 1).subquery())) or 0
                total = -1 if capped > TUNED_COUNT_LIMIT else capped
            else:
                total = await conn.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = (await conn.execute(
                query.order_by(ScanVulnerability.severity_code.desc(), ScanVulnerability.cvss_v3_score.desc().nulls_last(),
                               ScanVulnerability.id, Manifest.id).offset(offset).limit(limit)
            )).all()
            tags: dict[int, list[str]] = {}
            if with_tag and rows:
                for manifest_id, name in await conn.execute(
                        select(Tag.manifest_id, Tag.name).where(Tag.manifest_id.in_({r.artifact_id for r in rows}))
                        .order_by(Tag.name)):
                    tags.setdefault(manifest_id, []).append(name)
        items = []
        for row in rows:
            item = {
                "project_id": row.project_id, "repository_name": row.repository_name, "digest": row.artifact_digest,
                "cve_id": row.cve_id, "severity": row.severity, "cvss_v3_score": row.cvss_v3_score or 0.0,
                "package": row.package, "version": row.version, "fixed_version": row.fixed_version,
                "desc": row.description, "links": json.loads(row.links or "[]"),
            }
            if with_tag:
                item["tags"] = tags.get(row.artifact_id, [])
            items.append(item)
        return items, int(total)


    async def overview(self, registration_uuid: str | None, project_id: int | None,
                       today: date | None = None) -> Overview:
        """The overview of one project's artifacts (all projects' with `project_id` None) as scanned by
        `registration_uuid`: artifacts by highest severity, the most common CVEs, signature coverage
        and the trend of the last TREND_DAYS days from the daily scan snapshots."""
        scope = select(Manifest.id, Manifest.digest, Manifest.repository_id).join(
            Repository, Repository.id == Manifest.repository_id).where(Manifest.subject_digest.is_(None))
        if project_id is not None:
            scope = scope.where(Repository.project_id == project_id)
        stored = scope.subquery()
        reports = and_(ScanReport.registration_uuid == registration_uuid, ScanReport.status == "Success",
                       ScanReport.mime_type.in_(VULNERABILITY_MIME_TYPES))
        async with self._db.read() as conn:
            artifacts = int(await conn.scalar(select(func.count()).select_from(stored)) or 0)
            by_severity: dict[str, int] = {}
            common: list[tuple[str, str, int]] = []
            if registration_uuid is not None:
                for severity, count in await conn.execute(
                        select(ScanReport.severity, func.count(distinct(stored.c.id)))
                        .join(stored, stored.c.digest == ScanReport.digest).where(reports)
                        .group_by(ScanReport.severity)):
                    by_severity[severity or "None"] = by_severity.get(severity or "None", 0) + int(count)
                count = func.count(distinct(stored.c.id))
                rows = await conn.execute(
                    select(ScanVulnerability.cve_id, func.max(ScanVulnerability.severity_code).label("code"),
                           func.max(ScanVulnerability.severity).label("severity"), count.label("artifacts"))
                    .join(ScanReport, ScanReport.id == ScanVulnerability.report_id)
                    .join(stored, stored.c.digest == ScanReport.digest).where(reports)
                    .group_by(ScanVulnerability.cve_id)
                    .order_by(count.desc(), func.max(ScanVulnerability.severity_code).desc(), ScanVulnerability.cve_id)
                    .limit(COMMON_CVES))
                common = [(row.cve_id, _severity_name(row.code, row.severity), int(row.artifacts)) for row in rows]
            signed = await self._signed(conn, stored)
            trend = await self._trend(conn, registration_uuid, stored, today or utcnow().date())
        return Overview(artifacts, sum(by_severity.values()), by_severity, common, signed, trend)

    @staticmethod
    async def _signed(conn: Any, stored: Any) -> int:
        """How many of the artifacts have a signature accessory (cosign or Notation) in their repository."""
        accessory = select(Manifest.subject_digest, Manifest.repository_id, Manifest.artifact_type,
                           Manifest.content).join(
            stored, and_(stored.c.digest == Manifest.subject_digest, stored.c.repository_id == Manifest.repository_id))
        found: set[tuple[str, int]] = set()
        for row in await conn.execute(accessory.where(Manifest.artifact_type.in_(_SIGNATURE_TYPES))):
            found.add((row.subject_digest, row.repository_id))
        # cosign's tag scheme has no artifactType of its own: its simple-signing layer says what it is
        for row in await conn.execute(accessory.where(
                Manifest.artifact_type.is_(None) | Manifest.artifact_type.not_in(_KNOWN_TYPES))):
            if accessory_type(row.artifact_type, bytes(row.content)).startswith("signature."):
                found.add((row.subject_digest, row.repository_id))
        return len(found)

    @staticmethod
    async def _trend(conn: Any, registration_uuid: str | None, stored: Any, today: date) -> list[TrendPoint]:
        """Per day of the window: the sums over the artifacts stored now of their last snapshot on or
        before that day (an artifact not yet scanned by then counts nothing)."""
        days = [(today - timedelta(days=n)).isoformat() for n in range(TREND_DAYS - 1, -1, -1)]
        if registration_uuid is None:
            return [TrendPoint(day) for day in days]
        # a digest stored in several repositories is that many artifacts, as the other counts have it
        copies = dict((await conn.execute(
            select(stored.c.digest, func.count()).group_by(stored.c.digest))).all())
        digests = select(stored.c.digest)
        mine = and_(ScanSnapshot.registration_uuid == registration_uuid, ScanSnapshot.digest.in_(digests))
        before = (select(ScanSnapshot.digest, func.max(ScanSnapshot.day))
                  .where(mine, ScanSnapshot.day < days[0]).group_by(ScanSnapshot.digest))
        rows = (await conn.execute(
            select(ScanSnapshot).where(mine, (ScanSnapshot.day >= days[0])
                                       | tuple_(ScanSnapshot.digest, ScanSnapshot.day).in_(before))
            .order_by(ScanSnapshot.day))).all()
        latest: dict[str, Any] = {}
        points, index = [], 0
        for day in days:
            while index < len(rows) and rows[index].day <= day:
                latest[rows[index].digest] = rows[index]
                index += 1
            found = [(row, copies.get(row.digest, 0)) for row in latest.values()]
            points.append(TrendPoint(
                day, sum(r.critical_cnt * n for r, n in found), sum(r.high_cnt * n for r, n in found),
                sum(r.medium_cnt * n for r, n in found), sum(r.low_cnt * n for r, n in found),
                sum(r.total_cnt * n for r, n in found), sum(n for _, n in found)))
        return points


def _severity_name(code: Any, fallback: str) -> str:
    try:
        return Severity(int(code)).harbor
    except (TypeError, ValueError):
        return fallback
