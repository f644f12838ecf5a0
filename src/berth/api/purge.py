"""Swagger tag `purge`: audit log purges, run now (schedule type Manual) or on a schedule, with their
history and logs (Harbor's src/server/v2.0/handler/purge.go). System resource `purge-audit`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.numbers import BigRowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.executions import exec_history_body, schedule_body
from berth.services.audit import PURGE_AUDIT, purge_parameter_problem
from berth.services.errors import BadRequest, NotFound
from berth.services.executions import ExecutionRecord
from berth.services.registry import Registry

router = APIRouter(tags=["purge"])


async def _history(registry: Registry, record: ExecutionRecord) -> schemas.ExecHistory:
    """One run as Harbor shows it: its parameters, and its trigger as the schedule type."""
    parameters = {k: v for k, v in record.extra_attrs.items() if k != "tick"}
    if not parameters and record.trigger == "SCHEDULE":
        schedule = await registry.schedules.get(PURGE_AUDIT, 0)
        parameters = schedule.parameters if schedule else {}
    return exec_history_body(record, PURGE_AUDIT, json.dumps(parameters))


async def _execution(registry: Registry, purge_id: int) -> ExecutionRecord:
    try:
        return await registry.executions.get_execution(purge_id, PURGE_AUDIT)
    except NotFound:
        raise NotFound(f"purge job with id {purge_id} not found") from None


@router.get("/system/purgeaudit", operation_id="getPurgeHistory", response_model=list[schemas.ExecHistory])
async def purge_history(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.ExecHistory]:
    require_system(subject, "purge-audit", "list")
    records, total = await registry.executions.list_executions(PURGE_AUDIT, 0, q=q, sort=sort, offset=paging.offset,
                                                               limit=paging.limit)
    paging.headers(request, response, total)
    return [await _history(registry, record) for record in records]


@router.get("/system/purgeaudit/schedule", operation_id="getPurgeSchedule", response_model=schemas.ExecHistory | None)
async def get_purge_schedule(registry: RegistryDep, subject: SubjectDep) -> Any:
    """The schedule as Harbor shows it (an ExecHistory whose job_kind is the cron); an empty 200 when
    there is none."""
    require_system(subject, "purge-audit", "read")
    schedule = await registry.schedules.get(PURGE_AUDIT, 0)
    if schedule is None:
        return Response(status_code=200)
    return schemas.ExecHistory(
        id=schedule.id, job_name="", job_kind=schedule.cron, job_parameters=json.dumps(schedule.parameters),
        schedule=schedule_body(schedule), job_status="", creation_time=harbor_time(schedule.creation_time),
        update_time=harbor_time(schedule.update_time),
    )


async def _kick(registry: Registry, body: schemas.SystemScheduleIn) -> int:
    """Validate as Harbor does, then run now (Manual), drop the schedule (None), store it, or, for
    an empty type, change nothing (Harbor's kick has no case for it)."""
    if body.schedule is None:
        raise BadRequest("schedule cann't be empty")
    problem = purge_parameter_problem(body.parameters)
    if problem:
        raise BadRequest(problem)
    parameters = dict(body.parameters or {})
    kind = body.schedule.type or ""
    if not kind:
        return 0
    if kind == "Manual":
        execution_id, _ = await registry.jobs.submit(PURGE_AUDIT, 0, PURGE_AUDIT, parameters, trigger="MANUAL",
                                                     extra_attrs=parameters)
        return execution_id
    if kind == "None":
        await registry.schedules.delete(PURGE_AUDIT, 0)
        return 0
    await registry.schedules.set(PURGE_AUDIT, 0, kind, body.schedule.cron, PURGE_AUDIT, parameters)
    return 0


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
    require_system(subject, "purge-audit", "read")
    return await _history(registry, await _execution(registry, purge_id))


@router.put("/system/purgeaudit/{purge_id}", operation_id="stopPurge")
async def stop_purge(registry: RegistryDep, subject: SubjectDep, purge_id: BigRowId) -> Response:
    require_system(subject, "purge-audit", "stop")
    await _execution(registry, purge_id)
    await registry.executions.stop_execution(purge_id)
    return Response(status_code=200)


@router.get("/system/purgeaudit/{purge_id}/log", operation_id="getPurgeJobLog", response_class=PlainTextResponse)
async def get_purge_log(registry: RegistryDep, subject: SubjectDep, purge_id: BigRowId) -> PlainTextResponse:
    require_system(subject, "purge-audit", "read")
    await _execution(registry, purge_id)
    return PlainTextResponse(await registry.executions.execution_log(purge_id))
