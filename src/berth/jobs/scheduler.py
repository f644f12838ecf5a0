"""The cron scheduler: fires each schedule's due tick by enqueueing its job.

Every process that runs workers runs a scheduler, and all of them look at every schedule. A tick is
fired by moving `last_tick` forward in an UPDATE that matches the value read, in the same transaction
that enqueues the job: one node wins each tick, however many run. After downtime only the latest
missed tick is due (berth.schedules.due_tick), so a schedule fires once, not once per missed tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import structlog
from sqlalchemy import or_, select, update

from berth.db.models import Schedule, utcnow
from berth.db.session import Database
from berth.faults import log_failure
from berth.jobs.store import SCHEDULER, JobStore
from berth.schedules import due_tick

log = structlog.get_logger("berth.jobs")


class Scheduler:
    def __init__(self, db: Database, store: JobStore, poll_seconds: float = 5.0) -> None:
        self._db = db
        self._store = store
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.fire_due()
            except Exception as exc:  # the database may be away for a moment
                log_failure(log, "firing schedules failed", exc)
            await asyncio.sleep(self._poll)

    async def fire_due(self) -> int:
        """Fire every due schedule this node wins; returns how many it fired."""
        paused = await self._store.paused_types()
        if SCHEDULER in paused:
            return 0
        now = utcnow()
        async with self._db.read() as conn:
            schedules = (await conn.execute(select(
                Schedule.id, Schedule.vendor_type, Schedule.vendor_id, Schedule.cron, Schedule.kind,
                Schedule.parameters, Schedule.last_tick,
            ))).all()
        fired = 0
        for schedule in schedules:
            try:
                tick = due_tick(schedule.cron, schedule.last_tick, now)
            except (ValueError, KeyError):
                log.error("schedule has an invalid cron string", schedule=schedule.id, cron=schedule.cron)
                continue
            if tick is None:
                continue
            async with self._db.write() as conn:
                won = await conn.execute(
                    update(Schedule)
                    .where(Schedule.id == schedule.id,
                           or_(Schedule.last_tick.is_(None), Schedule.last_tick < tick))
                    .values(last_tick=tick)
                )
                if won.rowcount != 1:
                    continue  # another node fired this tick
                execution_id = await self._store.create_execution(
                    conn, schedule.vendor_type, schedule.vendor_id, "SCHEDULE", {"tick": tick.isoformat()})
                await self._store.create_task(conn, execution_id, schedule.kind, json.loads(schedule.parameters or "{}"))
            fired += 1
            log.info("schedule fired", schedule=schedule.id, vendor_type=schedule.vendor_type, tick=tick.isoformat())
        if fired:
            self._store.notify()
        return fired
