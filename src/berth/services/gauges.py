"""What the metrics endpoint reports about the stored state: a few aggregate queries, each a GROUP BY on
an indexed foreign key or a small table (projects, quotas, members, schedules, running tasks),
never a walk over artifacts or blobs, so one refresh costs the same at 100 or 100,000 artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from berth.db.models import EventOutbox, Project, ProjectMember, ProjectMetadata, Quota, Repository, Schedule, Task, Upload
from berth.db.session import Database
from berth.jobs.store import RUNNING
from berth.services.quotas import QuotaService
from berth.services.replication_events import PolicyGauge, replication_gauges


@dataclass(frozen=True, slots=True)
class ProjectGauges:
    name: str
    public: bool
    repositories: int = 0
    #: the sum of its repositories' pull counts
    pulls: int = 0
    #: users holding a role (Harbor counts user members only, not groups)
    members: int = 0
    #: bytes; -1 = unlimited
    quota: int = -1
    used: int = 0


@dataclass(frozen=True, slots=True)
class Gauges:
    projects: list[ProjectGauges]
    uploads_open: int
    #: (job kind, worker pool id) -> tasks running
    running: dict[tuple[str, str], int] = field(default_factory=dict)
    schedules: int = 0
    #: change events written and not yet handed to the audit log and webhooks (a backlog that grows
    #: means no process runs jobs, or a subscriber keeps failing)
    outbox_pending: int = 0
    #: per replication policy: lag and task counts
    replication: list[PolicyGauge] = field(default_factory=list)


async def read_gauges(db: Database, quotas: QuotaService) -> Gauges:
    async with db.read() as conn:
        projects = (await conn.execute(
            select(Project.id, Project.name, ProjectMetadata.value)
            .outerjoin(ProjectMetadata, (ProjectMetadata.project_id == Project.id) & (ProjectMetadata.name == "public"))
        )).all()
        repos = {row[0]: (int(row[1]), int(row[2] or 0)) for row in await conn.execute(
            select(Repository.project_id, func.count(), func.sum(Repository.pull_count))
            .where(Repository.project_id.is_not(None)).group_by(Repository.project_id)
        )}
        members = {row[0]: int(row[1]) for row in await conn.execute(
            select(ProjectMember.project_id, func.count()).where(ProjectMember.entity_type == "u")
            .group_by(ProjectMember.project_id)
        )}
        limits = {row[0]: (int(row[1]), row[2]) for row in await conn.execute(
            select(Quota.project_id, Quota.hard_storage, Quota.used_storage)
        )}
        uploads_open = int(await conn.scalar(select(func.count()).select_from(Upload)) or 0)
        running: dict[tuple[str, str], int] = {}
        for kind, owner in await conn.execute(select(Task.kind, Task.lease_owner).where(Task.status == RUNNING)):
            key = (kind, (owner or "").rpartition("/")[0])
            running[key] = running.get(key, 0) + 1
        schedules = int(await conn.scalar(select(func.count()).select_from(Schedule)) or 0)
        outbox_pending = int(await conn.scalar(select(func.count()).select_from(EventOutbox)) or 0)
        replication = await replication_gauges(conn)
    result = []
    for project_id, name, public in projects:
        hard, used = limits.get(project_id, (-1, 0))
        if used is None:  # dropped by a delete: recalculated from the project's blobs, as a read does
            hard, used = await quotas.usage(project_id)
        repositories, pulls = repos.get(project_id, (0, 0))
        result.append(ProjectGauges(name, public == "true", repositories, pulls, members.get(project_id, 0),
                                    hard, int(used)))
    return Gauges(result, uploads_open, running, schedules, outbox_pending, replication)
