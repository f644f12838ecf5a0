"""Cron schedules of background jobs (purge the audit log, later GC, scan all, retention...): one per
(vendor type, vendor id), validated with Harbor's rules; the jobs scheduler fires them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from berth.db.models import Schedule, utcnow
from berth.db.session import Database
from berth.schedules import ScheduleInvalid, next_tick, parse_schedule
from berth.services.errors import BadRequest


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: int
    vendor_type: str
    vendor_id: int
    type: str
    cron: str
    kind: str
    parameters: dict[str, Any]
    creation_time: datetime
    update_time: datetime

    @property
    def next_scheduled_time(self) -> datetime:
        return next_tick(self.cron, utcnow())


class ScheduleService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set(
        self, vendor_type: str, vendor_id: int, schedule_type: str, cron: str | None, kind: str,
        parameters: dict[str, Any],
    ) -> ScheduleRecord | None:
        """Create or replace the schedule; types Manual and None remove it (and return None).
        The first tick fired is the first one after now."""
        try:
            schedule = parse_schedule(schedule_type, cron)
        except ScheduleInvalid as exc:
            raise BadRequest(str(exc)) from None
        async with self._db.write() as conn:
            if not await self.put(conn, vendor_type, vendor_id, schedule.type, schedule.cron, kind, parameters):
                return None
        return await self.get(vendor_type, vendor_id)

    async def put(
        self, conn: Any, vendor_type: str, vendor_id: int, schedule_type: str, cron: str | None, kind: str,
        parameters: dict[str, Any],
    ) -> bool:
        """Replace the schedule on `conn`, in the caller's transaction (a cron already validated); no
        cron removes it. Returns whether one is stored."""
        await conn.execute(delete(Schedule).where(Schedule.vendor_type == vendor_type, Schedule.vendor_id == vendor_id))
        if not cron:
            return False
        now = utcnow()
        await conn.execute(self._db.insert(Schedule).values(
            vendor_type=vendor_type, vendor_id=vendor_id, schedule_type=schedule_type, cron=cron,
            kind=kind, parameters=json.dumps(parameters), last_tick=now, creation_time=now, update_time=now,
        ))
        return True

    async def ensure(
        self, vendor_type: str, vendor_id: int, schedule_type: str, cron: str, kind: str, parameters: dict[str, Any],
    ) -> None:
        """Create the schedule unless it exists (berth's own housekeeping schedules, at every start)."""
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(self._db.insert(Schedule).values(
                vendor_type=vendor_type, vendor_id=vendor_id, schedule_type=schedule_type, cron=cron, kind=kind,
                parameters=json.dumps(parameters), last_tick=now, creation_time=now, update_time=now,
            ).on_conflict_do_nothing())

    async def get(self, vendor_type: str, vendor_id: int) -> ScheduleRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Schedule).where(
                Schedule.vendor_type == vendor_type, Schedule.vendor_id == vendor_id))).first()
        return _record(row) if row is not None else None

    async def delete(self, vendor_type: str, vendor_id: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(Schedule).where(
                Schedule.vendor_type == vendor_type, Schedule.vendor_id == vendor_id))

    async def list(self, offset: int, limit: int) -> tuple[list[ScheduleRecord], int]:
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(Schedule)) or 0)
            rows = (await conn.execute(select(Schedule).order_by(Schedule.id).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total


def _record(row: Any) -> ScheduleRecord:
    return ScheduleRecord(
        row.id, row.vendor_type, row.vendor_id, row.schedule_type, row.cron, row.kind,
        json.loads(row.parameters or "{}"), row.creation_time, row.update_time,
    )
