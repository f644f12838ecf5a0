"""Swagger tag `purge`: audit log purges, run now (schedule type Manual) or on a schedule, with their
history and logs (Harbor's src/server/v2.0/handler/purge.go). System resource `purge-audit`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.numbers import BigRowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, require_system
from berth.api.executions import SystemJob
from berth.services.admin import kick_purge
from berth.services.audit import PURGE_AUDIT
from berth.services.errors import BadRequest
from berth.services.registry import Registry

router = APIRouter(tags=["purge"])
_JOB = SystemJob(PURGE_AUDIT, "purge-audit", "purge", lambda key: key != "tick")


@router.get("/system/purgeaudit", operation_id="getPurgeHistory", response_model=list[schemas.ExecHistory])
async def purge_history(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.ExecHistory]:
    return await _JOB.page(request, response, registry, subject, paging, q, sort)


@router.get("/system/purgeaudit/schedule", operation_id="getPurgeSchedule", response_model=schemas.ExecHistory | None)
async def get_purge_schedule(registry: RegistryDep, subject: SubjectDep) -> Any:
    return await _JOB.schedule(registry, subject)


async def _kick(registry: Registry, body: schemas.SystemScheduleIn) -> int:
    if body.schedule is None:
        raise BadRequest("schedule cann't be empty")
    return await kick_purge(registry, body.schedule.type or "", body.schedule.cron, body.parameters)


@router.post("/system/purgeaudit/schedule", operation_id="createPurgeSchedule", status_code=201)
async def create_purge_schedule(
    request: Request, registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    """Type Manual runs a purge now (Location names it); Hourly, Daily, Weekly and Custom store the
    schedule; None removes it."""
    require_system(subject, "purge-audit", "create")
    purge_id = await _kick(registry, schedule)
    root = request.scope.get("root_path", "")
    return Response(status_code=201, headers={"Location": f"{root}/system/purgeaudit/{purge_id}"})


@router.put("/system/purgeaudit/schedule", operation_id="updatePurgeSchedule")
async def update_purge_schedule(
    registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    require_system(subject, "purge-audit", "update")
    await _kick(registry, schedule)
    return Response(status_code=200)


@router.get("/system/purgeaudit/{purge_id}", operation_id="getPurgeJob", response_model=schemas.ExecHistory)
async def get_purge_job(registry: RegistryDep, subject: SubjectDep, purge_id: BigRowId) -> schemas.ExecHistory:
    return await _JOB.get(registry, subject, purge_id)


@router.put("/system/purgeaudit/{purge_id}", operation_id="stopPurge")
async def stop_purge(registry: RegistryDep, subject: SubjectDep, purge_id: BigRowId) -> Response:
    return await _JOB.stop(registry, subject, purge_id)


@router.get("/system/purgeaudit/{purge_id}/log", operation_id="getPurgeJobLog", response_class=PlainTextResponse)
async def get_purge_log(registry: RegistryDep, subject: SubjectDep, purge_id: BigRowId) -> PlainTextResponse:
    return await _JOB.log(registry, subject, purge_id)
