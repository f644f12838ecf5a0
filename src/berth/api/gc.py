"""Swagger tag `gc`: garbage collection runs, now (schedule type Manual) or on a schedule, their
history, logs and stop (Harbor's src/server/v2.0/handler/gc.go). System resource `garbage-collection`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.numbers import BigRowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, require_system
from berth.api.executions import SystemJob
from berth.gc import GC
from berth.services.admin import kick_gc
from berth.services.errors import BadRequest
from berth.services.registry import Registry

router = APIRouter(tags=["gc"])
_RESOURCE = "garbage-collection"
_JOB = SystemJob(GC, _RESOURCE, "gc", lambda key: key in ("delete_untagged", "dry_run", "workers"))


@router.get("/system/gc", operation_id="getGCHistory", response_model=list[schemas.ExecHistory])
async def gc_history(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.ExecHistory]:
    return await _JOB.page(request, response, registry, subject, paging, q, sort)


@router.get("/system/gc/schedule", operation_id="getGCSchedule", response_model=schemas.ExecHistory | None)
async def get_gc_schedule(registry: RegistryDep, subject: SubjectDep) -> Any:
    return await _JOB.schedule(registry, subject)


async def _kick(registry: Registry, body: schemas.SystemScheduleIn) -> int:
    if body.schedule is None:
        raise BadRequest("schedule cann't be empty")
    return await kick_gc(registry, body.schedule.type or "", body.schedule.cron, body.parameters)


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
    return await _JOB.get(registry, subject, gc_id)


@router.put("/system/gc/{gc_id}", operation_id="stopGC")
async def stop_gc(registry: RegistryDep, subject: SubjectDep, gc_id: BigRowId) -> Response:
    return await _JOB.stop(registry, subject, gc_id)


@router.get("/system/gc/{gc_id}/log", operation_id="getGCLog", response_class=PlainTextResponse)
async def get_gc_log(registry: RegistryDep, subject: SubjectDep, gc_id: BigRowId) -> PlainTextResponse:
    return await _JOB.log(registry, subject, gc_id)
