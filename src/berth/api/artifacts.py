"""Swagger tag `artifact` (first part): list, get and delete artifacts; list, create and delete tags;
additions, scan overviews and vulnerability reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response

from berth.api import schemas
from berth.api.numbers import Int64, RowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time
from berth.auth.rbac import Subject, is_allowed
from berth.api.labels import label_body
from berth.api.repositories import repository_in_project
from berth.icons import icon_of_accessory, icon_of_type
from berth.services.artifacts import AccessoryRecord, ArtifactRecord, ArtifactService, TagRecord
from berth.security.roles import Permission
from berth.services.labels import LabelRecord
from berth.services.scans import SBOM_MIME_TYPE, VULNERABILITY_MIME_TYPES, ReportSummary
from berth.services.trust import Signatures
from berth.query import AnyOf, QueryInvalid, parse_query
from berth.services.errors import BadRequest
from berth.services.registry import Registry
from berth.sign.model import Verdict

router = APIRouter(tags=["artifact"])
_NEVER = datetime(1, 1, 1, tzinfo=UTC)  # Harbor's pull_time for an artifact never pulled
_ARTIFACTS = "/projects/{project_name}/repositories/{repository_name}/artifacts"


def _tag(tag: TagRecord) -> schemas.Tag:
    return schemas.Tag(id=tag.id, repository_id=tag.repository_id, artifact_id=tag.artifact_id, name=tag.name,
                       push_time=harbor_time(tag.push_time), pull_time=harbor_time(tag.pull_time or _NEVER))


class Options:
    """The with_* switches of Harbor's artifact endpoints."""

    def __init__(
        self, with_tag: bool, with_label: bool, with_scan_overview: bool, with_sbom_overview: bool,
        with_immutable_status: bool, with_accessory: bool, with_inherited_accessory: bool, with_signature: bool,
    ) -> None:
        self.with_tag = with_tag
        self.with_label = with_label
        self.with_immutable_status = with_immutable_status
        self.with_accessory = with_accessory or with_signature
        self.with_scan_overview = with_scan_overview
        self.with_sbom_overview = with_sbom_overview
        self.with_inherited_accessory = with_inherited_accessory
        self.with_signature = with_signature


async def options(
    with_tag: bool = True, with_label: bool = False, with_scan_overview: bool = False,
    with_sbom_overview: bool = False, with_immutable_status: bool = False, with_accessory: bool = False,
    with_inherited_accessory: bool = False, with_signature: bool = False,
) -> Options:
    return Options(with_tag, with_label, with_scan_overview, with_sbom_overview, with_immutable_status,
                   with_accessory, with_inherited_accessory, with_signature)


OptionsDep = Annotated[Options, Depends(options)]


async def signatures_of(registry: Registry, artifacts: list[ArtifactRecord], options: Options,
                        ) -> dict[str, Signatures]:
    """Verdicts of the artifacts' signature accessories (with_accessory, with_signature), by artifact digest."""
    if not options.with_accessory:
        return {}
    return await registry.trust.signatures(artifacts)


def _verification(verdict: Verdict | None) -> schemas.SignatureVerification | None:
    if verdict is None:
        return None
    return schemas.SignatureVerification(
        verified=verdict.verified, format=verdict.format.family, signer=verdict.signer, reason=verdict.reason,
        signed_at=harbor_time(verdict.signed_at) or None, attestation=verdict.attestation)


def accessory_body(accessory: AccessoryRecord, verdicts: dict[str, Verdict]) -> schemas.Accessory:
    a = accessory
    return schemas.Accessory(
        id=a.id, artifact_id=a.artifact_id, subject_artifact_id=a.subject_artifact_id,
        subject_artifact_digest=a.subject_artifact_digest, subject_artifact_repo=a.subject_artifact_repo,
        size=a.size, digest=a.digest, type=a.type, icon=icon_of_accessory(a.type),
        creation_time=harbor_time(a.creation_time), verification=_verification(verdicts.get(a.digest)))


async def artifact_body(
    registry: Registry, artifact: ArtifactRecord, options: Options, labels: list[LabelRecord] | None = None,
    reports: list[ReportSummary] | None = None, sbom: schemas.SBOMOverview | None = None,
    signatures: Signatures | None = None,
) -> schemas.Artifact:
    verdicts = signatures.verdicts if signatures else {}
    tags = [_tag(tag) for tag in artifact.tags] if options.with_tag else None
    if tags and options.with_immutable_status:
        rules = await registry.immutability.rules_of_repository(artifact.repository_name)
        for tag in tags:
            tag.immutable = rules.immutable(artifact.repository_name, tag.name)
    if tags and options.with_signature:
        for tag in tags:
            tag.signed = signatures.signed if signatures else False
    return schemas.Artifact(
        id=artifact.id, type=artifact.type, media_type=artifact.media_type,
        manifest_media_type=artifact.manifest_media_type, artifact_type=artifact.artifact_type or None,
        project_id=artifact.project_id, repository_id=artifact.repository_id,
        repository_name=artifact.repository_name, digest=artifact.digest, size=artifact.size,
        icon=icon_of_type(artifact.type), push_time=harbor_time(artifact.push_time),
        pull_time=harbor_time(artifact.pull_time or _NEVER),
        extra_attrs=await registry.artifacts.extra_attrs(artifact), annotations=artifact.annotations,
        references=[
            schemas.Reference(parent_id=r.parent_id, child_id=r.child_id, child_digest=r.child_digest,
                              platform=schemas.Platform.model_validate(r.platform) if r.platform else None,
                              annotations=r.annotations, urls=r.urls)
            for r in artifact.references
        ] or None,
        tags=tags,
        labels=[label_body(label) for label in labels or []] if options.with_label else None,
        scan_overview={r.mime_type: overview_body(r) for r in reports or [] if r.mime_type != SBOM_MIME_TYPE} or None,
        sbom_overview=sbom,
        addition_links=_addition_links(artifact) or None,
        accessories=[accessory_body(a, verdicts) for a in artifact.accessories] if options.with_accessory else None,
    )


def _duration(report: ReportSummary) -> int:
    if report.start_time is None or report.end_time is None:
        return 0
    return int((report.end_time - report.start_time).total_seconds())


def overview_body(report: ReportSummary) -> schemas.NativeReportSummary:
    """Harbor's NativeReportSummary of a stored report (the counts once the scan succeeded)."""
    done = report.status == "Success"
    return schemas.NativeReportSummary(
        report_id=report.report_id, scan_status=report.status, severity=report.severity or None,
        duration=_duration(report), start_time=harbor_time(report.start_time) or None,
        end_time=harbor_time(report.end_time) or None, complete_percent=100 if done else 0,
        summary=schemas.VulnerabilitySummary(total=report.total, fixable=report.fixable, summary=report.counts)
        if done else None,
        scanner=schemas.Scanner(name=report.scanner.name, vendor=report.scanner.vendor, version=report.scanner.version),
    )


def sbom_overview_body(report: ReportSummary, sbom_digest: str | None) -> schemas.SBOMOverview:
    """Harbor's SBOMOverview of a stored SBOM generation."""
    return schemas.SBOMOverview(
        start_time=harbor_time(report.start_time) or None, end_time=harbor_time(report.end_time) or None,
        scan_status=report.status, sbom_digest=sbom_digest or None, report_id=report.report_id,
        duration=_duration(report),
        scanner=schemas.Scanner(name=report.scanner.name, vendor=report.scanner.vendor, version=report.scanner.version),
    )


def accepted_reports(header: str | None) -> list[str]:
    """The report MIME types `X-Accept-Vulnerabilities` names, in its order (default: both, 1.1 first)."""
    named = [part.strip() for part in (header or "").split(",") if part.strip()]
    return [m for m in VULNERABILITY_MIME_TYPES if m in named] or list(VULNERABILITY_MIME_TYPES)


async def scan_reports(
    registry: Registry, project_id: int | None, digests: list[str], mime_types: list[str],
) -> dict[str, list[ReportSummary]]:
    """The reports of the project's scanner on these digests, of the accepted MIME types."""
    registration = await registry.scanners.of_project(project_id) if project_id is not None else None
    if registration is None:
        return {}
    found = await registry.scans.summaries(digests, registration.uuid)
    return {d: [r for r in reports if r.mime_type in mime_types] for d, reports in found.items()}


def _addition_links(artifact: ArtifactRecord) -> dict[str, schemas.AdditionLink]:
    project, _, inner = artifact.repository_name.partition("/")
    base = f"/api/v2.0/projects/{project}/repositories/{quote(inner, safe='').replace('%', '%25')}" \
           f"/artifacts/{artifact.digest}/additions"
    return {name: schemas.AdditionLink(href=f"{base}/{name}") for name in ArtifactService.addition_types(artifact)}


@router.get(_ARTIFACTS, operation_id="listArtifacts", response_model=list[schemas.Artifact],
            response_model_exclude_none=True, response_model_by_alias=True)
async def list_artifacts(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, repository_name: str, options: OptionsDep, q: str | None = None, sort: str | None = None,
) -> list[schemas.Artifact]:
    """Newest first by default; `q` keys: tags (a name, ~fuzzy, {any of}, nil for untagged, * for
    tagged), digest, type, media_type, manifest_media_type, artifact_type, push_time, pull_time, size."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact", "list")
    found, total = await registry.artifacts.list(name, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    labels = await registry.labels.of_artifacts([a.id for a in found]) if options.with_label else {}
    reports = await _overviews(registry, subject, request, found, options)
    sboms = await _sbom_overviews(registry, subject, found, options)
    signatures = await signatures_of(registry, found, options)
    return [await artifact_body(registry, a, options, labels.get(a.id), reports.get(a.digest), sboms.get(a.digest),
                                signatures.get(a.digest)) for a in found]


async def _overviews(
    registry: Registry, subject: Subject, request: Request, artifacts: list[ArtifactRecord], options: Options,
) -> dict[str, list[ReportSummary]]:
    """Scan overviews when asked for and the caller may read scans (Harbor leaves them out otherwise)."""
    if not options.with_scan_overview or not artifacts:
        return {}
    project_id = artifacts[0].project_id
    project = await registry.projects.ref(artifacts[0].repository_name.partition("/")[0])
    if project is None or not is_allowed(subject, Permission("scan", "read"), project):
        return {}
    mime_types = accepted_reports(request.headers.get("x-accept-vulnerabilities"))
    return await scan_reports(registry, project_id, [a.digest for a in artifacts], mime_types)


async def _sbom_overviews(
    registry: Registry, subject: Subject, artifacts: list[ArtifactRecord], options: Options,
) -> dict[str, schemas.SBOMOverview]:
    """SBOM overviews when asked for and the caller may read scans: the state of the last SBOM
    generation by the project's scanner, with the digest of the accessory it stored."""
    if not options.with_sbom_overview or not artifacts:
        return {}
    project = await registry.projects.ref(artifacts[0].repository_name.partition("/")[0])
    if project is None or not is_allowed(subject, Permission("scan", "read"), project):
        return {}
    found = await scan_reports(registry, artifacts[0].project_id, [a.digest for a in artifacts], [SBOM_MIME_TYPE])
    registration = await registry.scanners.of_project(project.id)
    out = {}
    for digest, reports in found.items():
        for report in reports:
            stored = await registry.scans.report(digest, registration.uuid, [SBOM_MIME_TYPE]) if registration else None
            sbom_digest = stored[1].get("sbom_digest") if stored and isinstance(stored[1], dict) else None
            out[digest] = sbom_overview_body(report, sbom_digest)
    return out


@router.get(_ARTIFACTS + "/{reference}", operation_id="getArtifact", response_model=schemas.Artifact,
            response_model_exclude_none=True, response_model_by_alias=True)
async def get_artifact(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
    reference: str, options: OptionsDep, page: Int64 = 1, page_size: Int64 = 10,
) -> schemas.Artifact:
    """One artifact by tag or digest (`page`/`page_size` are accepted for Harbor's clients; they page
    nothing here)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact", "read")
    artifact = await registry.artifacts.get(name, reference)
    labels = await registry.labels.of_artifacts([artifact.id]) if options.with_label else {}
    reports = await _overviews(registry, subject, request, [artifact], options)
    sboms = await _sbom_overviews(registry, subject, [artifact], options)
    signatures = await signatures_of(registry, [artifact], options)
    return await artifact_body(registry, artifact, options, labels.get(artifact.id), reports.get(artifact.digest),
                               sboms.get(artifact.digest), signatures.get(artifact.digest))


@router.get(_ARTIFACTS + "/{reference}/accessories", operation_id="listAccessories",
            response_model=list[schemas.Accessory], response_model_exclude_none=True)
async def list_accessories(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, repository_name: str, reference: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.Accessory]:
    """The artifact's accessories, oldest first; `q` key: type (exact, or {a b} for any of them). A
    signature carries its verdict under the project's trust policy (berth's `verification`)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "accessory", "list")
    try:
        wanted = parse_query(q, ("type",)).get("type")
    except QueryInvalid as error:
        raise BadRequest(str(error)) from None
    types = {str(v) for v in wanted.values} if isinstance(wanted, AnyOf) else None if wanted is None else {str(wanted)}
    artifact = await registry.artifacts.get(name, reference)
    found = [a for a in sorted(artifact.accessories, key=lambda a: (a.creation_time, a.id))
             if types is None or a.type in types]
    paging.headers(request, response, len(found))
    signatures = await signatures_of(registry, [artifact], Options(*[False] * 5, True, False, False))
    verdicts = signatures[artifact.digest].verdicts if artifact.digest in signatures else {}
    return [accessory_body(a, verdicts) for a in found[paging.offset:paging.offset + paging.limit]]


@router.delete(_ARTIFACTS + "/{reference}", operation_id="deleteArtifact")
async def delete_artifact(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
) -> Response:
    """Deletes the artifact with its tags, accessories and untagged children; 412 while an index
    still lists it."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact", "delete")
    await registry.artifacts.delete(name, reference)
    return Response(status_code=200)


@router.get(_ARTIFACTS + "/{reference}/tags", operation_id="listTags", response_model=list[schemas.Tag])
async def list_tags(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, repository_name: str, reference: str, q: str | None = None, sort: str | None = None,
    with_immutable_status: bool = False,
) -> list[schemas.Tag]:
    """`q` keys: name, push_time; `sort` keys: name, push_time (default: oldest first)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "tag", "list")
    found, total = await registry.artifacts.tags(name, reference, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    tags = [_tag(tag) for tag in found]
    if with_immutable_status:
        rules = await registry.immutability.rules_of_repository(name)
        for tag in tags:
            tag.immutable = rules.immutable(name, tag.name)
    return tags


@router.post(_ARTIFACTS + "/{reference}/tags", operation_id="createTag", status_code=201)
async def create_tag(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
    reference: str, tag: Annotated[schemas.NewTag, Body()],
) -> Response:
    """Put a new tag on the artifact (409 when the repository already has that tag)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "tag", "create")
    await registry.artifacts.create_tag(name, reference, tag.name or "")
    location = f"{request.scope.get('root_path', '')}/projects/{project_name}/repositories/{repository_name}" \
               f"/artifacts/{reference}/tags/{tag.name}"
    return Response(status_code=201, headers={"Location": location})


@router.delete(_ARTIFACTS + "/{reference}/tags/{tag_name}", operation_id="deleteTag")
async def delete_tag(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    tag_name: str,
) -> Response:
    name = await repository_in_project(registry, subject, project_name, repository_name, "tag", "delete")
    await registry.artifacts.delete_tag(name, reference, tag_name)
    return Response(status_code=200)


@router.post(_ARTIFACTS + "/{reference}/labels", operation_id="addLabel")
async def add_label(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    label: Annotated[schemas.LabelIn, Body()],
) -> Response:
    """Attach a global label or one of this project's (409 when it is already there)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact-label", "create")
    if label.id is None:
        raise BadRequest("the label id is required")
    artifact = await registry.artifacts.get(name, reference)
    await registry.labels.attach(artifact.id, label.id)
    return Response(status_code=200)


@router.delete(_ARTIFACTS + "/{reference}/labels/{label_id}", operation_id="removeLabel")
async def remove_label(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    label_id: RowId,
) -> Response:
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact-label", "delete")
    artifact = await registry.artifacts.get(name, reference)
    await registry.labels.detach(artifact.id, label_id)
    return Response(status_code=200)


def _parse_from(value: str) -> tuple[str, str]:
    """Harbor's `from`: project/repository:tag or project/repository@digest."""
    if "@" in value:
        repository, _, reference = value.partition("@")
    else:
        repository, sep, reference = value.rpartition(":")
        if not sep:
            repository, reference = "", ""
    if "/" not in repository or not reference:
        raise BadRequest(f"invalid from {value[:300]!r}: project/repository:tag or project/repository@digest")
    return repository, reference


@router.post(_ARTIFACTS, operation_id="CopyArtifact", status_code=201)
async def copy_artifact(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
    from_: Annotated[str, Query(alias="from")],
) -> Response:
    """Copy an artifact here from a repository the caller may read (push rights here needed)."""
    target = await repository_in_project(registry, subject, project_name, repository_name, "artifact", "create")
    source, reference = _parse_from(from_)
    source_project, _, inner = source.partition("/")
    source = await repository_in_project(registry, subject, source_project, inner, "artifact", "read")
    digest = await registry.artifacts.copy(source, reference, target)
    location = f"{request.scope.get('root_path', '')}/projects/{project_name}/repositories/{repository_name}/artifacts/{digest}"
    return Response(status_code=201, headers={"Location": location})


@router.get(_ARTIFACTS + "/{reference}/additions/vulnerabilities", operation_id="getVulnerabilitiesAddition",
            response_class=Response, responses={200: {"content": {"application/json": {"schema": {"type": "string"}}}}})
async def get_vulnerabilities_addition(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
    reference: str,
) -> Response:
    """The project scanner's report on the artifact, keyed by its MIME type: the first of
    `X-Accept-Vulnerabilities` stored ({} before a scan succeeded)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact-addition", "read")
    artifact = await registry.artifacts.get(name, reference)
    registration = await registry.scanners.of_project(artifact.project_id) if artifact.project_id else None
    found = None
    if registration is not None:
        mime_types = accepted_reports(request.headers.get("x-accept-vulnerabilities"))
        found = await registry.scans.report(artifact.digest, registration.uuid, mime_types)
    body = {found[0]: found[1]} if found else {}
    return Response(orjson.dumps(body), 200, media_type="application/json")


@router.get(_ARTIFACTS + "/{reference}/additions/{addition}", operation_id="getAddition",
            response_class=Response, responses={200: {"content": {"application/json": {"schema": {"type": "string"}}}}})
async def get_addition(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    addition: str,
) -> Response:
    """An image's `build_history`, or a chart's `values.yaml`, `readme.md` and `dependencies`."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "artifact-addition", "read")
    artifact = await registry.artifacts.get(name, reference)
    content_type, body = await registry.artifacts.addition(artifact, addition)
    return Response(body, 200, media_type=content_type)
