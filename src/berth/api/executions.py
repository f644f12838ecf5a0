"""Executions and tasks as Harbor's API shows them, for every feature that runs jobs (webhooks,
audit purges, later GC, scans, replication, retention)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from berth.api.deps import Paging, harbor_time, require_system
from berth.api.schemas import ExecHistory, Execution, Metrics, ScheduleObj, Task
from berth.auth.rbac import Subject
from berth.services.executions import ExecutionRecord, TaskRecord
from berth.services.registry import Registry
from berth.services.schedules import ScheduleRecord

_METRIC_FIELDS = {"Success": "success_task_count", "Error": "error_task_count", "Pending": "pending_task_count",
                  "Running": "running_task_count", "Stopped": "stopped_task_count"}


def execution_body(record: ExecutionRecord) -> Execution:
    metrics = Metrics(task_count=sum(record.metrics.values()))
    for status, count in record.metrics.items():
        if status in _METRIC_FIELDS:
            setattr(metrics, _METRIC_FIELDS[status], count)
    return Execution(
        id=record.id, vendor_type=record.vendor_type, vendor_id=record.vendor_id, status=record.status,
        status_message=record.status_message, metrics=metrics, trigger=record.trigger,
        extra_attrs=record.extra_attrs, start_time=harbor_time(record.start_time), end_time=harbor_time(record.end_time),
    )


def task_body(record: TaskRecord) -> Task:
    return Task(
        id=record.id, execution_id=record.execution_id, status=record.status, status_message=record.status_message,
        run_count=record.run_count, extra_attrs=record.extra_attrs, creation_time=harbor_time(record.creation_time),
        update_time=harbor_time(record.update_time), start_time=harbor_time(record.start_time),
        end_time=harbor_time(record.end_time),
    )


def schedule_body(record: ScheduleRecord | None) -> ScheduleObj | None:
    if record is None:
        return None
    return ScheduleObj(type=record.type, cron=record.cron, next_scheduled_time=harbor_time(record.next_scheduled_time))


def exec_history_body(record: ExecutionRecord, job_name: str, parameters: str) -> ExecHistory:
    """Harbor's ExecHistory (GC and audit purge runs): an execution seen as one job, its trigger as
    job kind (MANUAL, SCHEDULE) and, title-cased as Harbor's ToSwagger writes it, as schedule type
    (Manual, Schedule)."""
    return ExecHistory(
        id=record.id, job_name=job_name, job_kind=record.trigger, job_parameters=parameters,
        schedule=ScheduleObj(type=record.trigger.title()), job_status=record.status,
        creation_time=harbor_time(record.start_time), update_time=harbor_time(record.update_time),
    )


@dataclass(frozen=True, slots=True)
class SystemJob:
    """A system-wide job Harbor shows as ExecHistory rows with a schedule (GC, audit purge): what
    their handlers share. `parameter` picks the execution attributes that are the job's parameters."""

    vendor_type: str
    #: the RBAC system resource
    resource: str
    #: "gc", "purge": Harbor's "<noun> job with id N not found"
    noun: str
    parameter: Callable[[str], bool]

    async def history(self, registry: Registry, record: ExecutionRecord) -> ExecHistory:
        """One run as Harbor shows it: its parameters (a scheduled run's: the schedule's), its trigger."""
        parameters = {k: v for k, v in record.extra_attrs.items() if self.parameter(k)}
        if not parameters and record.trigger == "SCHEDULE":
            schedule = await registry.schedules.get(self.vendor_type, 0)
            parameters = schedule.parameters if schedule else {}
        return exec_history_body(record, self.vendor_type, json.dumps(parameters))

    async def execution(self, registry: Registry, job_id: int) -> ExecutionRecord:
        return await registry.executions.system_job(job_id, self.vendor_type, self.noun)

    async def page(
        self, request: Request, response: Response, registry: Registry, subject: Subject, paging: Paging,
        q: str | None, sort: str | None,
    ) -> list[ExecHistory]:
        require_system(subject, self.resource, "list")
        records, total = await registry.executions.list_executions(
            self.vendor_type, 0, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
        paging.headers(request, response, total)
        return [await self.history(registry, record) for record in records]

    async def schedule(self, registry: Registry, subject: Subject) -> Any:
        """The schedule as Harbor shows it (an ExecHistory whose job_kind is the cron); an empty 200
        when there is none."""
        require_system(subject, self.resource, "read")
        schedule = await registry.schedules.get(self.vendor_type, 0)
        if schedule is None:
            return Response(status_code=200)
        return ExecHistory(
            id=schedule.id, job_name="", job_kind=schedule.cron, job_parameters=json.dumps(schedule.parameters),
            schedule=schedule_body(schedule), job_status="", creation_time=harbor_time(schedule.creation_time),
            update_time=harbor_time(schedule.update_time),
        )

    async def get(self, registry: Registry, subject: Subject, job_id: int) -> ExecHistory:
        require_system(subject, self.resource, "read")
        return await self.history(registry, await self.execution(registry, job_id))

    async def stop(self, registry: Registry, subject: Subject, job_id: int) -> Response:
        require_system(subject, self.resource, "stop")
        await registry.executions.stop_system_job(job_id, self.vendor_type, self.noun)
        return Response(status_code=200)

    async def log(self, registry: Registry, subject: Subject, job_id: int) -> PlainTextResponse:
        require_system(subject, self.resource, "read")
        await self.execution(registry, job_id)
        return PlainTextResponse(await registry.executions.execution_log(job_id))
