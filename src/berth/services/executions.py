"""Job history as Harbor's API shows it: executions with their tasks, task logs, and the state of the
job service (queues, worker pools and their workers)."""

from __future__ import annotations

import contextlib

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from berth.db.models import Execution, JobQueue, Task, TaskLog, WorkerPool, utcnow
from berth.db.session import Database
from berth.jobs.store import FINAL, PENDING, RUNNING, JobStore
from berth.services.errors import NotFound
from berth.services.querying import conditions, orderings


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: int
    vendor_type: str
    vendor_id: int
    status: str
    status_message: str
    trigger: str
    extra_attrs: dict[str, Any]
    start_time: datetime
    end_time: datetime | None
    update_time: datetime
    #: task status -> count
    metrics: dict[str, int]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    execution_id: int
    kind: str
    status: str
    status_message: str
    run_count: int
    extra_attrs: dict[str, Any]
    creation_time: datetime
    update_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    lease_owner: str | None


@dataclass(frozen=True, slots=True)
class QueueRecord:
    job_type: str
    count: int
    latency: int
    paused: bool


@dataclass(frozen=True, slots=True)
class PoolRecord:
    id: str
    pid: int
    host: str
    concurrency: int
    start_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    id: str
    pool_id: str
    job_name: str
    job_id: str
    start_at: datetime | None
    checkin_at: datetime | None


_EXECUTION_KEYS = {"id": Execution.id, "status": Execution.status, "trigger": Execution.trigger,
                   "start_time": Execution.start_time, "end_time": Execution.end_time,
                   "vendor_type": Execution.vendor_type, "vendor_id": Execution.vendor_id}
_TASK_KEYS = {"id": Task.id, "status": Task.status, "creation_time": Task.creation_time,
              "start_time": Task.start_time, "end_time": Task.end_time, "run_count": Task.run_count}


class ExecutionService:
    def __init__(self, db: Database, jobs: JobStore) -> None:
        self._db = db
        self._jobs = jobs

    async def list_executions(
        self, vendor_type: str | Collection[str], vendor_id: int | None = None, *, q: str | None = None,
        sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[ExecutionRecord], int]:
        types = [vendor_type] if isinstance(vendor_type, str) else list(vendor_type)
        query = select(Execution).where(Execution.vendor_type.in_(types), *conditions(q, _EXECUTION_KEYS))
        if vendor_id is not None:
            query = query.where(Execution.vendor_id == vendor_id)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(
                *orderings(sort, _EXECUTION_KEYS, [Execution.id.desc()])).offset(offset).limit(limit))).all()
            metrics = await self._metrics(conn, [row.id for row in rows])
        return [_execution(row, metrics.get(row.id, {})) for row in rows], total

    async def get_execution(self, execution_id: int, vendor_type: str | Collection[str] | None = None) -> ExecutionRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Execution).where(Execution.id == execution_id))).first()
            types = [vendor_type] if isinstance(vendor_type, str) else vendor_type
            if row is None or (types is not None and row.vendor_type not in types):
                raise NotFound(f"execution {execution_id} not found")
            metrics = await self._metrics(conn, [row.id])
        return _execution(row, metrics.get(row.id, {}))

    async def list_tasks(
        self, execution_id: int, *, q: str | None = None, sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[TaskRecord], int]:
        query = select(Task).where(Task.execution_id == execution_id, *conditions(q, _TASK_KEYS))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(
                *orderings(sort, _TASK_KEYS, [Task.id])).offset(offset).limit(limit))).all()
        return [_task(row) for row in rows], total

    async def get_task(self, task_id: int, execution_id: int | None = None) -> TaskRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Task).where(Task.id == task_id))).first()
        if row is None or (execution_id is not None and row.execution_id != execution_id):
            raise NotFound(f"task {task_id} not found")
        return _task(row)

    async def task_log(self, task_id: int) -> str:
        async with self._db.read() as conn:
            if await conn.scalar(select(Task.id).where(Task.id == task_id)) is None:
                raise NotFound(f"job {task_id} not found")
            lines = (await conn.execute(
                select(TaskLog.line).where(TaskLog.task_id == task_id).order_by(TaskLog.id))).scalars().all()
        return "".join(line + "\n" for line in lines)

    async def execution_log(self, execution_id: int) -> str:
        """The logs of an execution's tasks, one after another (an execution of one task: its log)."""
        async with self._db.read() as conn:
            ids = (await conn.execute(select(Task.id).where(Task.execution_id == execution_id).order_by(Task.id))).scalars().all()
        return "".join([await self.task_log(task_id) for task_id in ids])

    async def stop_execution(self, execution_id: int) -> None:
        await self.get_execution(execution_id)
        await self._jobs.stop_execution(execution_id)

    async def system_job(self, execution_id: int, vendor_type: str, noun: str) -> ExecutionRecord:
        """A run of a system job (GC, audit purge); another is Harbor's "<noun> job with id N not found"."""
        try:
            return await self.get_execution(execution_id, vendor_type)
        except NotFound:
            raise NotFound(f"{noun} job with id {execution_id} not found") from None

    async def stop_system_job(self, execution_id: int, vendor_type: str, noun: str) -> None:
        """Stop a system job's run (an ended one: nothing to do), as Harbor's stopGC and stopPurge."""
        await self.system_job(execution_id, vendor_type, noun)
        await self._jobs.stop_execution(execution_id)

    async def stop_task(self, task_id: int) -> None:
        await self.get_task(task_id)
        await self._jobs.stop_task(task_id)

    async def stop_job(self, job_id: str) -> None:
        """Stop the job (a task id) if it runs; one that is unknown or already ended counts as done,
        as in Harbor's job monitor ("maybe the job is already complete")."""
        if job_id.isdigit() and len(job_id) <= 18:
            with contextlib.suppress(NotFound):
                await self.stop_task(int(job_id))

    async def stop_running(self) -> int:
        return await self._jobs.stop_running()

    async def sweep(self, vendor_type: str, keep: int, chunk: int = 1000) -> int:
        """Delete the ended executions (with their tasks and logs) of `vendor_type` beyond the newest
        `keep` of each vendor id, as Harbor's daily execution sweep does; returns how many went."""
        async with self._db.read() as conn:
            vendor_ids = (await conn.execute(
                select(Execution.vendor_id).where(Execution.vendor_type == vendor_type).distinct())).scalars().all()
        deleted = 0
        for vendor_id in vendor_ids:
            async with self._db.read() as conn:
                oldest_kept = await conn.scalar(
                    select(Execution.id).where(Execution.vendor_type == vendor_type, Execution.vendor_id == vendor_id)
                    .order_by(Execution.id.desc()).offset(keep - 1).limit(1))
            if oldest_kept is None:
                continue
            while True:  # in chunks: SQLite has one writer, and pushes must not wait behind a long sweep
                async with self._db.write() as conn:
                    ids = (await conn.execute(
                        select(Execution.id).where(
                            Execution.vendor_type == vendor_type, Execution.vendor_id == vendor_id,
                            Execution.id < oldest_kept, Execution.status.in_(FINAL))
                        .limit(chunk))).scalars().all()
                    if ids:
                        await conn.execute(delete(Execution).where(Execution.id.in_(ids)))
                deleted += len(ids)
                if len(ids) < chunk:
                    break
        return deleted

    # --- the job service -------------------------------------------------------------------------

    async def queues(self, job_types: Collection[str]) -> list[QueueRecord]:
        now = utcnow()
        async with self._db.read() as conn:
            pending = {row.kind: row for row in (await conn.execute(
                select(Task.kind, func.count().label("count"), func.min(Task.next_run_at).label("oldest"))
                .where(Task.status == PENDING).group_by(Task.kind))).all()}
            paused = set((await conn.execute(select(JobQueue.job_type).where(JobQueue.paused))).scalars())
        out = []
        for job_type in sorted(set(job_types) | set(pending)):
            row = pending.get(job_type)
            latency = 0
            if row is not None and row.oldest is not None:
                oldest = row.oldest if row.oldest.tzinfo else row.oldest.replace(tzinfo=now.tzinfo)
                latency = max(0, int((now - oldest).total_seconds()))
            out.append(QueueRecord(job_type, row.count if row else 0, latency, job_type in paused))
        return out

    async def pools(self, stale_after: float) -> list[PoolRecord]:
        since = utcnow() - timedelta(seconds=stale_after)
        async with self._db.read() as conn:
            rows = (await conn.execute(select(WorkerPool).where(WorkerPool.heartbeat_at >= since)
                                       .order_by(WorkerPool.start_at))).all()
        return [PoolRecord(r.id, r.pid, r.host, r.concurrency, r.start_at, r.heartbeat_at) for r in rows]

    async def workers(self, pool_id: str, stale_after: float) -> list[WorkerRecord]:
        """Every slot of the pool (or of all pools, "all"), with the job each one runs; none for a
        pool that is not (or no longer) alive, as in Harbor."""
        pools = [p for p in await self.pools(stale_after) if pool_id in ("all", p.id)]
        if not pools:
            return []
        async with self._db.read() as conn:
            running = {row.lease_owner: row for row in (await conn.execute(
                select(Task.id, Task.kind, Task.lease_owner, Task.start_time, Task.update_time)
                .where(Task.status == RUNNING))).all()}
        out = []
        for pool in pools:
            for slot in range(pool.concurrency):
                owner = f"{pool.id}/{slot}"
                task = running.get(owner)
                out.append(WorkerRecord(
                    owner, pool.id, task.kind if task else "", str(task.id) if task else "",
                    task.start_time if task else None, pool.heartbeat_at if task else None,
                ))
        return out

    async def _metrics(self, conn: Any, execution_ids: list[int]) -> dict[int, dict[str, int]]:
        if not execution_ids:
            return {}
        out: dict[int, dict[str, int]] = {}
        for execution_id, status, count in (await conn.execute(
            select(Task.execution_id, Task.status, func.count())
            .where(Task.execution_id.in_(execution_ids)).group_by(Task.execution_id, Task.status)
        )):
            out.setdefault(execution_id, {})[status] = count
        return out


def _execution(row: Any, metrics: dict[str, int]) -> ExecutionRecord:
    return ExecutionRecord(
        row.id, row.vendor_type, row.vendor_id, row.status, row.status_message, row.trigger,
        json.loads(row.extra_attrs or "{}"), row.start_time, row.end_time, row.update_time, metrics,
    )


def _task(row: Any) -> TaskRecord:
    return TaskRecord(
        row.id, row.execution_id, row.kind, row.status, row.status_message, row.run_count,
        json.loads(row.extra_attrs or "{}"), row.creation_time, row.update_time, row.start_time, row.end_time,
        row.lease_owner,
    )
