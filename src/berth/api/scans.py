"""Swagger tags `scan` and `scanAll`: scan one artifact (vulnerabilities or its SBOM) and stop it;
scan every artifact now or on a schedule, stop that, and its progress (Harbor's Stats)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.executions import schedule_body
from berth.api.repositories import repository_in_project
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.admin import set_scan_all_schedule
from berth.services.registry import Registry
from berth.services.scan_jobs import SCAN_ALL, ScanAllStats, scan_type_of
from berth.services.scan_runs import stop_unfinished

router = APIRouter()
_ARTIFACT = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"


@router.post(_ARTIFACT + "/scan", operation_id="scanArtifact", status_code=202, tags=["scan"])
async def scan_artifact(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    scan_type: Annotated[schemas.ScanType | None, Body()] = None,
) -> Response:
    """Scan the artifact with its project's scanner (an index: itself and each child), or generate
    its SBOM (`{"scan_type": "sbom"}`); the scan runs as a job, its report appears in the overview."""
    kind = scan_type_of(scan_type.model_dump() if scan_type else None)
    name = await repository_in_project(registry, subject, project_name, repository_name, "scan", "create")
    artifact = await registry.artifacts.get(name, reference)
    await registry.scan_jobs.scan_artifact(name, artifact.digest, kind)
    return Response(status_code=202)


@router.post(_ARTIFACT + "/scan/stop", operation_id="stopScanArtifact", status_code=202, tags=["scan"])
async def stop_scan_artifact(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    scan_type: Annotated[schemas.ScanType, Body()],
) -> Response:
    """Stop the artifact's scan of that type: a pending one at once, a running one within a heartbeat."""
    kind = scan_type_of(scan_type.model_dump())
    name = await repository_in_project(registry, subject, project_name, repository_name, "scan", "stop")
    artifact = await registry.artifacts.get(name, reference)
    if not await stop_unfinished(registry, name, artifact.digest, kind):
        raise NotFound(f"no {kind} scan of {name}@{artifact.digest} is pending or running")
    return Response(status_code=202)


@router.get(_ARTIFACT + "/scan/{report_id}/log", operation_id="getReportLog", tags=["scan"],
            response_class=PlainTextResponse)
async def get_report_log(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str, reference: str,
    report_id: str,
) -> PlainTextResponse:
    """The log of the scan job that made the report (its `report_id` in the scan overview): what it
    scanned, what the walk skipped and why, how it ended."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "scan", "read")
    artifact = await registry.artifacts.get(name, reference)
    job = await registry.scans.job_of(artifact.digest, report_id)
    if job is None:
        raise NotFound(f"report with uuid {report_id[:100]} does not exist")
    try:
        return PlainTextResponse(await registry.executions.task_log(job))
    except NotFound:  # the job was swept (executions are kept for a while); the report outlives it
        raise NotFound(f"the log of report {report_id[:100]} is no longer kept") from None


# --- scan all ----------------------------------------------------------------------------------------


@router.get("/system/scanAll/schedule", operation_id="getScanAllSchedule", response_model=schemas.Schedule,
            tags=["scanAll"])
async def get_scan_all_schedule(registry: RegistryDep, subject: SubjectDep) -> Any:
    require_system(subject, "scan-all", "read")
    schedule = await registry.schedules.get(SCAN_ALL, 0)
    if schedule is None:
        return schemas.Schedule()
    return schemas.Schedule(id=schedule.id, status="Scheduled", creation_time=harbor_time(schedule.creation_time),
                            update_time=harbor_time(schedule.update_time), schedule=schedule_body(schedule),
                            parameters=schedule.parameters or None)


async def _set_schedule(registry: Registry, body: schemas.SystemScheduleIn) -> None:
    await set_scan_all_schedule(registry, body.schedule.type if body.schedule else None,
                                body.schedule.cron if body.schedule else None)


@router.post("/system/scanAll/schedule", operation_id="createScanAllSchedule", status_code=201, tags=["scanAll"])
async def create_scan_all_schedule(
    registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    """Type Manual scans everything now (409 while a scan-all runs); Hourly, Daily, Weekly and Custom
    store the schedule (409 when there is one: change it with PUT); None removes it."""
    require_system(subject, "scan-all", "create")
    kind = schedule.schedule.type if schedule.schedule else None
    if kind == "Manual":
        await registry.scan_jobs.scan_all("MANUAL")
    else:
        if kind not in (None, "", "None") and await registry.schedules.get(SCAN_ALL, 0) is not None:
            raise Conflict("the scan all schedule already exists: update it with PUT")
        await _set_schedule(registry, schedule)
    return Response(status_code=201, headers={"Location": "/api/v2.0/system/scanAll/schedule"})


@router.put("/system/scanAll/schedule", operation_id="updateScanAllSchedule", tags=["scanAll"])
async def update_scan_all_schedule(
    registry: RegistryDep, subject: SubjectDep, schedule: Annotated[schemas.SystemScheduleIn, Body()],
) -> Response:
    require_system(subject, "scan-all", "update")
    if schedule.schedule is not None and schedule.schedule.type == "Manual":
        raise BadRequest("fail to update scan all schedule as wrong schedule type: Manual")
    await _set_schedule(registry, schedule)
    return Response(status_code=200)


@router.post("/system/scanAll/stop", operation_id="stopScanAll", status_code=202, tags=["scanAll"])
async def stop_scan_all(registry: RegistryDep, subject: SubjectDep) -> Response:
    require_system(subject, "scan-all", "stop")
    await registry.scan_jobs.stop_scan_all()
    return Response(status_code=202)


def _stats(stats: ScanAllStats) -> schemas.Stats:
    return schemas.Stats(total=stats.total, completed=stats.completed, metrics=stats.metrics or None,
                         ongoing=stats.ongoing, trigger=stats.trigger)


@router.get("/scans/all/metrics", operation_id="getLatestScanAllMetrics", response_model=schemas.Stats,
            tags=["scanAll"])
async def scan_all_metrics(registry: RegistryDep, subject: SubjectDep) -> schemas.Stats:
    """The latest scan-all run's progress, however it was started."""
    require_system(subject, "scan-all", "read")
    return _stats(await registry.scan_jobs.scan_all_stats())


@router.get("/scans/schedule/metrics", operation_id="getLatestScheduledScanAllMetrics", response_model=schemas.Stats,
            tags=["scanAll"])
async def scheduled_scan_all_metrics(registry: RegistryDep, subject: SubjectDep) -> schemas.Stats:
    """The latest scheduled scan-all run's progress."""
    require_system(subject, "scan-all", "read")
    return _stats(await registry.scan_jobs.scan_all_stats(scheduled_only=True))
