"""Swagger tag `securityhub`: totals of the vulnerabilities the system default scanner found, and the
searchable list of them per artifact."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, require_system

router = APIRouter(tags=["securityhub"])
RESOURCE = "security-hub"


@router.get("/security/summary", operation_id="getSecuritySummary", response_model=schemas.SecuritySummary)
async def get_security_summary(
    registry: RegistryDep, subject: SubjectDep, with_dangerous_cve: bool = False, with_dangerous_artifact: bool = False,
) -> schemas.SecuritySummary:
    """Counts per severity over the default scanner's successful reports (an artifact in two
    repositories counts twice, as Harbor counts artifacts); the five most dangerous CVEs and artifacts."""
    require_system(subject, RESOURCE, "read")
    summary = await registry.security_hub.summary(with_dangerous_cve, with_dangerous_artifact)
    return schemas.SecuritySummary(
        critical_cnt=summary.critical, high_cnt=summary.high, medium_cnt=summary.medium, low_cnt=summary.low,
        none_cnt=summary.none, unknown_cnt=summary.unknown, total_vuls=summary.total_vulnerabilities,
        scanned_cnt=summary.scanned, total_artifact=summary.total_artifacts, fixable_cnt=summary.fixable,
        dangerous_cves=[schemas.DangerousCVE(**cve) for cve in summary.dangerous_cves] if with_dangerous_cve else None,
        dangerous_artifacts=[schemas.DangerousArtifact(**a) for a in summary.dangerous_artifacts]
        if with_dangerous_artifact else None,
    )


@router.get("/security/vul", operation_id="ListVulnerabilities", response_model=list[schemas.VulnerabilityItem])
async def list_vulnerabilities(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, tune_count: bool = False, with_tag: bool = False,
) -> list[schemas.VulnerabilityItem]:
    """`q` keys: cve_id, severity, cvss_score_v3 (a range such as [7~10]), package, project_id,
    repository_name, digest, tag. Most severe first."""
    require_system(subject, RESOURCE, "list")
    items, total = await registry.security_hub.vulnerabilities(
        q, paging.offset, paging.limit, with_tag, tune_count)
    # a tuned count above the limit is -1; the Link still offers the next page
    paging.headers(request, response, total if total >= 0 else paging.offset + paging.limit + 1)
    response.headers["X-Total-Count"] = str(total)
    return [schemas.VulnerabilityItem(**item) for item in items]
