"""Swagger tag `scan data export`: export a project's stored findings as CSV, follow the export, download
the file (Harbor's src/server/v2.0/handler/scanexport.go). Project resource `export-cve`; an export
is its user's alone: another user's is refused (403) even to a system administrator, as in Harbor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, harbor_time, require_login, require_project, visible_project
from berth.api.numbers import BigRowId
from berth.auth.rbac import Subject
from berth.scan.export import CriteriaInvalid, check_request, file_name
from berth.services.errors import BadRequest, Forbidden, NotFound
from berth.services.registry import Registry
from berth.services.scan_export import ExportRecord

router = APIRouter(tags=["scan data export"])
RESOURCE = "export-cve"


async def _require_projects(registry: Registry, subject: Subject, project_ids: tuple[int, ...], action: str) -> None:
    """The caller may `action` exports in every project of the export (Harbor checks each); a project
    deleted since names nothing to protect."""
    for project_id in project_ids:
        try:
            project = await registry.projects.get(str(project_id))
        except NotFound:
            continue
        require_project(subject, project, RESOURCE, action)


async def _own_export(registry: Registry, subject: Subject, execution_id: int) -> ExportRecord:
    require_login(subject)
    record = await registry.scan_exports.get(execution_id)
    await _require_projects(registry, subject, record.project_ids, "read")
    if subject.name != record.user_name:
        raise Forbidden("forbidden")
    return record


def _execution_body(record: ExportRecord) -> schemas.ScanDataExportExecution:
    return schemas.ScanDataExportExecution(
        id=record.id, user_id=record.user_id, status=record.status, trigger=record.trigger,
        start_time=harbor_time(record.start_time), end_time=harbor_time(record.end_time) or None,
        status_text=record.status_text, user_name=record.user_name, file_present=record.file_present,
    )


@router.post("/export/cve", operation_id="exportScanData", response_model=schemas.ScanDataExportJob)
async def export_scan_data(
    registry: RegistryDep, subject: SubjectDep, criteria: Annotated[schemas.ScanDataExportRequest, Body()],
    x_scan_data_type: Annotated[str, Header(alias="X-Scan-Data-Type")],
) -> schemas.ScanDataExportJob:
    """Queue an export of one project's findings. Filters, as Harbor reads them: `repositories` and
    `tags` are doublestar patterns (`{a,b}` for several, `**` across "/"), matched against repository
    names without their project and against tags (untagged artifacts pass a tag filter, as in Harbor);
    `cveIds` a pattern over CVE ids (also read as `cve_ids`, the name the harborapi client sends);
    `labels` keeps artifacts carrying any of the labels."""
    require_login(subject)
    try:
        wanted = check_request(
            x_scan_data_type, criteria.projects, job_name=criteria.job_name, labels=criteria.labels,
            repositories=criteria.repositories, cve_ids=criteria.cveIds if criteria.cveIds is not None else criteria.cve_ids,
            tags=criteria.tags)
    except CriteriaInvalid as exc:
        raise BadRequest(str(exc)) from None
    project = await visible_project(registry, subject, str(wanted.project_id), by_name=False)
    require_project(subject, project, RESOURCE, "create")
    if subject.kind != "user" or subject.user_id is None or subject.name is None:
        raise Forbidden(f"User : {subject.name} not found")  # Harbor: exports belong to users
    return schemas.ScanDataExportJob(id=await registry.scan_exports.start(wanted, subject.user_id, subject.name))


@router.get("/export/cve/execution/{execution_id}", operation_id="getScanDataExportExecution",
            response_model=schemas.ScanDataExportExecution)
async def get_scan_data_export_execution(
    registry: RegistryDep, subject: SubjectDep, execution_id: BigRowId,
) -> schemas.ScanDataExportExecution:
    return _execution_body(await _own_export(registry, subject, execution_id))


@router.get("/export/cve/executions", operation_id="getScanDataExportExecutionList",
            response_model=schemas.ScanDataExportExecutionList)
async def get_scan_data_export_execution_list(
    registry: RegistryDep, subject: SubjectDep,
) -> schemas.ScanDataExportExecutionList:
    """The caller's own exports, newest first; 403 if the caller may no longer read exports of one of
    their projects (Harbor's check)."""
    require_login(subject)
    records = await registry.scan_exports.list_for(subject.user_id) if subject.user_id is not None else []
    projects = tuple(dict.fromkeys(p for record in records for p in record.project_ids))
    await _require_projects(registry, subject, projects, "read")
    return schemas.ScanDataExportExecutionList(items=[_execution_body(record) for record in records])


@router.get("/export/cve/download/{execution_id}", operation_id="downloadScanData",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
                             "headers": {"Content-Disposition": {"schema": {"type": "string"}}}}})
async def download_scan_data(
    registry: RegistryDep, subject: SubjectDep, execution_id: BigRowId, format: str | None = None,
) -> Response:
    """The CSV (only format; `format` is accepted and ignored, as by Harbor). Once sent whole, the file
    and its execution are deleted, as Harbor deletes them: an export downloads once."""
    record = await _own_export(registry, subject, execution_id)
    if not record.file_present:
        raise NotFound(f"the export file of execution {execution_id} is not present")
    return StreamingResponse(
        registry.scan_exports.content(execution_id), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{file_name(execution_id)}"'},
        background=BackgroundTask(registry.scan_exports.discard, execution_id),
    )
