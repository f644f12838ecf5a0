"""Swagger tag `gc`: garbage collection runs, now (schedule type Manual) or on a schedule, their
history, logs and stop (Harbor's src/server/v2.0/handler/gc.go). System resource `garbage-collection`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.numbers import BigRowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.executions import exec_history_body, schedule_body
from berth.gc import GC, GcParametersInvalid, parse_parameters
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.executions import ExecutionRecord
from berth.services.registry import Registry

router = APIRouter(tags=["gc"])
_RESOURCE = "garbage-collection"


async def _history(registry: Registry, record: ExecutionRecord) -> schemas.ExecHistory:
    """One run as Harbor shows it: its parameters (a scheduled run's: the schedule's), its trigger."""
    parameters = {k: v for k, v in record.extra_attrs.items() if k in ("delete_untagged", "dry_run", "workers")}
    if not parameters and record.trigger == "SCHEDULE":
        schedule = await registry.schedules.get(GC, 0)
        parameters = schedule.parameters if schedule else {}
    return exec_history_body(record, GC, json.dumps(parameters))


async def _execution(registry: Registry, gc_id: int) -> ExecutionRecord:
    try:
        return await registry.executions.get_execution(gc_id, GC)
    except NotFound:
        raise NotFound(f"gc job with id {gc_id} not found") from None


@router.get("/system/gc", operation_id="getGCHistory", response_model=list[schemas.ExecHistory])
async def gc_history(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.ExecHistory]:
    require_system(subject, _RESOURCE, "list")
    records, total = await registry.executions.list_executions(GC, 0, q=q, sort=sort, offset=paging.offset,
                                                               limit=paging.limit)
    paging.headers(request, response, total)
    return [await _history(registry, record) for record in records]


@router.get("/system/gc/schedule", operation_id="getGCSchedule", response_model=schemas.ExecHistory | None)
async def get_gc_schedule(registry: RegistryDep, subject: SubjectDep) -> Any:
    """The schedule as Harbor shows it (a GCHistory whose job_kind is the cron); an empty 200 when
    there is none."""
    require_system(subject, _RESOURCE, "read")
    schedule = await registry.schedules.get(GC, 0)
    if schedule is None:
        return Response(status_code=200)
    return schemas.ExecHistory(
        id=schedule.id, job_name="", job_kind=schedule.cron, job_parameters=json.dumps(schedule.parameters),
        schedule=schedule_body(schedule), job_status="", creation_time=harbor_time(schedule.creation_time),
        update_time=harbor_time(schedule.update_time),
    )


async def _kick(registry: Registry, body: schemas.SystemScheduleIn) -> int:
    """Validate as Harbor does (nothing is stored on a refusal), then run now (Manual), drop the
    schedule (None) or store it; an empty type changes nothing."""
    if body.schedule is None:
        raise BadRequest("schedule cann't be empty")
    try:
        parameters = parse_parameters(body.parameters).as_dict()
    except GcParametersInvalid as exc:
        raise BadRequest(str(exc)) from None
    kind = body.schedule.type or ""
    if not kind:
        return 0
    if kind == "Manual":
        running, _ = await registry.executions.list_executions(GC, 0, q="status=Running", limit=1)
        if running:
            raise Conflict("a previous garbage collection job is still running")
        execution_id, _ = await registry.jobs.submit(GC, 0, GC, parameters, trigger="MANUAL", extra_attrs=parameters)
        return execution_id
    if kind == "None":
        await registry.schedules.delete(GC, 0)
        return 0
    await registry.schedules.set(GC, 0, kind, body.schedule.cron, GC, parameters)
    return 0


@router.post("/system/gc/schedule", operation_id="createGCSchedule", status_code=201)
async def create_gc_schedule(
    request: Request, registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    """Type Manual runs GC now (Location names the run); Hourly, Daily, Weekly and Custom store the
    schedule; None removes it."""
    require_system(subject, _RESOURCE, "create")
    gc_id = await _kick(registry, schedule)
    root = request.scope.get("root_path", "")
    return Response(status_code=201, headers={"Location": f"{root}/system/gc/{gc_id}"})


@router.put("/system/gc/schedule", operation_id="updateGCSchedule")
async def update_gc_schedule(
    registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    require_system(subject, _RESOURCE, "update")
    await _kick(registry, schedule)
    return Response(status_code=200)


@router.get("/system/gc/{gc_id}", operation_id="getGC", response_model=schemas.ExecHistory)
async def get_gc(registry: RegistryDep, subject: SubjectDep, gc_id: BigRowId) -> schemas.ExecHistory:
    require_system(subject, _RESOURCE, "read")
    return await _history(registry, await _execution(registry, gc_id))


@router.put("/system/gc/{gc_id}", operation_id="stopGC")
async def stop_gc(registry: RegistryDep, subject: SubjectDep, gc_id: BigRowId) -> Response:
    require_system(subject, _RESOURCE, "stop")
    await _execution(registry, gc_id)
    await registry.executions.stop_execution(gc_id)
    return Response(status_code=200)


@router.get("/system/gc/{gc_id}/log", operation_id="getGCLog", response_class=PlainTextResponse)
async def get_gc_log(registry: RegistryDep, subject: SubjectDep, gc_id: BigRowId) -> PlainTextResponse:
    require_system(subject, _RESOURCE, "read")
    await _execution(registry, gc_id)
    return PlainTextResponse(await registry.executions.execution_log(gc_id))
