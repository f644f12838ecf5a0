"""Labels: global ("g") and per-project ("p") names with a colour, attached to artifacts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import ArtifactLabel, Label, Manifest, Repository, utcnow
from berth.db.session import Database
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.querying import conditions, orderings

GLOBAL, PROJECT = "g", "p"
_COLOR = re.compile(r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})?$")


@dataclass(frozen=True, slots=True)
class LabelRecord:
    id: int
    name: str
    description: str
    color: str
    scope: str
    project_id: int
    created_at: datetime
    updated_at: datetime


def _record(row) -> LabelRecord:  # type: ignore[no-untyped-def]
    return LabelRecord(row.id, row.name, row.description, row.color, row.scope, row.project_id or 0,
                       row.created_at, row.updated_at)


def label_problem(name: str, description: str, color: str, scope: str, project_id: int | None) -> str | None:
    """What is wrong with a label's fields (pure), or None."""
    if not 1 <= len(name) <= 128:
        return "label name must be 1-128 characters"
    if len(description) > 1024:
        return "label description is longer than 1024 characters"
    if not _COLOR.match(color):
        return "label color must be #rgb or #rrggbb"
    if scope not in (GLOBAL, PROJECT):
        return f"invalid scope: {scope}"
    if scope == PROJECT and not project_id:
        return "a project label needs its project_id"
    return None


class LabelService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, description: str, color: str, scope: str, project_id: int | None) -> LabelRecord:
        project_id = project_id if scope == PROJECT else None
        problem = label_problem(name, description, color, scope, project_id)
        if problem:
            raise BadRequest(problem)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                clash = await conn.scalar(select(Label.id).where(
                    Label.scope == scope, Label.name == name,
                    Label.project_id == project_id if project_id else Label.project_id.is_(None)))
                if clash is not None:
                    raise Conflict(f"label {name} already exists")
                label_id = await conn.scalar(self._db.insert(Label).values(
                    name=name, description=description, color=color, scope=scope, project_id=project_id,
                    created_at=now, updated_at=now).returning(Label.id))
        except IntegrityError:
            raise Conflict(f"label {name} already exists") from None
        return await self.get(int(label_id))

    async def get(self, label_id: int) -> LabelRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Label).where(Label.id == label_id))).first()
        if row is None:
            raise NotFound(f"label {label_id} not found")
        return _record(row)

    async def list(
        self, *, scope: str, project_id: int | None, name: str | None, q: str | None, sort: str | None,
        offset: int, limit: int,
    ) -> tuple[list[LabelRecord], int]:
        keys = {"name": Label.name, "id": Label.id, "creation_time": Label.created_at, "update_time": Label.updated_at}
        query: Select = select(Label).where(Label.scope == scope, *conditions(q, keys))
        if scope == PROJECT:
            query = query.where(Label.project_id == project_id)
        if name:
            query = query.where(Label.name.contains(name, autoescape=True))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(*orderings(sort, keys, [Label.id])).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    async def update(self, label: LabelRecord, name: str | None, description: str | None, color: str | None) -> None:
        name = label.name if name is None else name
        description = label.description if description is None else description
        color = label.color if color is None else color
        problem = label_problem(name, description, color, label.scope, label.project_id)
        if problem:
            raise BadRequest(problem)
        try:
            async with self._db.write() as conn:
                clash = await conn.scalar(select(Label.id).where(
                    Label.scope == label.scope, Label.name == name, Label.id != label.id,
                    Label.project_id == label.project_id if label.project_id else Label.project_id.is_(None)))
                if clash is not None:
                    raise Conflict(f"label {name} already exists")
                await conn.execute(update(Label).where(Label.id == label.id).values(
                    name=name, description=description, color=color, updated_at=utcnow()))
        except IntegrityError:
            raise Conflict(f"label {name} already exists") from None

    async def delete(self, label_id: int) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(delete(Label).where(Label.id == label_id))
        if result.rowcount == 0:
            raise NotFound(f"label {label_id} not found")

    # --- on artifacts ----------------------------------------------------------------------------

    async def of_artifacts(self, manifest_ids: list[int]) -> dict[int, list[LabelRecord]]:
        out: dict[int, list[LabelRecord]] = {i: [] for i in manifest_ids}
        if not manifest_ids:
            return out
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(ArtifactLabel.manifest_id, Label).join(Label, Label.id == ArtifactLabel.label_id)
                .where(ArtifactLabel.manifest_id.in_(manifest_ids)).order_by(ArtifactLabel.created_at, Label.id)
            )
            for row in rows:
                out[row.manifest_id].append(_record(row))
        return out

    async def attach(self, manifest_id: int, label_id: int) -> None:
        """Attach a label to an artifact: a global label, or one of the artifact's own project."""
        label = await self.get(label_id)
        async with self._db.read() as conn:
            project_id = await conn.scalar(
                select(Repository.project_id).join(Manifest, Manifest.repository_id == Repository.id)
                .where(Manifest.id == manifest_id))
        if label.scope == PROJECT and label.project_id != project_id:
            raise BadRequest(f"label {label_id} belongs to another project")
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(ArtifactLabel.label_id).where(
                        ArtifactLabel.manifest_id == manifest_id, ArtifactLabel.label_id == label_id)) is not None:
                    raise Conflict(f"label {label_id} is already added to the artifact")
                await conn.execute(self._db.insert(ArtifactLabel).values(
                    manifest_id=manifest_id, label_id=label_id, created_at=utcnow()))
        except IntegrityError:
            raise Conflict(f"label {label_id} is already added to the artifact") from None

    async def detach(self, manifest_id: int, label_id: int) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(delete(ArtifactLabel).where(
                ArtifactLabel.manifest_id == manifest_id, ArtifactLabel.label_id == label_id))
        if result.rowcount == 0:
            raise NotFound(f"label {label_id} is not on the artifact")
