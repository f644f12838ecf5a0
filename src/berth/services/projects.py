"""Projects: creation with Harbor's rules, metadata, CVE allowlists, storage limits, members and roles.

`ref(name)` answers the hot path's question (which project, public or not, since when) from an
in-process cache dropped on every project write.
"""

from __future__ import annotations

from typing import Any

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, delete, func, or_, select, union, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import (
    INTEGER_RANGE,
    Blob,
    CveAllowlist,
    Manifest,
    Project,
    ProjectMember,
    ProjectMetadata,
    Quota,
    Repository,
    RepositoryBlob,
    Robot,
    User,
    UserGroup,
    UserGroupMember,
    utcnow,
)
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.security.roles import ProjectRef, Role
from berth.services.cache import LruCache
from berth.services.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from berth.services.querying import conditions, orderings

PROJECT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_BOOL_KEYS = (
    "public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "auto_scan",
    "auto_sbom_generation", "reuse_sys_cve_allowlist", "proxy_cache_local_on_not_found", "proxy_referrer_api",
)
_SEVERITIES = ("none", "unknown", "negligible", "low", "medium", "high", "critical")
METADATA_KEYS = (
    *_BOOL_KEYS, "severity", "retention_id", "proxy_speed_kb", "max_upstream_conn",
    "proxy_cache_filter_pattern", "proxy_cache_filter_kind",
)
#: metadata only a proxy-cache project uses
PROXY_KEYS = ("proxy_speed_kb", "max_upstream_conn", "proxy_cache_filter_pattern", "proxy_cache_filter_kind")
#: what `q` and `sort` may name in a project list (Harbor's keys)
_PROJECT_KEYS = {
    "name": Project.name, "project_id": Project.id, "owner_id": Project.owner_id, "registry_id": Project.registry_id,
    "creation_time": Project.created_at, "update_time": Project.updated_at,
}
_CVE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


UNLIMITED = -1
#: Harbor's ceiling for a storage limit: 1024 TiB
MAX_LIMIT = 1024**5


def limit_problem(value: object) -> str | None:
    """Harbor's check of a storage limit (pure): -1, or 1 byte to 1024 TiB."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "the storage limit must be an integer number of bytes"
    if value <= 0 and value != UNLIMITED:
        return f"invalid non-positive value for quota limit, value={value}"
    if value > MAX_LIMIT:
        return f"exceeded 1024TB, which is {MAX_LIMIT} Bytes, value={value}"
    return None


def name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= 255 or not PROJECT_NAME.match(name):
        return (
            "project name must be 1-255 characters of lower case letters, digits and . _ - "
            "(not at the start or end, not two in a row)"
        )
    return None


def normalize_metadata(values: Mapping[str, object]) -> dict[str, str]:
    """Harbor's metadata keys with validated string values (pure). Unknown keys are refused."""
    out: dict[str, str] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        if key not in METADATA_KEYS:
            raise BadRequest(f"unsupported metadata key: {key}")
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if key in _BOOL_KEYS:
            if value.lower() not in ("true", "false"):
                raise BadRequest(f"metadata.{key} should only be 'true' or 'false', but got: '{value}'")
            value = value.lower()
        elif key == "severity":
            if value.lower() not in _SEVERITIES:
                raise BadRequest(f"metadata.severity must be one of {', '.join(_SEVERITIES)}, but got: '{value}'")
            value = value.lower()
        elif key in ("proxy_speed_kb", "max_upstream_conn", "retention_id"):
            if value and not value.lstrip("-").isdigit():
                raise BadRequest(f"metadata.{key} should be an integer, but got: '{value}'")
        elif key == "proxy_cache_filter_kind" and value not in ("", "doublestar", "regex"):
            raise BadRequest(f'metadata.proxy_cache_filter_kind should be "doublestar" or "regex", but got: "{value}"')
        if len(value) > 255:
            raise BadRequest(f"metadata.{key} is longer than 255 characters")
        out[key] = value
    return out


def settable_metadata(metadata: Mapping[str, object], *, proxy_cache: bool) -> dict[str, object]:
    """What a project update may set: `retention_id` is the retention policy's own, and a proxy-cache
    project keeps no content-trust switch (as on create)."""
    out = {key: value for key, value in metadata.items() if key != "retention_id"}
    if proxy_cache:
        out.pop("enable_content_trust", None)
    return out


def normalize_allowlist(items: Iterable[Mapping[str, object]] | None) -> list[str]:
    cves: list[str] = []
    for item in items or ():
        cve = str(item.get("cve_id", "")).strip()
        if not _CVE_ID.match(cve):
            raise BadRequest(f"invalid CVE id in cve_allowlist: {cve[:64]!r}")
        if cve not in cves:
            cves.append(cve)
    return cves


@dataclass(frozen=True, slots=True)
class AllowlistRecord:
    id: int
    project_id: int
    expires_at: int | None
    items: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    owner_id: int | None
    owner_name: str
    registry_id: int | None
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, str]
    repo_count: int
    allowlist: AllowlistRecord | None = None

    @property
    def public(self) -> bool:
        return self.metadata.get("public") == "true"

    @property
    def ref(self) -> ProjectRef:
        return ProjectRef(self.id, self.public, _ts(self.created_at), self.registry_id or 0)


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    project_id: int
    entity_type: str
    entity_id: int
    entity_name: str
    role: int


@dataclass(frozen=True, slots=True)
class ProjectCounts:
    public_projects: int
    private_projects: int
    public_repositories: int
    private_repositories: int


@dataclass(slots=True)
class ProjectFilter:
    name: str | None = None
    public: bool | None = None
    owner: str | None = None
    #: restrict to these project ids (None: no restriction) ...
    ids: set[int] | None = None
    #: ... plus every public project
    include_public: bool = False


class ProjectService:
    def __init__(self, db: Database, cache_ttl: float = 0.0, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events or EventBus()
        # bounded even on one node: another node may change a project, and this is checked on every pull
        self._refs: LruCache[str, ProjectRef] = LruCache(max_entries=50_000, ttl=cache_ttl or 60.0)
        #: user id -> project id -> roles; dropped on every project or member change
        self._roles: LruCache[int, dict[int, frozenset[Role]]] = LruCache(max_entries=20_000, ttl=cache_ttl or 60.0)
        #: bumped when members change (cached credentials carry roles)
        self.version = 0
        #: called after every project change (the pull policy forgets project settings)
        self.changed_hooks: list[Callable[[], None]] = []

    # --- the hot path ---------------------------------------------------------------------------

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"projects": self._refs, "project_roles": self._roles}

    async def ref(self, name: str) -> ProjectRef | None:
        cached = self._refs.get(name)
        if cached is not None:
            return cached
        version = self._refs.version
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(Project.id, Project.created_at, Project.registry_id, ProjectMetadata.value)
                    .outerjoin(ProjectMetadata, and_(ProjectMetadata.project_id == Project.id, ProjectMetadata.name == "public"))
                    .where(Project.name == name)
                )
            ).first()
        if row is None:
            return None
        ref = ProjectRef(row.id, row.value == "true", _ts(row.created_at), row.registry_id or 0)
        self._refs.put(name, ref, if_version=version)
        return ref

    def _changed(self) -> None:
        self._refs.clear()
        self._members_changed()
        for hook in self.changed_hooks:
            hook()

    def _members_changed(self) -> None:
        self._roles.clear()
        self.version += 1

    # --- projects -------------------------------------------------------------------------------

    async def create(
        self, name: str, owner_id: int | None, *, metadata: Mapping[str, object] | None = None,
        storage_limit: int | None = None, allowlist: list[str] | None = None, add_owner_as_admin: bool = True,
        registry_id: int | None = None, allowlist_expires_at: int | None = None,
    ) -> ProjectRecord:
        problem = name_problem(name)
        if problem:
            raise BadRequest(problem)
        meta = normalize_metadata(metadata or {})
        if meta.get("retention_id"):
            raise BadRequest(
                "the retention_id in the request's payload when creating a project should be omitted, "
                "alternatively passing an empty string"
            )
        meta.pop("retention_id", None)
        meta.setdefault("public", "false")
        if storage_limit is not None and storage_limit != 0:
            problem = limit_problem(storage_limit)
            if problem:
                raise BadRequest(problem)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(Project.id).where(Project.name == name)) is not None:
                    raise Conflict(f"The project named {name} already exists")
                project_id = await conn.scalar(
                    self._db.insert(Project)
                    .values(name=name, owner_id=owner_id, registry_id=registry_id, created_at=now, updated_at=now)
                    .returning(Project.id)
                )
                for key, value in meta.items():
                    await conn.execute(self._db.insert(ProjectMetadata).values(project_id=project_id, name=key, value=value))
                await conn.execute(
                    self._db.insert(CveAllowlist).values(
                        project_id=project_id, items=json.dumps(allowlist or []), expires_at=allowlist_expires_at,
                        created_at=now, updated_at=now,
                    )
                )
                await conn.execute(
                    self._db.insert(Quota).values(
                        project_id=project_id, hard_storage=-1 if storage_limit is None else storage_limit,
                        created_at=now, updated_at=now,
                    )
                )
                if owner_id is not None and add_owner_as_admin:
                    await conn.execute(
                        self._db.insert(ProjectMember).values(
                            project_id=project_id, entity_type="u", entity_id=owner_id, role=int(Role.PROJECT_ADMIN),
                            created_at=now, updated_at=now,
                        )
                    )
                await self._events.record(conn, ResourceChanged(resource_type="project", operation="create",
                                                                resource=name, project=name))
        except IntegrityError:
            raise Conflict(f"The project named {name} already exists") from None
        self._changed()
        return await self.get(str(project_id))

    async def get(self, name_or_id: str, *, by_name: bool | None = None) -> ProjectRecord:
        """By id when `name_or_id` is all digits (unless `by_name`), else by name; as Harbor's
        X-Is-Resource-Name header decides."""
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        digits = name_or_id.isascii() and name_or_id.isdigit()
        as_id = digits if by_name is None else not by_name
        if as_id and not (digits and int(name_or_id) in INTEGER_RANGE):
            raise NotFound(f"project {name_or_id} not found")  # no id column holds it
        condition = Project.id == int(name_or_id) if as_id else Project.name == name_or_id
        records = await self._load(select(Project).where(condition))
        if not records:
            raise NotFound(f"project {name_or_id} not found")
        return records[0]

    async def find(self, name_or_id: str) -> ProjectRecord | None:
        try:
            return await self.get(name_or_id)
        except NotFound:
            return None

    async def list(
        self, filt: ProjectFilter, *, offset: int, limit: int, q: str | None = None, sort: str | None = None,
    ) -> tuple[list[ProjectRecord], int]:
        """A page of projects and the total; `q` and `sort` in Harbor's language."""
        query: Select = select(Project).where(*conditions(q, _PROJECT_KEYS))
        if filt.name:
            query = query.where(Project.name.contains(filt.name, autoescape=True))
        if filt.owner:
            query = query.join(User, User.id == Project.owner_id).where(User.username == filt.owner)
        public_ids = select(ProjectMetadata.project_id).where(ProjectMetadata.name == "public", ProjectMetadata.value == "true")
        if filt.public is not None:
            query = query.where(Project.id.in_(public_ids) if filt.public else Project.id.not_in(public_ids))
        if filt.ids is not None:
            visible = Project.id.in_(sorted(filt.ids)) if filt.ids else Project.id.in_([-1])
            query = query.where(or_(visible, Project.id.in_(public_ids)) if filt.include_public else visible)
        order = orderings(sort, _PROJECT_KEYS, [Project.name])
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
        records = await self._load(query.order_by(*order, Project.id).offset(offset).limit(limit))
        return records, total

    async def _load(self, query: Select) -> list[ProjectRecord]:
        async with self._db.read() as conn:
            projects = (await conn.execute(query)).all()
            ids = [row.id for row in projects]
            if not ids:
                return []
            meta: dict[int, dict[str, str]] = {i: {} for i in ids}
            for row in await conn.execute(select(ProjectMetadata).where(ProjectMetadata.project_id.in_(ids))):
                meta[row.project_id][row.name] = row.value
            counts = dict(
                (await conn.execute(
                    select(Repository.project_id, func.count()).where(Repository.project_id.in_(ids)).group_by(Repository.project_id)
                )).all()
            )
            owners = dict(
                (await conn.execute(
                    select(User.id, User.username).where(User.id.in_({row.owner_id for row in projects if row.owner_id}))
                )).all()
            )
            allowlists = {
                row.project_id: AllowlistRecord(
                    row.id, row.project_id, row.expires_at, json.loads(row.items), row.created_at, row.updated_at
                )
                for row in await conn.execute(select(CveAllowlist).where(CveAllowlist.project_id.in_(ids)))
            }
        return [
            ProjectRecord(
                row.id, row.name, row.owner_id, owners.get(row.owner_id, ""), row.registry_id, row.created_at,
                row.updated_at, meta[row.id], int(counts.get(row.id, 0)), allowlists.get(row.id),
            )
            for row in projects
        ]

    async def update(
        self, project_id: int, *, metadata: Mapping[str, object] | None = None,
        allowlist: list[str] | None = None, allowlist_expires_at: int | None | bool = False,
    ) -> None:
        meta = normalize_metadata(metadata or {})
        now = utcnow()
        async with self._db.write() as conn:
            for key, value in meta.items():
                await conn.execute(
                    delete(ProjectMetadata).where(ProjectMetadata.project_id == project_id, ProjectMetadata.name == key)
                )
                await conn.execute(self._db.insert(ProjectMetadata).values(project_id=project_id, name=key, value=value))
            if allowlist is not None:
                values: dict[str, object] = {"items": json.dumps(allowlist), "updated_at": now}
                if allowlist_expires_at is not False:
                    values["expires_at"] = allowlist_expires_at
                await conn.execute(update(CveAllowlist).where(CveAllowlist.project_id == project_id).values(**values))
            await conn.execute(update(Project).where(Project.id == project_id).values(updated_at=now))
            await self._record_project_update(conn, project_id)
        self._changed()

    async def delete_metadata(self, project_id: int, key: str) -> None:
        if key not in METADATA_KEYS:
            raise BadRequest(f"unsupported metadata key: {key}")
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(ProjectMetadata).where(ProjectMetadata.project_id == project_id, ProjectMetadata.name == key)
            )
            if result.rowcount:
                await self._record_project_update(conn, project_id)
        if result.rowcount == 0:
            raise NotFound(f"metadata {key} not found in project {project_id}")
        self._changed()

    async def _record_project_update(self, conn, project_id: int) -> None:  # type: ignore[no-untyped-def]
        name = await conn.scalar(select(Project.name).where(Project.id == project_id))
        if name:
            await self._events.record(conn, ResourceChanged(resource_type="project", operation="update",
                                                            resource=name, project=name))

    async def deletable(self, project: ProjectRecord) -> tuple[bool, str]:
        if project.repo_count > 0:
            return False, "the project contains repositories, can not be deleted"
        return True, ""

    async def delete(self, project: ProjectRecord) -> None:
        async with self._db.write() as conn:
            if await conn.scalar(select(func.count()).select_from(Repository).where(Repository.project_id == project.id)):
                raise PreconditionFailed("the project contains repositories, can not be deleted")
            await conn.execute(delete(Robot).where(Robot.project_id == project.id))
            await conn.execute(delete(Project).where(Project.id == project.id))
            await self._events.record(conn, ResourceChanged(resource_type="project", operation="delete",
                                                            resource=project.name, project=project.name))
        self._changed()

    async def adopt_orphans(self, owner_id: int) -> None:
        """Projects made by the 0002 migration have no owner: give them to the admin."""
        async with self._db.write() as conn:
            orphans = (await conn.execute(select(Project.id).where(Project.owner_id.is_(None)))).scalars().all()
            now = utcnow()
            for project_id in orphans:
                await conn.execute(update(Project).where(Project.id == project_id).values(owner_id=owner_id))
                await conn.execute(
                    self._db.insert(ProjectMember).values(
                        project_id=project_id, entity_type="u", entity_id=owner_id, role=int(Role.PROJECT_ADMIN),
                        created_at=now, updated_at=now,
                    ).on_conflict_do_nothing()
                )
                for table in (CveAllowlist, Quota):
                    exists = await conn.scalar(select(table.id).where(table.project_id == project_id))
                    if exists is None:
                        await conn.execute(self._db.insert(table).values(project_id=project_id, created_at=now, updated_at=now))
        if orphans:
            self._changed()

    # --- members --------------------------------------------------------------------------------

    async def roles_of(self, user_id: int) -> dict[int, frozenset[Role]]:
        """Project id -> the roles `user_id` holds there, directly or through its groups."""
        cached = self._roles.get(user_id)
        if cached is not None:
            return cached
        version = self._roles.version
        roles = await self._load_roles(user_id)
        self._roles.put(user_id, roles, if_version=version)
        return roles

    def groups_changed(self) -> None:
        """A user's groups changed (at an LDAP or OIDC login): roles through groups may differ."""
        self._members_changed()

    async def _load_roles(self, user_id: int) -> dict[int, frozenset[Role]]:
        async with self._db.read() as conn:
            groups = select(UserGroupMember.group_id).where(UserGroupMember.user_id == user_id)
            rows = await conn.execute(
                select(ProjectMember.project_id, ProjectMember.role).where(
                    or_(
                        and_(ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id),
                        and_(ProjectMember.entity_type == "g", ProjectMember.entity_id.in_(groups)),
                    )
                )
            )
            roles: dict[int, set[Role]] = {}
            for project_id, role in rows:
                if role in Role._value2member_map_:
                    roles.setdefault(project_id, set()).add(Role(role))
        return {project_id: frozenset(found) for project_id, found in roles.items()}

    async def add_member(self, project_id: int, entity_type: str, entity_id: int, role: int) -> int:
        if role not in Role._value2member_map_:
            raise BadRequest(f"invalid role_id {role}: one of 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer), 5 (limitedGuest)")
        now = utcnow()
        try:
            async with self._db.write() as conn:
                exists = await conn.scalar(
                    select(ProjectMember.id).where(
                        ProjectMember.project_id == project_id, ProjectMember.entity_type == entity_type,
                        ProjectMember.entity_id == entity_id,
                    )
                )
                if exists is not None:
                    raise Conflict("The project member specified already exist")
                member_id = await conn.scalar(
                    self._db.insert(ProjectMember).values(
                        project_id=project_id, entity_type=entity_type, entity_id=entity_id, role=role,
                        created_at=now, updated_at=now,
                    ).returning(ProjectMember.id)
                )
                await self._record_member(conn, "create", project_id, int(member_id))
        except IntegrityError:
            raise Conflict("The project member specified already exist") from None
        self._members_changed()
        return int(member_id)

    async def members(
        self, project_id: int, entity_name: str | None = None, *, offset: int = 0, limit: int = 10,
    ) -> tuple[list[MemberRecord], int]:
        users = (
            select(ProjectMember.id, ProjectMember.project_id, ProjectMember.entity_type, ProjectMember.entity_id,
                   User.username.label("entity_name"), ProjectMember.role)
            .join(User, and_(ProjectMember.entity_type == "u", User.id == ProjectMember.entity_id))
            .where(ProjectMember.project_id == project_id)
        )
        groups = (
            select(ProjectMember.id, ProjectMember.project_id, ProjectMember.entity_type, ProjectMember.entity_id,
                   UserGroup.group_name.label("entity_name"), ProjectMember.role)
            .join(UserGroup, and_(ProjectMember.entity_type == "g", UserGroup.id == ProjectMember.entity_id))
            .where(ProjectMember.project_id == project_id)
        )
        if entity_name:
            users = users.where(User.username.contains(entity_name, autoescape=True))
            groups = groups.where(UserGroup.group_name.contains(entity_name, autoescape=True))
        union = users.union_all(groups).subquery()
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(union)) or 0)
            rows = (await conn.execute(select(union).order_by(union.c.id).offset(offset).limit(limit))).all()
        return [MemberRecord(r.id, r.project_id, r.entity_type, r.entity_id, r.entity_name, r.role) for r in rows], total

    async def member(self, project_id: int, member_id: int) -> MemberRecord:
        found, _ = await self.members(project_id, offset=0, limit=1_000_000)
        for record in found:
            if record.id == member_id:
                return record
        raise NotFound(f"project member {member_id} not found")

    async def update_member(self, project_id: int, member_id: int, role: int) -> None:
        if role not in Role._value2member_map_:
            raise BadRequest(f"invalid role_id {role}: one of 1, 2, 3, 4, 5")
        async with self._db.write() as conn:
            result = await conn.execute(
                update(ProjectMember)
                .where(ProjectMember.id == member_id, ProjectMember.project_id == project_id)
                .values(role=role, updated_at=utcnow())
            )
            if result.rowcount:
                await self._record_member(conn, "update", project_id, member_id)
        if result.rowcount == 0:
            raise NotFound(f"project member {member_id} not found")
        self._members_changed()

    async def remove_member(self, project_id: int, member_id: int) -> None:
        async with self._db.write() as conn:
            event = await self._member_event(conn, "delete", project_id, member_id)  # named while it exists
            result = await conn.execute(
                delete(ProjectMember).where(ProjectMember.id == member_id, ProjectMember.project_id == project_id)
            )
            if result.rowcount:
                await self._events.record(conn, event)
        if result.rowcount == 0:
            raise NotFound(f"project member {member_id} not found")
        self._members_changed()

    async def _member_names(self, conn, project_id: int, member_id: int) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
        """(project name, "user" or "group", user or group name) of a member, for the audit log."""
        project = await conn.scalar(select(Project.name).where(Project.id == project_id)) or str(project_id)
        row = (await conn.execute(select(ProjectMember.entity_type, ProjectMember.entity_id)
                                  .where(ProjectMember.id == member_id))).first()
        if row is None:
            return project, "member", str(member_id)
        if row.entity_type == "u":
            name = await conn.scalar(select(User.username).where(User.id == row.entity_id))
            return project, "user", name or str(row.entity_id)
        name = await conn.scalar(select(UserGroup.group_name).where(UserGroup.id == row.entity_id))
        return project, "group", name or str(row.entity_id)

    async def _member_event(self, conn, operation: str, project_id: int, member_id: int) -> ResourceChanged:  # type: ignore[no-untyped-def]
        project, kind, name = await self._member_names(conn, project_id, member_id)
        preposition = "from" if operation == "delete" else "in"
        return ResourceChanged(
            resource_type="project_member", operation=operation, resource=name, project=project,
            description=f"{operation} {kind} member {name} {preposition} project {project}",
        )

    async def _record_member(self, conn, operation: str, project_id: int, member_id: int) -> None:  # type: ignore[no-untyped-def]
        await self._events.record(conn, await self._member_event(conn, operation, project_id, member_id))

    async def role_counts(self, project_id: int) -> dict[int, int]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(ProjectMember.role, func.count()).where(ProjectMember.project_id == project_id).group_by(ProjectMember.role)
            )
            return {int(role): int(count) for role, count in rows}

    async def counts(self, visible: set[int] | None) -> ProjectCounts:
        """Public and private projects and their repositories, among `visible` (None: all)."""
        public = select(ProjectMetadata.project_id).where(ProjectMetadata.name == "public", ProjectMetadata.value == "true")
        scope = [] if visible is None else [Project.id.in_(sorted(visible))]
        repo_scope = [] if visible is None else [Repository.project_id.in_(sorted(visible))]
        async with self._db.read() as conn:
            async def count(query) -> int:  # type: ignore[no-untyped-def]
                return int(await conn.scalar(query) or 0)

            return ProjectCounts(
                await count(select(func.count()).select_from(Project).where(Project.id.in_(public), *scope)),
                await count(select(func.count()).select_from(Project).where(Project.id.not_in(public), *scope)),
                await count(select(func.count()).select_from(Repository)
                            .where(Repository.project_id.in_(public), *repo_scope)),
                await count(select(func.count()).select_from(Repository)
                            .where(Repository.project_id.not_in(public), *repo_scope)),
            )

    async def total_storage(self) -> int:
        """Bytes stored across projects, each blob and manifest counted once per project (as quotas count)."""
        per_project = union(
            select(Repository.project_id, Blob.digest, Blob.size)
            .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
            .join(Repository, Repository.id == RepositoryBlob.repository_id),
            select(Repository.project_id, Manifest.digest, Manifest.size)
            .join(Repository, Repository.id == Manifest.repository_id),
        ).subquery()
        async with self._db.read() as conn:
            return int(await conn.scalar(select(func.coalesce(func.sum(per_project.c.size), 0))) or 0)

    async def using_registry(self, registry_id: int) -> list[str]:
        """The proxy-cache projects whose upstream is registry `registry_id`."""
        async with self._db.read() as conn:
            rows = await conn.execute(select(Project.name).where(Project.registry_id == registry_id).order_by(Project.name))
            return list(rows.scalars())

    async def public_ids(self) -> set[int]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(ProjectMetadata.project_id).where(ProjectMetadata.name == "public", ProjectMetadata.value == "true")
            )
            return set(rows.scalars())

    async def names_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        async with self._db.read() as conn:
            rows = await conn.execute(select(Project.id, Project.name).where(Project.id.in_(sorted(set(ids)))))
            return {row.id: row.name for row in rows}


def _ts(value: datetime) -> float:
    # SQLite hands back naive datetimes; berth stores UTC
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
