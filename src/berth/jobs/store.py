"""Job rows in SQL: create executions and tasks, claim them under a lease, renew, finish, retry, stop.

A task is claimable when it is Pending and its `next_run_at` has come, or Running with an expired
lease (its worker died). Claiming takes `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
workers never take one row; SQLite serialises writers (BEGIN IMMEDIATE), which gives the same. Every
later write by the worker is fenced on `lease_owner`: a worker that lost its lease cannot finish a
task another worker has taken over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import Execution, JobQueue, Task, TaskLog, WorkerPool, utcnow
from berth.db.session import Database
from berth.events.actor import current_request_id

PENDING, RUNNING, SUCCESS, ERROR, STOPPED = "Pending", "Running", "Success", "Error", "Stopped"
FINAL = (SUCCESS, ERROR, STOPPED)
#: a task whose worker died this many times beyond its attempts is given up (a job that kills workers)
LEASE_LOSSES_ALLOWED = 3
#: the job type that pauses every schedule when paused
SCHEDULER = "SCHEDULER"
#: rows per IN list when a statement names many tasks
_CHUNK = 500

#: called in the transaction that ends a task (connection, task id, final status): Harbor's task status
#: change post funcs, e.g. the REPLICATION webhook; an error rolls the ending back
EndHook = Callable[[AsyncConnection, int, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    execution_id: int
    kind: str
    parameters: dict[str, Any]
    run_count: int
    max_attempts: int
    owner: str
    request_id: str = ""


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        #: set by this process's worker pool: enqueuing wakes it at once instead of at its next poll
        self.wakeup: asyncio.Event | None = None
        #: job kind -> what runs when one of its tasks ends (Success, Error, Stopped)
        self.end_hooks: dict[str, EndHook] = {}

    # --- enqueueing ------------------------------------------------------------------------------

    async def create_execution(
        self, conn: AsyncConnection, vendor_type: str, vendor_id: int, trigger: str,
        extra_attrs: dict[str, Any] | None = None, *, event_id: int | None = None,
    ) -> int:
        now = utcnow()
        return int(await conn.scalar(
            self._db.insert(Execution).values(
                vendor_type=vendor_type, vendor_id=vendor_id, trigger=trigger, status=RUNNING,
                extra_attrs=json.dumps(extra_attrs or {}), start_time=now, update_time=now, event_id=event_id,
            ).returning(Execution.id)
        ))

    async def create_task(
        self, conn: AsyncConnection, execution_id: int, kind: str, parameters: dict[str, Any], *,
        max_attempts: int = 1, extra_attrs: dict[str, Any] | None = None, request_id: str | None = None,
    ) -> int:
        """A pending task; `request_id` defaults to the request being served (none in background work)."""
        now = utcnow()
        return int(await conn.scalar(
            self._db.insert(Task).values(
                execution_id=execution_id, kind=kind, parameters=json.dumps(parameters), status=PENDING,
                max_attempts=max_attempts, next_run_at=now, extra_attrs=json.dumps(extra_attrs or {}),
                request_id=(request_id if request_id is not None else current_request_id()) or None,
                creation_time=now, update_time=now,
            ).returning(Task.id)
        ))

    async def submit(
        self, vendor_type: str, vendor_id: int, kind: str, parameters: dict[str, Any], *,
        trigger: str = "MANUAL", max_attempts: int = 1, extra_attrs: dict[str, Any] | None = None,
    ) -> tuple[int, int]:
        """One execution with one task, in one transaction; returns (execution id, task id)."""
        async with self._db.write() as conn:
            execution_id = await self.create_execution(conn, vendor_type, vendor_id, trigger, extra_attrs)
            task_id = await self.create_task(conn, execution_id, kind, parameters, max_attempts=max_attempts)
        self.notify()
        return execution_id, task_id

    def notify(self) -> None:
        """New work was committed: wake this process's workers."""
        if self.wakeup is not None:
            self.wakeup.set()

    # --- the worker's side -----------------------------------------------------------------------

    async def claim(
        self, owners: Sequence[str], kinds: Collection[str], lease_seconds: float,
        room: Mapping[str, int] | None = None,
    ) -> list[Claimed]:
        """Claim up to len(owners) due tasks of `kinds` (skipping paused job types), one per owner, and
        at most `room[kind]` of a kind named there (a kind at its limit leaves its slot to the others)."""
        if not owners or not kinds:
            return []
        now = utcnow()
        claimed: list[Claimed] = []
        left = dict(room or {})
        free = list(owners)
        async with self._db.write() as conn:
            paused = set((await conn.execute(select(JobQueue.job_type).where(JobQueue.paused))).scalars())
            # each round either claims every row it read or fills a kind to its limit, which the next
            # round leaves out: at most one round per limited kind, plus one
            while free:
                allowed = [kind for kind in kinds if kind not in paused and left.get(kind, 1) > 0]
                if not allowed:
                    break
                rows = (await conn.execute(
                    select(Task.id, Task.execution_id, Task.kind, Task.parameters, Task.run_count,
                           Task.max_attempts, Task.status, Task.request_id)
                    .where(Task.kind.in_(allowed), or_(
                        and_(Task.status == PENDING, Task.next_run_at <= now),
                        and_(Task.status == RUNNING, Task.lease_expires_at < now),
                    ))
                    .order_by(Task.next_run_at, Task.id)
                    .limit(len(free))
                    .with_for_update(skip_locked=True)
                )).all()
                skipped = False
                for row in rows:
                    if row.status == RUNNING and row.run_count >= row.max_attempts + LEASE_LOSSES_ALLOWED:
                        await self._end(conn, row.id, row.execution_id, ERROR,
                                        f"given up: its worker stopped during {row.run_count} attempts", now,
                                        expected=RUNNING, kind=row.kind)
                        continue
                    if left.get(row.kind, 1) <= 0:
                        skipped = True
                        continue
                    if row.kind in left:
                        left[row.kind] -= 1
                    owner = free.pop(0)
                    await conn.execute(
                        update(Task).where(Task.id == row.id).values(
                            status=RUNNING, lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                            run_count=Task.run_count + 1, start_time=func.coalesce(Task.start_time, now),
                            update_time=now,
                        )
                    )
                    note = "re-run: the worker running it stopped renewing its lease" if row.status == RUNNING else None
                    if note:
                        await self._log(conn, row.id, [note], now)
                    claimed.append(Claimed(row.id, row.execution_id, row.kind, json.loads(row.parameters or "{}"),
                                           row.run_count + 1, row.max_attempts, owner, row.request_id or ""))
                if not skipped:
                    break
        return claimed

    async def renew(self, pool_id: str, task_ids: Collection[int], lease_seconds: float) -> tuple[set[int], set[int]]:
        """Extend the leases of `task_ids` held by the pool; returns (stop requested, lease lost)."""
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(update(WorkerPool).where(WorkerPool.id == pool_id).values(heartbeat_at=now))
            if not task_ids:
                return set(), set()
            await conn.execute(
                update(Task).where(Task.id.in_(task_ids), Task.status == RUNNING,
                                   Task.lease_owner.startswith(pool_id + "/", autoescape=True))
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            )
            rows = (await conn.execute(
                select(Task.id, Task.stop_requested, Task.lease_owner, Task.status).where(Task.id.in_(task_ids))
            )).all()
        held = {r.id for r in rows if r.status == RUNNING and (r.lease_owner or "").startswith(pool_id + "/")}
        return {r.id for r in rows if r.stop_requested}, set(task_ids) - held

    async def finish(
        self, task: Claimed, status: str, message: str = "", *, lines: Sequence[str] = (),
        extra_attrs: dict[str, Any] | None = None,
    ) -> bool:
        """End the attempt for good (Success, Error, Stopped); False if the lease was lost meanwhile."""
        now = utcnow()
        async with self._db.write() as conn:
            if not await self._end(conn, task.id, task.execution_id, status, message, now, owner=task.owner,
                                   kind=task.kind):
                return False
            await self._merge_extra(conn, task.id, extra_attrs)
            await self._log(conn, task.id, lines, now)
        return True

    async def retry(
        self, task: Claimed, message: str, delay_seconds: float, *, lines: Sequence[str] = (),
        extra_attrs: dict[str, Any] | None = None,
    ) -> bool:
        """Put the task back for another attempt after `delay_seconds`."""
        now = utcnow()
        async with self._db.write() as conn:
            moved = await conn.execute(update(Task).where(_held_by(task)).values(
                status=PENDING, status_message=message, lease_owner=None, lease_expires_at=None,
                next_run_at=now + timedelta(seconds=delay_seconds), update_time=now,
            ))
            if moved.rowcount != 1:
                return False
            await self._merge_extra(conn, task.id, extra_attrs)
            await self._log(conn, task.id, lines, now)
        return True

    async def release(self, task: Claimed, lines: Sequence[str] = ()) -> None:
        """Hand a task back untouched (the worker is shutting down): it runs again at once elsewhere."""
        now = utcnow()
        async with self._db.write() as conn:
            moved = await conn.execute(update(Task).where(_held_by(task)).values(
                status=PENDING, lease_owner=None, lease_expires_at=None, next_run_at=now, update_time=now,
                run_count=Task.run_count - 1,
            ))
            if moved.rowcount == 1:
                await self._log(conn, task.id, [*lines, "interrupted: the worker stopped; the task will run again"], now)

    async def append_log(self, task_id: int, lines: Sequence[str]) -> None:
        if lines:
            async with self._db.write() as conn:
                await self._log(conn, task_id, lines, utcnow())

    # --- stopping ----------------------------------------------------------------------------------

    async def stop_task(self, task_id: int) -> bool:
        """Stop a task: Pending ones at once, Running ones at their worker's next heartbeat.
        False if there is no such task or it already ended."""
        return await self._stop(Task.id == task_id) > 0

    async def stop_execution(self, execution_id: int) -> bool:
        return await self._stop(Task.execution_id == execution_id) > 0

    async def stop_pending(self, job_type: str | None) -> int:
        """Stop every Pending task (of one job type, or all): Harbor's "stop and clean" of a queue."""
        return await self._stop(Task.status == PENDING, *([Task.kind == job_type] if job_type is not None else []))

    async def stop_running(self) -> int:
        """Ask every running task to stop (Harbor's stop of job "all")."""
        return await self._stop(Task.status == RUNNING)

    async def _stop(self, *where: Any) -> int:
        """Stop the tasks matching `where`, in one transaction: Pending ones end as Stopped, Running ones
        are flagged for their worker. The Pending rows are locked first, so a claim cannot take one
        between the read and the update (claims skip locked rows). Returns how many were stopped."""
        now = utcnow()
        async with self._db.write() as conn:
            pending = (await conn.execute(
                select(Task.id, Task.execution_id, Task.kind).where(*where, Task.status == PENDING)
                .with_for_update(skip_locked=True)
            )).all()
            for start in range(0, len(pending), _CHUNK):
                ids = [row.id for row in pending[start:start + _CHUNK]]
                await conn.execute(update(Task).where(Task.id.in_(ids)).values(
                    status=STOPPED, status_message="stopped", lease_owner=None, lease_expires_at=None, end_time=now,
                    update_time=now,
                ))
                await self._log(conn, ids, ["stopped before it ran"], now)
            # task rows before execution rows, as a finishing task takes them (refresh_execution)
            flagged = await conn.execute(update(Task).where(*where, Task.status == RUNNING)
                                         .values(stop_requested=True, update_time=now))
            for execution_id in sorted({row.execution_id for row in pending}):
                await refresh_execution(conn, execution_id, now)
            for row in pending:
                if row.kind in self.end_hooks:
                    await self.end_hooks[row.kind](conn, row.id, STOPPED)
        return len(pending) + flagged.rowcount

    # --- queues and pools --------------------------------------------------------------------------

    async def set_paused(self, job_type: str, paused: bool) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(JobQueue).where(JobQueue.job_type == job_type))
            if paused:
                await conn.execute(self._db.insert(JobQueue).values(job_type=job_type, paused=True))

    async def paused_types(self) -> set[str]:
        async with self._db.read() as conn:
            return set((await conn.execute(select(JobQueue.job_type).where(JobQueue.paused))).scalars())

    async def register_pool(self, pool_id: str, pid: int, host: str, concurrency: int, stale_after: float) -> None:
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(delete(WorkerPool).where(
                WorkerPool.heartbeat_at < now - timedelta(seconds=stale_after)))
            await conn.execute(self._db.insert(WorkerPool).values(
                id=pool_id, pid=pid, host=host, concurrency=concurrency, start_at=now, heartbeat_at=now))

    async def unregister_pool(self, pool_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(WorkerPool).where(WorkerPool.id == pool_id))

    # --- helpers -----------------------------------------------------------------------------------


    async def _merge_extra(self, conn: AsyncConnection, task_id: int, extra: dict[str, Any] | None) -> None:
        if extra:
            current = json.loads(await conn.scalar(select(Task.extra_attrs).where(Task.id == task_id)) or "{}")
            current.update(extra)
            await conn.execute(update(Task).where(Task.id == task_id).values(extra_attrs=json.dumps(current)))

    async def _log(
        self, conn: AsyncConnection, task_id: int | Sequence[int], lines: Sequence[str], now: datetime,
    ) -> None:
        """Append `lines` to the log of one task, or of each of several."""
        ids = [task_id] if isinstance(task_id, int) else task_id
        if lines and ids:
            await conn.execute(self._db.insert(TaskLog).values(
                [{"task_id": one, "created_at": now, "line": line} for one in ids for line in lines]))

    async def _end(
        self, conn: AsyncConnection, task_id: int, execution_id: int, status: str, message: str, now: datetime,
        *, owner: str | None = None, expected: str | None = None, kind: str = "",
    ) -> bool:
        """End the task if it is still held by `owner` (a worker) or still in status `expected`; the
        condition is in the UPDATE itself, so a concurrent claim or finish cannot slip in between."""
        where = [Task.id == task_id]
        if owner is not None:
            where += [Task.lease_owner == owner, Task.status == RUNNING]
        if expected is not None:
            where.append(Task.status == expected)
        ended = await conn.execute(update(Task).where(*where).values(
            status=status, status_message=message, lease_owner=None, lease_expires_at=None, end_time=now,
            update_time=now,
        ))
        if ended.rowcount != 1:
            return False
        await refresh_execution(conn, execution_id, now)
        if kind in self.end_hooks:
            await self.end_hooks[kind](conn, task_id, status)
        return True


def _held_by(task: Claimed):  # type: ignore[no-untyped-def]
    """The row is still the worker's: Running under its lease (fences every write after a claim)."""
    return and_(Task.id == task.id, Task.lease_owner == task.owner, Task.status == RUNNING)


async def refresh_execution(conn: AsyncConnection, execution_id: int, now: datetime) -> None:
    """An execution's status from its tasks, as Harbor derives it: Running while any task is not
    done, then Error if any failed, else Stopped if any stopped, else Success.

    The execution row is locked first: two of its tasks ending at once on PostgreSQL (READ COMMITTED)
    would each count the other as still running, and leave the execution Running for good. The
    second waits here, and its count then sees the first one's commit."""
    await conn.execute(select(Execution.id).where(Execution.id == execution_id).with_for_update())
    counts = dict((await conn.execute(
        select(Task.status, func.count()).where(Task.execution_id == execution_id).group_by(Task.status)
    )).all())
    if counts.get(PENDING) or counts.get(RUNNING):
        status, end = RUNNING, None
    else:
        status = ERROR if counts.get(ERROR) else STOPPED if counts.get(STOPPED) else SUCCESS
        end = now
    await conn.execute(update(Execution).where(Execution.id == execution_id).values(
        status=status, end_time=end, update_time=now))
