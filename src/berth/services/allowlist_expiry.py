"""berth's addition to Harbor's events: when an entry of a CVE allowlist expires within 7 days, the
projects it is in effect for hear of it once (CVE_ALLOWLIST_EXPIRING webhooks): a project's own list
for a project that does not reuse the system list, the system list for every project that does.

A daily job (and one at every start) checks; each (list, CVE, expiry) it told of is kept in
cve_allowlist_notices, written in the transaction that records the events in the outbox, so a
notice is given once however many nodes check, and again only when the expiry moves. The events
are logged, not audited (nobody acted).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, exists, func, select

from berth.db.models import CveAllowlist, CveAllowlistNotice, Project, ProjectMetadata, utcnow
from berth.events.types import CveAllowlistExpiring
from berth.jobs.kinds import JobContext, JobKind

log = structlog.get_logger("berth.scan")

CHECK = "CVE_ALLOWLIST_EXPIRY"
#: daily at 01:00 UTC (apart from the midnight sweep)
CHECK_CRON = "0 0 1 * * *"
#: an entry expiring this soon is announced
WINDOW = timedelta(days=7)
SYSTEM_SCOPE = 0


@dataclass(frozen=True, slots=True)
class AllowlistState:
    """One allowlist as the check sees it: its scope (a project id, 0 for the system list)."""

    scope: int
    expires_at: int | None
    cve_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Expiring:
    scope: int
    cve_id: str
    expires_at: int


def expiring_entries(lists: Iterable[AllowlistState], now: datetime, window: timedelta = WINDOW) -> list[Expiring]:
    """The entries that expire after `now` and within `window` of it (pure); a list without an expiry
    never expires, and one already expired is no longer news."""
    start, end = int(now.timestamp()), int((now + window).timestamp())
    return [Expiring(allowlist.scope, cve_id, allowlist.expires_at)
            for allowlist in lists
            if allowlist.expires_at is not None and start < allowlist.expires_at <= end
            for cve_id in dict.fromkeys(allowlist.cve_ids)]


_REUSES_SYSTEM_LIST = ~exists().where(
    ProjectMetadata.project_id == Project.id, ProjectMetadata.name == "reuse_sys_cve_allowlist",
    func.lower(ProjectMetadata.value) == "false")


async def run_check(ctx: JobContext) -> str:
    """Announce every entry newly found expiring; forget notices of expiries that have passed."""
    registry = ctx.services
    db, now = registry.db, utcnow()
    async with db.read() as conn:
        rows = (await conn.execute(select(CveAllowlist.project_id, CveAllowlist.expires_at, CveAllowlist.items).where(
            CveAllowlist.expires_at > int(now.timestamp()),
            CveAllowlist.expires_at <= int((now + WINDOW).timestamp())))).all()
    lists = [AllowlistState(row.project_id or SYSTEM_SCOPE, row.expires_at, tuple(_ids(row.items))) for row in rows]
    announced = 0
    for entry in expiring_entries(lists, now):
        async with db.write() as conn:
            inserted = await conn.execute(db.insert(CveAllowlistNotice).values(
                scope=entry.scope, cve_id=entry.cve_id, expires_at=entry.expires_at, notified_at=now,
            ).on_conflict_do_nothing())
            if inserted.rowcount != 1:
                continue  # told already (by this node earlier, or by another)
            if entry.scope == SYSTEM_SCOPE:
                told = select(Project.name).where(_REUSES_SYSTEM_LIST)
            else:
                told = select(Project.name).where(Project.id == entry.scope, ~_REUSES_SYSTEM_LIST)
            projects = (await conn.execute(told.order_by(Project.id))).scalars().all()
            scope = "system" if entry.scope == SYSTEM_SCOPE else "project"
            for project in projects:
                await registry.events.record(conn, CveAllowlistExpiring(
                    project=project, cve_id=entry.cve_id, expires_at=entry.expires_at, allowlist=scope))
        announced += 1
        log.info("CVE allowlist entry expires soon", cve_id=entry.cve_id, allowlist=scope,
                 project_id=entry.scope or None, expires_at=entry.expires_at, projects_told=len(projects))
        ctx.log(f"{entry.cve_id} on the {scope} allowlist{f' of project {entry.scope}' if entry.scope else ''} "
                f"expires at {entry.expires_at}: told {len(projects)} projects")
    async with db.write() as conn:
        await conn.execute(delete(CveAllowlistNotice).where(CveAllowlistNotice.expires_at <= int(now.timestamp())))
    return f"announced {announced} expiring allowlist entries"


def _ids(items: str | None) -> list[str]:
    try:
        value = json.loads(items or "[]")
    except ValueError:
        return []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


CHECK_KIND = JobKind(CHECK, run_check)
