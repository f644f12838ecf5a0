"""Replication policies (Harbor's src/controller/replication): stored as berth.replication.policy's
JSON, name unique, the destination a registry endpoint that exists; an audit row for every change.
Push-based only: the source is this berth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import RemoteRegistry, ReplicationPolicyRow, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.replication.policy import Policy, load_policy
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.querying import conditions, orderings

_KEYS = {"name": ReplicationPolicyRow.name}
_SORTS = {**_KEYS, "id": ReplicationPolicyRow.id, "creation_time": ReplicationPolicyRow.created_at,
          "update_time": ReplicationPolicyRow.updated_at}


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    policy: Policy
    created_at: datetime
    updated_at: datetime


class ReplicationService:
    def __init__(self, db: Database, events: EventBus) -> None:
        self._db = db
        self._events = events

    async def list(
        self, q: str | None, sort: str | None, offset: int, limit: int, name: str | None = None,
    ) -> tuple[list[PolicyRecord], int]:
        query: Select = select(ReplicationPolicyRow).where(*conditions(q, _KEYS))
        if name:  # the older `name` parameter: a fuzzy match, as Harbor keeps it
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(ReplicationPolicyRow.name.like(f"%{escaped}%", escape="\\"))
        async with self._db.read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await conn.execute(query.order_by(
                *orderings(sort, _SORTS, [ReplicationPolicyRow.created_at, ReplicationPolicyRow.id]))
                .offset(offset).limit(limit))
            return [_record(row) for row in rows], total

    async def get(self, policy_id: int) -> PolicyRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id))).first()
        if row is None:
            raise NotFound(f"policy {policy_id} not found")
        return _record(row)

    async def create(self, policy: Policy) -> int:
        now = utcnow()
        try:
            async with self._db.write() as conn:
                await self._check(conn, policy, None)
                policy_id = int(await conn.scalar(self._db.insert(ReplicationPolicyRow).values(
                    name=policy.name, dest_registry_id=policy.dest_registry_id, data=json.dumps(policy.as_json()),
                    created_at=now, updated_at=now,
                ).returning(ReplicationPolicyRow.id)))
                await self._audit(conn, "create", policy.name)
        except IntegrityError:  # a concurrent create with the same name won
            raise _taken(policy.name) from None
        return policy_id

    async def update(self, policy_id: int, policy: Policy) -> None:
        await self.get(policy_id)
        try:
            async with self._db.write() as conn:
                await self._check(conn, policy, policy_id)
                changed = await conn.execute(update(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id)
                                             .values(name=policy.name, dest_registry_id=policy.dest_registry_id,
                                                     data=json.dumps(policy.as_json()), updated_at=utcnow()))
                if changed.rowcount != 1:
                    raise NotFound(f"policy {policy_id} not found")
                await self._audit(conn, "update", policy.name)
        except IntegrityError:
            raise _taken(policy.name) from None

    async def delete(self, policy_id: int) -> None:
        record = await self.get(policy_id)
        async with self._db.write() as conn:
            await conn.execute(delete(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id))
            await self._audit(conn, "delete", record.policy.name)

    async def using_registry(self, registry_id: int) -> list[str]:
        """The names of the policies replicating with the registry (Harbor refuses its deletion: 412)."""
        async with self._db.read() as conn:
            return list((await conn.execute(select(ReplicationPolicyRow.name).where(
                ReplicationPolicyRow.dest_registry_id == registry_id).order_by(ReplicationPolicyRow.id))).scalars())

    async def _check(self, conn: AsyncConnection, policy: Policy, policy_id: int | None) -> None:
        query = select(ReplicationPolicyRow.id).where(ReplicationPolicyRow.name == policy.name)
        if policy_id is not None:
            query = query.where(ReplicationPolicyRow.id != policy_id)
        if await conn.scalar(query) is not None:
            raise _taken(policy.name)
        if await conn.scalar(select(RemoteRegistry.id).where(RemoteRegistry.id == policy.dest_registry_id)) is None:
            raise BadRequest(f"registry {policy.dest_registry_id} not found")

    async def _audit(self, conn: AsyncConnection, operation: str, name: str) -> None:
        await self._events.record(conn, ResourceChanged(
            resource_type="replication_policy", operation=operation, resource=name))


def _taken(name: str) -> Conflict:
    return Conflict(f"policy {name[:300]} already exists")


def _record(row: Any) -> PolicyRecord:
    return PolicyRecord(row.id, load_policy(json.loads(row.data)), row.created_at, row.updated_at)
