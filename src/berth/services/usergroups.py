"""User groups (Harbor types: 1 LDAP, 2 HTTP, 3 OIDC); members come from the identity provider at login."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import ProjectMember, UserGroup, utcnow
from berth.db.session import Database
from berth.services.errors import BadRequest, Conflict, NotFound

LDAP_GROUP, HTTP_GROUP, OIDC_GROUP = 1, 2, 3
GROUP_TYPES = (LDAP_GROUP, HTTP_GROUP, OIDC_GROUP)


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    group_name: str
    group_type: int
    ldap_group_dn: str


def _record(row) -> GroupRecord:  # type: ignore[no-untyped-def]
    return GroupRecord(row.id, row.group_name, row.group_type, row.ldap_group_dn or "")


class UserGroupService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, group_name: str, group_type: int, ldap_group_dn: str = "") -> GroupRecord:
        if group_type not in GROUP_TYPES:
            raise BadRequest(f"invalid group_type {group_type}: 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
        if not 1 <= len(group_name) <= 255:
            raise BadRequest("group_name must be 1-255 characters")
        if group_type == LDAP_GROUP and not ldap_group_dn:
            raise BadRequest("an LDAP group needs its ldap_group_dn")
        if len(ldap_group_dn) > 512:
            raise BadRequest("ldap_group_dn is longer than 512 characters")
        if group_type != LDAP_GROUP:
            ldap_group_dn = ""
        existing = await self.find(group_type, group_name, ldap_group_dn)
        if existing is not None:
            raise Conflict(f"the user group {group_name} already exists")
        now = utcnow()
        try:
            async with self._db.write() as conn:
                group_id = await conn.scalar(
                    self._db.insert(UserGroup).values(
                        group_name=group_name, group_type=group_type, ldap_group_dn=ldap_group_dn,
                        created_at=now, updated_at=now,
                    ).returning(UserGroup.id)
                )
        except IntegrityError:
            raise Conflict(f"the user group {group_name} already exists") from None
        return await self.get(int(group_id))

    async def find(self, group_type: int, group_name: str, ldap_group_dn: str = "") -> GroupRecord | None:
        # LDAP groups are the same group when their DN is (names may repeat); others by name
        condition = (
            func.lower(UserGroup.ldap_group_dn) == ldap_group_dn.lower()
            if group_type == LDAP_GROUP
            else UserGroup.group_name == group_name
        )
        async with self._db.read() as conn:
            row = (await conn.execute(select(UserGroup).where(UserGroup.group_type == group_type, condition))).first()
        return None if row is None else _record(row)

    async def ensure(self, group_type: int, group_name: str, ldap_group_dn: str = "") -> GroupRecord:
        found = await self.find(group_type, group_name, ldap_group_dn)
        if found is not None:
            return found
        try:
            return await self.create(group_name, group_type, ldap_group_dn)
        except Conflict:  # created concurrently
            found = await self.find(group_type, group_name, ldap_group_dn)
            assert found is not None
            return found

    async def get(self, group_id: int) -> GroupRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(UserGroup).where(UserGroup.id == group_id))).first()
        if row is None:
            raise NotFound(f"user group {group_id} not found")
        return _record(row)

    async def list(
        self, *, group_name: str | None = None, ldap_group_dn: str | None = None, exact: bool = False,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[GroupRecord], int]:
        query: Select = select(UserGroup)
        if group_name:
            query = query.where(
                UserGroup.group_name == group_name if exact else UserGroup.group_name.contains(group_name, autoescape=True)
            )
        if ldap_group_dn:
            query = query.where(func.lower(UserGroup.ldap_group_dn) == ldap_group_dn.lower())
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(UserGroup.id).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    async def rename(self, group_id: int, group_name: str) -> None:
        if not 1 <= len(group_name) <= 255:
            raise BadRequest("group_name must be 1-255 characters")
        async with self._db.write() as conn:
            result = await conn.execute(
                update(UserGroup).where(UserGroup.id == group_id).values(group_name=group_name, updated_at=utcnow())
            )
        if result.rowcount == 0:
            raise NotFound(f"user group {group_id} not found")

    async def delete(self, group_id: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                delete(ProjectMember).where(and_(ProjectMember.entity_type == "g", ProjectMember.entity_id == group_id))
            )
            result = await conn.execute(delete(UserGroup).where(UserGroup.id == group_id))
        if result.rowcount == 0:
            raise NotFound(f"user group {group_id} not found")
