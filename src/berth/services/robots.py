"""Robot accounts: Harbor's names, levels, permission lists, durations; secrets shown once, stored hashed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import Project, Robot, RobotPermission, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.security.passwords import generate_secret, password_problem
from berth.security.roles import ALL_PROJECTS, Permission, grantable
from berth.services.errors import BadRequest, Conflict, Denied, NotFound
from berth.services.users import hash_off_loop, verify_off_loop

ROBOT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
MAX_DURATION_DAYS = 2**31 - 1
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class RobotGrant:
    """One entry of a robot's `permissions`: kind, namespace and the access list."""

    kind: str
    namespace: str
    access: tuple[Permission, ...]
    project_id: int | None = None


@dataclass(frozen=True, slots=True)
class RobotRecord:
    id: int
    name: str  # stored name, without the prefix
    description: str
    level: str
    project_id: int | None
    duration: int
    expires_at: int
    disabled: bool
    creator_type: str
    creator_ref: int
    created_at: datetime
    updated_at: datetime
    grants: tuple[RobotGrant, ...]

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at != -1 and self.expires_at <= (now or time.time())

    def project_grants(self) -> dict[int, frozenset[Permission]]:
        out: dict[int, set[Permission]] = {}
        for grant in self.grants:
            if grant.kind != "project":
                continue
            key = ALL_PROJECTS if grant.namespace == "*" else grant.project_id
            if key is None:
                continue
            out.setdefault(key, set()).update(grant.access)
        return {key: frozenset(value) for key, value in out.items()}

    def system_grants(self) -> frozenset[Permission]:
        return frozenset(p for grant in self.grants if grant.kind == "system" for p in grant.access)


def parse_access(items: Sequence[Mapping[str, object]]) -> tuple[Permission, ...]:
    """An access list as permissions (pure); only effect "allow" exists in Harbor's model."""
    out: list[Permission] = []
    for item in items:
        resource, action = str(item.get("resource") or ""), str(item.get("action") or "")
        effect = str(item.get("effect") or "allow")
        if not resource or not action:
            raise BadRequest("each access needs a resource and an action")
        if effect != "allow":
            raise BadRequest(f"unsupported effect {effect!r}: only 'allow'")
        permission = Permission(resource, action)
        if permission not in out:
            out.append(permission)
    return tuple(out)


def project_access(
    access: Sequence[Permission], *, held: frozenset[Permission], sysadmin: bool, namespace: str, own_project: bool,
) -> tuple[Permission, ...]:
    """A project permission's access list as a robot may get it: only what may be granted in a project
    (admins may hand out more), never more than its creator holds there (`held`), and for a project
    level robot (`own_project`) push brings pull along, as in Harbor."""
    unknown = [str(p) for p in access if p not in grantable("project", sysadmin)]
    if unknown:
        raise BadRequest(f"unsupported access for a project permission: {', '.join(unknown)}")
    if not sysadmin and not all(p in held for p in access):
        raise Denied("the robot cannot be given permissions its creator does not hold in project " + namespace)
    pull, push = Permission("repository", "pull"), Permission("repository", "push")
    if own_project and push in access and pull not in access:
        return (*access, pull)
    return tuple(access)


class RobotService:
    def __init__(self, db: Database, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events or EventBus()
        self.version = 0

    async def _record(self, conn, operation: str, stored_name: str, level: str) -> None:  # type: ignore[no-untyped-def]
        """For the audit log, with the change: Harbor names a robot by its stored name ("team+ci")."""
        project = stored_name.partition("+")[0] if level == "project" and "+" in stored_name else None
        await self._events.record(conn, ResourceChanged(resource_type="robot", operation=operation,
                                                        resource=stored_name, project=project))

    def _changed(self) -> None:
        self.version += 1

    def forget(self) -> None:
        """Robots changed behind this service's back (deleted with their project)."""
        self._changed()

    async def create(
        self, *, name: str, description: str, level: str, duration: int, disabled: bool,
        grants: Sequence[RobotGrant], project: tuple[int, str] | None, creator_type: str, creator_ref: int,
        secret: str | None = None,
    ) -> tuple[RobotRecord, str]:
        """Store a robot; returns it and its plain secret (the only time the secret is seen)."""
        if not ROBOT_NAME.match(name) or len(name) > 200:
            raise BadRequest("robot name is not in lower case or contains illegal characters")
        if duration != -1 and not 0 < duration < MAX_DURATION_DAYS:
            raise BadRequest(f"bad request error duration input: {duration}, duration must be -1 or in (0, {MAX_DURATION_DAYS})")
        if secret is not None and password_problem(secret):
            raise BadRequest(password_problem(secret) or "")
        if len(description) > 1024:
            raise BadRequest("robot description is longer than 1024 characters")
        stored_name = f"{project[1]}+{name}" if level == "project" and project else name
        plain = secret or generate_secret()
        secret_hash = await hash_off_loop(plain)
        now = utcnow()
        expires_at = -1 if duration == -1 else int(now.timestamp()) + duration * _DAY
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(Robot.id).where(Robot.name == stored_name)) is not None:
                    raise Conflict(f"robot account {stored_name} already exists")
                robot_id = await conn.scalar(
                    self._db.insert(Robot).values(
                        name=stored_name, description=description, secret_hash=secret_hash, level=level,
                        project_id=project[0] if level == "project" and project else None, duration=duration,
                        expires_at=expires_at, disabled=disabled, creator_type=creator_type,
                        creator_ref=creator_ref, created_at=now, updated_at=now,
                    ).returning(Robot.id)
                )
                await self._store_grants(conn, int(robot_id), grants)
                await self._record(conn, "create", stored_name, level)
        except IntegrityError:
            raise Conflict(f"robot account {stored_name} already exists") from None
        self._changed()
        return await self.get(int(robot_id)), plain

    async def _store_grants(self, conn, robot_id: int, grants: Sequence[RobotGrant]) -> None:  # type: ignore[no-untyped-def]
        await conn.execute(delete(RobotPermission).where(RobotPermission.robot_id == robot_id))
        for grant in grants:
            await conn.execute(
                self._db.insert(RobotPermission).values(
                    robot_id=robot_id, kind=grant.kind, namespace=grant.namespace, project_id=grant.project_id,
                    access=json.dumps([{"resource": p.resource, "action": p.action, "effect": "allow"} for p in grant.access]),
                )
            )

    async def get(self, robot_id: int) -> RobotRecord:
        found = await self._load(select(Robot).where(Robot.id == robot_id))
        if not found:
            raise NotFound(f"robot {robot_id} not found")
        return found[0]

    async def find_by_name(self, stored_name: str) -> RobotRecord | None:
        found = await self._load(select(Robot).where(Robot.name == stored_name))
        return found[0] if found else None

    async def list(
        self, *, project_id: int | None = None, level: str | None = None, name: str | None = None,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[RobotRecord], int]:
        query: Select = select(Robot)
        if project_id is not None:
            query = query.where(Robot.project_id == project_id)
        if level is not None:
            query = query.where(Robot.level == level)
        if name:
            query = query.where(Robot.name.contains(name, autoescape=True))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
        return await self._load(query.order_by(Robot.id).offset(offset).limit(limit)), total

    async def _load(self, query: Select) -> list[RobotRecord]:
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            ids = [row.id for row in rows]
            grants: dict[int, list[RobotGrant]] = {i: [] for i in ids}
            if ids:
                perms = await conn.execute(
                    select(RobotPermission, Project.name.label("project_name"))
                    .outerjoin(Project, Project.id == RobotPermission.project_id)
                    .where(RobotPermission.robot_id.in_(ids))
                    .order_by(RobotPermission.id)
                )
                for perm in perms:
                    access = parse_access(json.loads(perm.access))
                    namespace = perm.project_name if perm.project_id is not None else perm.namespace
                    grants[perm.robot_id].append(RobotGrant(perm.kind, namespace, access, perm.project_id))
        return [
            RobotRecord(
                row.id, row.name, row.description, row.level, row.project_id, row.duration, row.expires_at,
                row.disabled, row.creator_type, row.creator_ref, row.created_at, row.updated_at,
                tuple(grants[row.id]),
            )
            for row in rows
        ]

    async def update(
        self, robot: RobotRecord, *, description: str, duration: int, disabled: bool, grants: Sequence[RobotGrant],
    ) -> None:
        if duration != -1 and not 0 < duration < MAX_DURATION_DAYS:
            raise BadRequest(f"bad request error duration input: {duration}, duration must be -1 or in (0, {MAX_DURATION_DAYS})")
        created = robot.created_at.timestamp() if robot.created_at.tzinfo else robot.created_at.replace(tzinfo=UTC).timestamp()
        expires_at = -1 if duration == -1 else int(created) + duration * _DAY
        async with self._db.write() as conn:
            await conn.execute(
                update(Robot).where(Robot.id == robot.id).values(
                    description=description, duration=duration, expires_at=expires_at, disabled=disabled, updated_at=utcnow()
                )
            )
            await self._store_grants(conn, robot.id, grants)
            await self._record(conn, "update", robot.name, robot.level)
        self._changed()

    async def refresh_secret(self, robot_id: int, secret: str | None) -> str | None:
        """Set the given secret, or generate one; returns the generated secret (None when one was given)."""
        if secret is not None and password_problem(secret):
            raise BadRequest(password_problem(secret) or "")
        await self.get(robot_id)
        plain = secret or generate_secret()
        secret_hash = await hash_off_loop(plain)
        async with self._db.write() as conn:
            await conn.execute(update(Robot).where(Robot.id == robot_id).values(secret_hash=secret_hash, updated_at=utcnow()))
        self._changed()
        return None if secret else plain

    async def delete(self, robot_id: int) -> None:
        async with self._db.write() as conn:
            row = (await conn.execute(select(Robot.name, Robot.level).where(Robot.id == robot_id))).first()
            result = await conn.execute(delete(Robot).where(Robot.id == robot_id))
            if result.rowcount and row is not None:
                await self._record(conn, "delete", row.name, row.level)
        if result.rowcount == 0 or row is None:
            raise NotFound(f"robot {robot_id} not found")
        self._changed()

    async def check(self, stored_name: str, secret: str) -> tuple[RobotRecord | None, str]:
        """(robot, "") when the secret is right and the robot usable; else (None, why) for the log."""
        async with self._db.read() as conn:
            secret_hash = await conn.scalar(select(Robot.secret_hash).where(Robot.name == stored_name))
        if not await verify_off_loop(secret_hash, secret):
            return None, "wrong name or secret"
        robot = await self.find_by_name(stored_name)
        if robot is None:
            return None, "wrong name or secret"
        if robot.disabled:
            return None, "robot is disabled"
        if robot.expired():
            return None, "robot has expired"
        return robot, ""
