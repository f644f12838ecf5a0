"""Project storage quotas as Harbor reports them: a hard limit per project (-1 unlimited) and the
bytes used, each blob counted once per project. Pushes are held to the limit by a later issue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from berth.db.models import Project, Quota, User, utcnow
from berth.db.session import Database
from berth.services.errors import BadRequest, NotFound
from berth.services.projects import ProjectService, limit_problem
from berth.services.querying import orderings

@dataclass(frozen=True, slots=True)
class QuotaRecord:
    id: int
    project_id: int
    project_name: str
    owner_name: str
    hard: int
    used: int
    created_at: datetime
    updated_at: datetime


class QuotaService:
    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    async def list(
        self, *, project_id: int | None = None, sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[QuotaRecord], int]:
        query = (
            select(Quota.id, Quota.project_id, Quota.hard_storage, Quota.created_at, Quota.updated_at,
                   Project.name, User.username)
            .join(Project, Project.id == Quota.project_id)
            .outerjoin(User, User.id == Project.owner_id)
        )
        if project_id is not None:
            query = query.where(Quota.project_id == project_id)
        keys = {"id": Quota.id, "creation_time": Quota.created_at, "update_time": Quota.updated_at,
                "hard.storage": Quota.hard_storage}
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(
                query.order_by(*orderings(sort, keys, [Quota.id])).offset(offset).limit(limit))).all()
        records = []
        for row in rows:
            _, used = await self._projects.storage_usage(row.project_id)
            records.append(QuotaRecord(row.id, row.project_id, row.name, row.username or "", int(row.hard_storage),
                                       used, row.created_at, row.updated_at))
        return records, total

    async def get(self, quota_id: int) -> QuotaRecord:
        async with self._db.read() as conn:
            project_id = await conn.scalar(select(Quota.project_id).where(Quota.id == quota_id))
        if project_id is None:
            raise NotFound(f"quota {quota_id} not found")
        found, _ = await self.list(project_id=project_id, limit=1)
        return found[0]

    async def set_hard(self, quota_id: int, storage: object) -> None:
        problem = limit_problem(storage)
        if problem:
            raise BadRequest(problem)
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Quota).where(Quota.id == quota_id).values(hard_storage=storage, updated_at=utcnow())
            )
        if result.rowcount == 0:
            raise NotFound(f"quota {quota_id} not found")
