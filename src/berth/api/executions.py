"""Executions and tasks as Harbor's API shows them, for every feature that runs jobs (webhooks,
audit purges, later GC, scans, replication, retention)."""

from __future__ import annotations

from berth.api.deps import harbor_time
from berth.api.schemas import ExecHistory, Execution, Metrics, ScheduleObj, Task
from berth.services.executions import ExecutionRecord, TaskRecord
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
