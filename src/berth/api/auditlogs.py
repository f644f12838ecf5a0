"""Swagger tag `auditlog` (and the project's logs): the audit log in Harbor's two shapes, AuditLog
(deprecated) and AuditLogExt, both read from the one audit table.

Who sees what is Harbor's rule (src/server/v2.0/handler/auditlog.go): a system administrator (or a
robot granted `audit-log:list`) every row; any other user the rows of the projects where they hold
`log:list` (project administrators); anonymous callers nothing (401).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, project_for, require_login, require_system
from berth.auth.rbac import audit_project_ids
from berth.services.audit import EVENT_TYPES, AuditRecord

router = APIRouter(tags=["auditlog"])
project_router = APIRouter(tags=["project"])



def audit_log_body(record: AuditRecord) -> schemas.AuditLog:
    return schemas.AuditLog(id=record.id, username=record.username, resource=record.resource,
                            resource_type=record.resource_type, operation=record.operation,
                            op_time=harbor_time(record.op_time))


def audit_log_ext_body(record: AuditRecord) -> schemas.AuditLogExt:
    return schemas.AuditLogExt(
        id=record.id, username=record.username, resource=record.resource, resource_type=record.resource_type,
        operation=record.operation, operation_description=record.operation_description,
        operation_result=record.operation_result, op_time=harbor_time(record.op_time),
    )


async def _page(
    request: Request, response: Response, registry: RegistryDep, paging: PagingDep, project_ids: set[int] | None,
    q: str | None, sort: str | None,
) -> list[AuditRecord]:
    records, total = await registry.audit.list(project_ids=project_ids, q=q, sort=sort,
                                               offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return records


@router.get("/audit-logs", operation_id="listAuditLogs", response_model=list[schemas.AuditLog])
async def list_audit_logs(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.AuditLog]:
    """Deprecated shape, same rows as /auditlog-exts."""
    require_login(subject)
    records = await _page(request, response, registry, paging, audit_project_ids(subject), q, sort)
    return [audit_log_body(r) for r in records]


@router.get("/auditlog-exts", operation_id="listAuditLogExts", response_model=list[schemas.AuditLogExt])
async def list_audit_log_exts(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.AuditLogExt]:
    """Newest first; `q` keys: username, resource, resource_type, operation, op_time (a range like
    `op_time=[2024-01-01 00:00:00~2024-12-31 23:59:59]`), event_type."""
    require_login(subject)
    records = await _page(request, response, registry, paging, audit_project_ids(subject), q, sort)
    return [audit_log_ext_body(r) for r in records]


@router.get("/auditlog-exts/events", operation_id="listAuditLogEventTypes",
            response_model=list[schemas.AuditLogEventType])
async def list_event_types(subject: SubjectDep) -> list[schemas.AuditLogEventType]:
    require_system(subject, "audit-log", "list")
    return [schemas.AuditLogEventType(event_type=name) for name in EVENT_TYPES]


@project_router.get("/projects/{project_name}/logs", operation_id="getLogs", response_model=list[schemas.AuditLog])
async def project_logs(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.AuditLog]:
    project = await project_for(registry, subject, project_name, request, "log", "list")
    records = await _page(request, response, registry, paging, {project.id}, q, sort)
    return [audit_log_body(r) for r in records]


@project_router.get("/projects/{project_name}/auditlog-exts", operation_id="getLogExts",
                    response_model=list[schemas.AuditLogExt])
async def project_log_exts(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.AuditLogExt]:
    project = await project_for(registry, subject, project_name, request, "log", "list")
    records = await _page(request, response, registry, paging, {project.id}, q, sort)
    return [audit_log_ext_body(r) for r in records]
