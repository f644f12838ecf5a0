"""The system CVE allowlist (Harbor's project_id 0): the one row of cve_allowlists without a project.

Projects use it unless their `reuse_sys_cve_allowlist` is false; their own lists are the projects
service's.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select, update

from berth.db.models import CveAllowlist, utcnow
from berth.db.session import Database, after_commit
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.services.projects import AllowlistRecord


class SystemAllowlistService:
    def __init__(self, db: Database, events: EventBus) -> None:
        self._db = db
        self._events = events
        #: called after a committed change (the pull policy forgets its copy)
        self.changed_hooks: list[Callable[[], None]] = []

    async def get(self) -> AllowlistRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(CveAllowlist).where(CveAllowlist.project_id.is_(None)).order_by(CveAllowlist.id).limit(1)
            )).first()
        if row is None:  # made by the migration; only a hand-edited database lacks it
            await self.put([], None)
            return await self.get()
        return AllowlistRecord(row.id, 0, row.expires_at, json.loads(row.items or "[]"), row.created_at, row.updated_at)

    async def put(self, cve_ids: list[str], expires_at: int | None) -> None:
        """Replace the list (ids validated by the caller with projects.normalize_allowlist)."""
        now = utcnow()
        async with self._db.write() as conn:
            row_id = await conn.scalar(
                select(CveAllowlist.id).where(CveAllowlist.project_id.is_(None)).order_by(CveAllowlist.id).limit(1))
            values = {"items": json.dumps(cve_ids), "expires_at": expires_at, "updated_at": now}
            if row_id is None:
                await conn.execute(self._db.insert(CveAllowlist).values(project_id=None, created_at=now, **values))
            else:
                await conn.execute(update(CveAllowlist).where(CveAllowlist.id == row_id).values(**values))
            await self._events.record(conn, ResourceChanged(
                resource_type="configuration", operation="update", resource="system CVE allowlist",
                description="update the system CVE allowlist"))
            after_commit(conn, self._changed)

    def _changed(self) -> None:
        for hook in self.changed_hooks:
            hook()
