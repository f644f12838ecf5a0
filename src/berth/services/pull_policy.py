"""The inputs of the vulnerability pull policy, kept in memory for the manifest hot path, and the
verdict (berth.scan.policy decides).

A pull in a project without `prevent_vul` costs one cached lookup. With it, the artifact's scan state
and the allowlists are cached too. This process forgets an entry when it changes it (a report, an
allowlist, project metadata, a scanner); changes made by other processes (the scan worker, other
nodes) arrive within POLICY_CACHE_SECONDS.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import CveAllowlist, Manifest, ProjectMetadata, Repository, ScanReport, ScanVulnerability
from berth.db.session import Database
from berth.mediatypes import DOCKER_MANIFEST_LIST, OCI_INDEX
from berth.scan.model import Severity
from berth.scan.policy import Allowlist, ArtifactState, ProjectPolicy, Report, Verdict, pull_verdict
from berth.services.artifacts import accessory_type
from berth.services.cache import LruCache
from berth.services.scanners import effective_registration
from berth.services.scans import VULNERABILITY_MIME_TYPES

#: how long this process trusts what it read (another process may have changed it meanwhile)
POLICY_CACHE_SECONDS = 5.0
_SYSTEM = "system"


class PullPolicyService:
    def __init__(self, db: Database, grace: float | None = None, ttl: float = POLICY_CACHE_SECONDS) -> None:
        self._db = db
        self._grace = grace
        #: project id -> (its settings, its scanner's registration uuid)
        self._projects: LruCache[int, tuple[ProjectPolicy, str | None]] = LruCache(20_000, ttl=ttl)
        self._system: LruCache[str, Allowlist] = LruCache(1, ttl=ttl)
        #: (repository, digest, registration uuid) -> state; weighed by findings, which can be many
        self._artifacts: LruCache[tuple[str, str, str | None], ArtifactState] = LruCache(
            50_000, max_weight=2_000_000, weigh=lambda s: 1 + (len(s.report.findings) if s and s.report else 0),
            ttl=ttl)

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"pull_policy_projects": self._projects, "pull_policy_artifacts": self._artifacts}

    async def verdict(self, project_id: int, repository: str, digest: str) -> Verdict:
        """May `digest` in `repository` be pulled? (Who bypasses the policy is the caller's question.)"""
        project, scanner = await self._project(project_id)
        if not project.prevent_vul:
            return pull_verdict(project, _NOTHING, _NO_ALLOWLIST, 0.0)
        artifact = await self._artifact(repository, digest, scanner)
        if artifact is None:  # deleted meanwhile: the manifest handler answers for it
            return pull_verdict(ProjectPolicy(), _NOTHING, _NO_ALLOWLIST, 0.0)
        return pull_verdict(project, artifact, await self._system_allowlist(), time.time(), self._grace)

    # --- what changes forget ------------------------------------------------------------------------

    def forget_projects(self) -> None:
        self._projects.clear()

    def forget_system_allowlist(self) -> None:
        self._system.clear()

    def forget_artifact(self, digest: str) -> None:
        self._artifacts.discard_where(lambda key: key[1] == digest)

    def forget_scanners(self) -> None:
        self._projects.clear()
        self._artifacts.clear()

    # --- loading ------------------------------------------------------------------------------------

    async def _project(self, project_id: int) -> tuple[ProjectPolicy, str | None]:
        cached = self._projects.get(project_id)
        if cached is not None:
            return cached
        version = self._projects.version
        async with self._db.read() as conn:
            meta = dict((await conn.execute(
                select(ProjectMetadata.name, ProjectMetadata.value).where(
                    ProjectMetadata.project_id == project_id,
                    ProjectMetadata.name.in_(("prevent_vul", "severity", "reuse_sys_cve_allowlist")))
            )).all())
            policy = ProjectPolicy(prevent_vul=meta.get("prevent_vul", "").lower() in ("true", "1"))
            scanner = None
            if policy.prevent_vul:
                registration = await effective_registration(conn, project_id)
                scanner = registration.uuid if registration else None
                policy = ProjectPolicy(
                    prevent_vul=True, severity=meta.get("severity", ""),
                    reuse_system_allowlist=meta.get("reuse_sys_cve_allowlist", "true").lower() != "false",
                    allowlist=await _allowlist(conn, CveAllowlist.project_id == project_id),
                    has_scanner=registration is not None,
                )
        self._projects.put(project_id, (policy, scanner), if_version=version)
        return policy, scanner

    async def _system_allowlist(self) -> Allowlist:
        cached = self._system.get(_SYSTEM)
        if cached is not None:
            return cached
        version = self._system.version
        async with self._db.read() as conn:
            allowlist = await _allowlist(conn, CveAllowlist.project_id.is_(None))
        self._system.put(_SYSTEM, allowlist, if_version=version)
        return allowlist

    async def _artifact(self, repository: str, digest: str, scanner: str | None) -> ArtifactState | None:
        key = (repository, digest, scanner)
        cached = self._artifacts.get(key)
        if cached is not None:
            return cached
        version = self._artifacts.version
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(Manifest.media_type, Manifest.type, Manifest.created_at, Manifest.artifact_type,
                       Manifest.subject_digest, Manifest.content)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.name == repository, Manifest.digest == digest)
            )).first()
            if row is None:
                return None
            state = ArtifactState(
                type=row.type, is_index=row.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST),
                pushed_at=_ts(row.created_at),
                is_signature=accessory_type(row.artifact_type, bytes(row.content)).startswith("signature."),
                report=await _report(conn, digest, scanner) if scanner else None,
            )
        self._artifacts.put(key, state, if_version=version)
        return state


#: what a verdict needs when the policy is off (it reads nothing of the artifact, nor the time)
_NOTHING = ArtifactState(type="", is_index=False, pushed_at=0.0)
_NO_ALLOWLIST = Allowlist()


async def _allowlist(conn: AsyncConnection, where: Any) -> Allowlist:
    row = (await conn.execute(
        select(CveAllowlist.items, CveAllowlist.expires_at).where(where).order_by(CveAllowlist.id).limit(1)
    )).first()
    if row is None:
        return Allowlist()
    return Allowlist(frozenset(json.loads(row.items or "[]")), row.expires_at)


async def _report(conn: AsyncConnection, digest: str, scanner: str) -> Report | None:
    """The scanner's report on `digest` in the preferred MIME type, with its findings."""
    rows = {row.mime_type: row for row in await conn.execute(
        select(ScanReport.id, ScanReport.mime_type, ScanReport.status, ScanReport.start_time, ScanReport.created_at)
        .where(and_(ScanReport.digest == digest, ScanReport.registration_uuid == scanner,
                    ScanReport.mime_type.in_(VULNERABILITY_MIME_TYPES)))
    )}
    row = next((rows[mime] for mime in VULNERABILITY_MIME_TYPES if mime in rows), None)
    if row is None:
        return None
    findings = (await conn.execute(
        select(ScanVulnerability.cve_id, ScanVulnerability.severity_code).where(ScanVulnerability.report_id == row.id)
    )).all()
    return Report(
        status=row.status, started_at=_ts(row.start_time or row.created_at),
        findings=tuple((cve, Severity(code)) for cve, code in findings),
    )


def _ts(value: datetime) -> float:
    # SQLite hands back naive datetimes; berth stores UTC
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
