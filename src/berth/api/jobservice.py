"""/jobservice: the worker pools and their workers, job queues (pause, resume, stop pending), stopping a
running job and reading a job's log. Harbor's `jobservice-monitor` system permission guards it all."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api.deps import RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.schemas import ActionRequest, JobQueue, Worker, WorkerPool
from berth.services.errors import BadRequest, NotFound

router = APIRouter(tags=["jobservice"])

ALL = "ALL"


def _stale_after(request: Request) -> float:
    # a pool that missed three heartbeats is gone (heartbeats come every third of a lease)
    return request.app.state.settings.job_lease_seconds * 3


def _job_types(request: Request) -> list[str]:
    return request.app.state.job_types


@router.get("/jobservice/pools", response_model=list[WorkerPool], operation_id="getWorkerPools")
async def get_worker_pools(request: Request, subject: SubjectDep, registry: RegistryDep) -> list[WorkerPool]:
    require_system(subject, "jobservice-monitor", "list")
    return [
        WorkerPool(pid=p.pid, worker_pool_id=p.id, start_at=harbor_time(p.start_at),
                   heartbeat_at=harbor_time(p.heartbeat_at), concurrency=p.concurrency, host=p.host)
        for p in await registry.executions.pools(_stale_after(request))
    ]


@router.get("/jobservice/pools/{pool_id}/workers", response_model=list[Worker], response_model_exclude_none=True,
            operation_id="getWorkers")
async def get_workers(pool_id: str, request: Request, subject: SubjectDep, registry: RegistryDep) -> list[Worker]:
    require_system(subject, "jobservice-monitor", "list")
    workers = await registry.executions.workers(pool_id, _stale_after(request))
    return [
        Worker(id=w.id, pool_id=w.pool_id) if not w.job_id else Worker(
            id=w.id, pool_id=w.pool_id, job_name=w.job_name, job_id=w.job_id,
            start_at=harbor_time(w.start_at) or None, checkin_at=harbor_time(w.checkin_at) or None)
        for w in workers
    ]


@router.put("/jobservice/jobs/{job_id}", operation_id="stopRunningJob")
async def stop_running_job(job_id: str, subject: SubjectDep, registry: RegistryDep) -> Response:
    """Stop one job (its id is the task id) or, with "all", every running one; a job that is not
    running is taken as already finished (200, as in Harbor)."""
    require_system(subject, "jobservice-monitor", "stop")
    if job_id.lower() == "all":
        await registry.executions.stop_running()
    else:
        await registry.executions.stop_job(job_id)
    return Response(status_code=200)


@router.get("/jobservice/jobs/{job_id}/log", response_class=PlainTextResponse, operation_id="actionGetJobLog")
async def get_job_log(job_id: str, subject: SubjectDep, registry: RegistryDep) -> PlainTextResponse:
    require_system(subject, "jobservice-monitor", "list")
    return PlainTextResponse(await registry.executions.task_log(_task_id(job_id)))


@router.get("/jobservice/queues", response_model=list[JobQueue], operation_id="listJobQueues")
async def list_job_queues(request: Request, subject: SubjectDep, registry: RegistryDep) -> list[JobQueue]:
    require_system(subject, "jobservice-monitor", "list")
    return [JobQueue(job_type=q.job_type, count=q.count, latency=q.latency, paused=q.paused)
            for q in await registry.executions.queues(_job_types(request))]


@router.put("/jobservice/queues/{job_type}", operation_id="actionPendingJobs")
async def action_pending_jobs(
    job_type: str, body: ActionRequest, request: Request, subject: SubjectDep, registry: RegistryDep,
) -> Response:
    """stop: stop every pending job of the type; pause: workers take none of them; resume. A type
    this deployment does not run has no queue: nothing to do, 200 (Harbor answers 200 for any type)."""
    require_system(subject, "jobservice-monitor", "stop")
    action = (body.action or "").lower()
    if action not in ("stop", "pause", "resume"):
        raise BadRequest("the action is not supported")
    job_type = job_type.upper()
    known = _job_types(request)
    types = known if job_type == ALL else [job_type] if job_type in known else []
    for one in types:
        if action == "stop":
            await registry.jobs.stop_pending(one)
        else:
            await registry.jobs.set_paused(one, action == "pause")
    return Response(status_code=200)


def _task_id(job_id: str) -> int:
    if not job_id.isdigit() or len(job_id) > 18:
        raise NotFound(f"job {job_id[:64]} not found")
    return int(job_id)
