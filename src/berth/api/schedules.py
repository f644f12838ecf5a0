"""/schedules: every cron schedule of background work, and whether the scheduler is paused
(the SCHEDULER job queue, paused and resumed through /jobservice/queues)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_login, require_system
from berth.api.schemas import ScheduleTask, SchedulerStatus
from berth.jobs.store import SCHEDULER
from berth.services.errors import BadRequest

router = APIRouter(tags=["schedule"])


@router.get("/schedules", response_model=list[ScheduleTask], operation_id="listSchedules")
async def list_schedules(
    request: Request, response: Response, subject: SubjectDep, registry: RegistryDep, paging: PagingDep,
) -> list[ScheduleTask]:
    require_system(subject, "jobservice-monitor", "list")
    records, total = await registry.schedules.list(paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [ScheduleTask(id=r.id, vendor_type=r.vendor_type, vendor_id=r.vendor_id, cron=r.cron,
                         update_time=harbor_time(r.update_time)) for r in records]


@router.get("/schedules/{job_type}/paused", response_model=SchedulerStatus, operation_id="getSchedulePaused")
async def get_schedule_paused(job_type: str, subject: SubjectDep, registry: RegistryDep) -> SchedulerStatus:
    require_login(subject)
    if job_type.lower() != "all":
        raise BadRequest("job_type can only be 'all'")
    return SchedulerStatus(paused=SCHEDULER in await registry.jobs.paused_types())
