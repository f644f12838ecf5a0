"""Harbor's security hub: totals over the system default scanner's successful reports, the most
dangerous CVEs and artifacts, and the searchable list of findings per artifact (aggregate SQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, select

from berth.db.models import Manifest, Repository, ScannerRegistration, ScanReport, ScanVulnerability, Tag
from berth.db.session import Database
from berth.query import AllOf, AnyOf, Fuzzy, Range, Value
from berth.services.errors import BadRequest
from berth.services.querying import conditions
from berth.services.scans import VULNERABILITY_MIME_TYPES

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

