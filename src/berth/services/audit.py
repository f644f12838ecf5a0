"""Harbor's audit log: events turned into audit rows (`audit_entry`, pure), the subscribers that
write them (`record_events` for the outbox, in its delivery transaction and keyed by the outbox row
id; `handle` for pulls from the in-memory bus) and forward them to syslog, listing, and purging.

What is recorded follows Harbor (src/controller/event/topic.go, src/pkg/auditext/event/): the event
type is `<operation>_<resource_type>` and the configuration items `disabled_audit_log_event_types`,
`pull_audit_log_disable`, `audit_log_forward_endpoint` and `skip_audit_log_database` decide where an
entry goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, delete, false, func, select
from sqlalchemy.exc import DBAPIError

from berth.db.models import AuditLog, Project, utcnow
from berth.db.session import Database, after_commit
from berth.events.outbox import OutboxEvent
from berth.events.types import (
    ArtifactDeleted,
    ArtifactPulled,
    ArtifactPushed,
    ContentTrustAudit,
    Event,
    RepositoryDeleted,
    ResourceChanged,
    TagCreated,
    TagDeleted,
)
from berth.query import Range
from berth.services.configurations import ConfigurationService
from berth.services.errors import BadRequest
from berth.services.querying import conditions, orderings

log = structlog.get_logger("berth.audit")

#: Harbor's event types in Harbor's order (src/pkg/auditext/model/model.go), then berth's additions
EVENT_TYPES: tuple[str, ...] = (
    "create_artifact", "delete_artifact", "pull_artifact", "create_project", "delete_project",
    "delete_repository", "login_user", "logout_user", "create_user", "delete_user", "update_user",
    "create_robot", "delete_robot", "update_configuration", "create_member", "delete_member",
    "update_member", "update_project",
    # berth's additions
    "create_tag", "delete_tag", "update_robot", "create_scanner", "update_scanner", "delete_scanner",
    "update_trust_policy", "audit_content_trust",
    "create_immutable_tag_rule", "update_immutable_tag_rule", "delete_immutable_tag_rule",
)
#: Harbor's purge keyword for every event type but the artifact ones
OTHER_EVENTS = "other"
#: the longest retention a purge accepts (Harbor's MaxAuditRetentionHour)
MAX_RETENTION_HOURS = 240_000
#: the resource types services publish that Harbor's audit log spells differently
_RESOURCE_TYPES = {"project_member": "member"}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row before its project name is turned into the project's id."""

    project: str | None
    event_type: str
    operation: str
    operation_description: str
    operation_result: bool
    resource_type: str
    resource: str
    username: str
    client_address: str
    op_time: datetime
    request_id: str = ""


def _artifact_resource(repository: str, digest: str, tags: Sequence[str]) -> str:
    return f"{repository}:{tags[0]}" if tags else f"{repository}@{digest}"


def default_description(resource_type: str, operation: str, resource: str) -> str:
    """Harbor's wording where the publisher gave none (pure)."""
    if resource_type == "user":
        if operation in ("login", "logout"):
            return operation
        return f"{operation} user with name: {resource}"
    if resource_type == "configuration":
        return "update configuration"
    return f"{operation} {resource_type}: {resource}"


def audit_entry(event: Event) -> AuditEntry | None:
    """The audit row an event makes, as Harbor writes it, or None for events the log ignores (pure)."""
    common = {"username": event.operator or "anonymous", "client_address": event.client_address,
              "op_time": event.occurred_at, "operation_result": True, "request_id": event.request_id}
    if isinstance(event, ContentTrustAudit):
        resource = _artifact_resource(event.repository, event.digest, event.tags)
        return AuditEntry(
            project=event.project_name, event_type="audit_content_trust", operation="audit",
            operation_description=f"untrusted pull allowed by audit mode: {resource}: {event.reason}"[:1000],
            resource_type="content_trust", resource=resource, **{**common, "operation_result": False},
        )
    if isinstance(event, ArtifactPushed | ArtifactPulled | ArtifactDeleted):
        operation, verb = {ArtifactPushed: ("create", "push"), ArtifactPulled: ("pull", "pull"),
                           ArtifactDeleted: ("delete", "delete")}[type(event)]
        tags = () if isinstance(event, ArtifactDeleted) else event.tags
        return AuditEntry(
            project=event.project_name, event_type=f"{operation}_artifact", operation=operation,
            operation_description=f"{verb} artifact: {event.repository}@{event.digest}", resource_type="artifact",
            resource=_artifact_resource(event.repository, event.digest, tags), **common,
        )
    if isinstance(event, TagCreated | TagDeleted):
        operation = "create" if isinstance(event, TagCreated) else "delete"
        resource = f"{event.repository}:{event.tag}"
        return AuditEntry(
            project=event.project_name, event_type=f"{operation}_tag", operation=operation,
            operation_description=f"{operation} tag: {resource}", resource_type="tag", resource=resource, **common,
        )
    if isinstance(event, RepositoryDeleted):
        return AuditEntry(
            project=event.project_name, event_type="delete_repository", operation="delete",
            operation_description=f"delete repository: {event.repository}", resource_type="repository",
            resource=event.repository, **common,
        )
    if isinstance(event, ResourceChanged):
        resource_type = _RESOURCE_TYPES.get(event.resource_type, event.resource_type)
        common["operation_result"] = event.succeeded
        return AuditEntry(
            project=event.project, event_type=f"{event.operation}_{resource_type}", operation=event.operation,
            operation_description=event.description or default_description(resource_type, event.operation, event.resource),
            resource_type=resource_type, resource=event.resource, **common,
        )
    return None


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The configuration items that decide where entries go."""

    disabled: frozenset[str] = frozenset()
    pull_disabled: bool = False
    forward_endpoint: str = ""
    skip_database: bool = False

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> AuditSettings:
        disabled = str(values.get("disabled_audit_log_event_types") or "")
        return cls(
            disabled=frozenset(t.strip().lower() for t in disabled.split(",") if t.strip()),
            pull_disabled=bool(values.get("pull_audit_log_disable")),
            forward_endpoint=str(values.get("audit_log_forward_endpoint") or "").strip(),
            skip_database=bool(values.get("skip_audit_log_database")),
        )

    def records(self, entry: AuditEntry) -> bool:
        """Whether the entry is recorded at all (pure)."""
        if entry.event_type == "pull_artifact" and self.pull_disabled:
            return False
        return entry.event_type not in self.disabled

    @property
    def writes_database(self) -> bool:
        # skipping the database only counts when the entries go somewhere else
        return not (self.skip_database and self.forward_endpoint)


def purge_event_types(include: str | Iterable[str]) -> list[str]:
    """The event types a purge's `include_event_types` names: known types and "other" (every type but
    the artifact ones); unknown names are ignored and nothing named means nothing purged (pure)."""
    names = include.split(",") if isinstance(include, str) else list(include)
    out: list[str] = []
    for name in (n.strip().lower() for n in names):
        if name == OTHER_EVENTS:
            out.extend(t for t in EVENT_TYPES if not t.endswith("_artifact"))
        elif name in EVENT_TYPES:
            out.append(name)
    return sorted(set(out), key=EVENT_TYPES.index)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    project_id: int
    event_type: str
    operation: str
    operation_description: str
    operation_result: bool
    resource_type: str
    resource: str
    username: str
    client_address: str
    op_time: datetime


#: Harbor's audit `q` keys and sort keys
_KEYS = {
    "username": AuditLog.username, "resource": AuditLog.resource, "resource_type": AuditLog.resource_type,
    "operation": AuditLog.operation, "op_time": AuditLog.op_time, "event_type": AuditLog.event_type,
    "id": AuditLog.id, "project_id": AuditLog.project_id,
}

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _time(value: Any) -> Any:
    """Harbor's UI sends `op_time=[2024-01-01 00:00:00~2024-12-31 23:59:59]` (PostgreSQL casts the
    strings there); berth parses them so that SQLite compares times too."""
    if not isinstance(value, str):
        return value
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            pass
    raise BadRequest(f"invalid time {value[:40]!r} in op_time: use 2006-01-02 15:04:05")


def audit_conditions(q: str | None) -> list[Any]:
    """Harbor's `q` over the audit columns, with op_time values read as times."""
    return conditions(q, _KEYS, {"op_time": _op_time})


def _op_time(value: Any) -> Any:
    return Range(_time(value.min), _time(value.max)) if isinstance(value, Range) else _time(value)


#: a write that fails this many times in a row (database away) loses its batch, logged
WRITE_ATTEMPTS = 5
#: rows deleted per transaction by a purge
PURGE_CHUNK = 5000
class AuditService:
    """Writes, lists and purges audit rows; `record_events` is the outbox subscriber, `handle` the
    in-memory bus's (pulls)."""

    def __init__(self, db: Database, configurations: ConfigurationService, forwarder: Any = None) -> None:
        self._db = db
        self._configurations = configurations
        self.forwarder = forwarder
        self._settings = AuditSettings()
        #: names of projects seen before, for entries about a project deleted since
        self._known_projects: dict[str, int] = {}

    async def settings(self) -> AuditSettings:
        """The switches, from the configuration (which re-reads its table every few seconds, so a
        change made on another node arrives); the last ones read while the database is away."""
        try:
            self._settings = AuditSettings.from_values(await self._configurations.all())
        except (DBAPIError, OSError):
            log.warning("audit settings not read; using the last ones")
        return self._settings

    # --- the subscribers -------------------------------------------------------------------------

    async def record_events(self, conn: Any, batch: Sequence[OutboxEvent]) -> None:
        """The outbox subscriber: write the entries of `batch` on `conn`, the delivery transaction
        (an error rolls the delivery back, to be tried again), skipping events already recorded."""
        settings = await self.settings()
        keyed = [(item.id, entry) for item in batch
                 if (entry := audit_entry(item.event)) is not None and settings.records(entry)]
        if not keyed:
            return
        if settings.forward_endpoint and self.forwarder is not None:
            endpoint, entries = settings.forward_endpoint, [entry for _, entry in keyed]
            after_commit(conn, lambda: self.forwarder.send(endpoint, entries))
        if settings.writes_database:
            done = set((await conn.execute(select(AuditLog.event_id).where(
                AuditLog.event_id.in_([event_id for event_id, _ in keyed])))).scalars())
            await self._insert(conn, [(event_id, entry) for event_id, entry in keyed if event_id not in done])

    async def handle(self, batch: Sequence[Event]) -> None:
        """The in-memory bus's subscriber (pulls): record a batch; never raises (the bus must keep going)."""
        try:
            settings = await self.settings()
            if settings.pull_disabled:  # before mapping: pulls can be most of a busy registry's events
                batch = [event for event in batch if not isinstance(event, ArtifactPulled)]
            entries = [e for e in map(audit_entry, batch) if e is not None and settings.records(e)]
            if not entries:
                return
            if settings.forward_endpoint and self.forwarder is not None:
                self.forwarder.send(settings.forward_endpoint, entries)
            if settings.writes_database:
                await self.write(entries)
        except Exception:
            log.exception("audit entries not recorded", events=len(batch))

    async def _insert(self, conn: Any, keyed: Sequence[tuple[int | None, AuditEntry]]) -> None:
        if keyed:
            ids = await self._project_ids(conn, {e.project for _, e in keyed if e.project})
            await conn.execute(AuditLog.__table__.insert(), [_row(e, ids, event_id) for event_id, e in keyed])

    async def write(self, entries: Sequence[AuditEntry]) -> None:
        """Insert the entries in one transaction, retried a few times while the database is busy."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self._db.write() as conn:
                    await self._insert(conn, [(None, entry) for entry in entries])
                return
            except (DBAPIError, OSError):
                if attempt == WRITE_ATTEMPTS:
                    log.exception("audit entries lost: the database refused them", entries=len(entries))
                    return
                log.warning("audit write failed; retrying", attempt=attempt, entries=len(entries))
                await asyncio.sleep(0.05 * 2**attempt)

    async def _project_ids(self, conn: Any, names: Collection[str]) -> dict[str, int]:
        if not names:
            return {}
        rows = await conn.execute(select(Project.name, Project.id).where(Project.name.in_(sorted(names))))
        found = {row.name: row.id for row in rows}
        if len(self._known_projects) > 10_000:
            self._known_projects.clear()
        self._known_projects.update(found)
        return {name: found.get(name) or self._known_projects.get(name, 0) for name in names}

    # --- listing ---------------------------------------------------------------------------------

    async def list(
        self, *, project_ids: Collection[int] | None = None, q: str | None = None, sort: str | None = None,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[AuditRecord], int]:
        """A page of rows, newest first unless `sort` says otherwise; `project_ids` limits the projects
        (None: every row, the system administrator's view)."""
        query: Select = select(AuditLog).where(*audit_conditions(q))
        if project_ids is not None:
            query = query.where(AuditLog.project_id.in_(list(project_ids)) if project_ids else false())
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            order = orderings(sort, _KEYS, [AuditLog.op_time.desc()])
            rows = (await conn.execute(query.order_by(*order, AuditLog.id.desc()).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    # --- purging ---------------------------------------------------------------------------------

    async def purge(self, retention_hours: int, event_types: Collection[str], *, dry_run: bool) -> int:
        """Delete (or with `dry_run` count) rows of `event_types` older than `retention_hours`."""
        if not event_types or retention_hours <= 0:
            return 0
        before = utcnow() - timedelta(hours=min(retention_hours, MAX_RETENTION_HOURS))
        where = (AuditLog.op_time < before, AuditLog.event_type.in_(list(event_types)))
        if dry_run:
            async with self._db.read() as conn:
                return int(await conn.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0)
        deleted = 0
        while True:  # in chunks: SQLite has one writer, and pushes must not wait for a long purge
            async with self._db.write() as conn:
                ids = (await conn.execute(select(AuditLog.id).where(*where).limit(PURGE_CHUNK))).scalars().all()
                if ids:
                    await conn.execute(delete(AuditLog).where(AuditLog.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < PURGE_CHUNK:
                return deleted


def _row(entry: AuditEntry, project_ids: Mapping[str, int], event_id: int | None = None) -> dict[str, Any]:
    username = entry.username if len(entry.username) <= 255 else entry.username[:252] + "..."  # as Harbor
    return {
        "project_id": project_ids.get(entry.project or "", 0), "event_type": entry.event_type,
        "operation": entry.operation, "operation_description": entry.operation_description,
        "operation_result": entry.operation_result, "resource_type": entry.resource_type,
        "resource": entry.resource[:1024], "username": username, "client_address": entry.client_address[:64],
        "op_time": entry.op_time, "request_id": entry.request_id[:128] or None, "event_id": event_id,
    }


def _record(row: Any) -> AuditRecord:
    return AuditRecord(row.id, row.project_id, row.event_type, row.operation, row.operation_description,
                       row.operation_result, row.resource_type, row.resource, row.username, row.client_address,
                       row.op_time)


# --- the purge job -------------------------------------------------------------------------------

#: the vendor type (and job kind) of audit log purges, as Harbor names it
PURGE_AUDIT = "PURGE_AUDIT_LOG"


@dataclass(frozen=True, slots=True)
class PurgePolicy:
    retention_hours: int
    include_event_types: str
    dry_run: bool

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> PurgePolicy:
        """A policy from the job's parameters, read leniently as Harbor's job reads them."""
        raw = parameters.get("audit_retention_hour", 0)
        try:
            hours = int(raw) if not isinstance(raw, bool) else 0
        except (TypeError, ValueError):
            hours = 0
        include = parameters.get("include_event_types", "")
        dry_run = parameters.get("dry_run", False)
        if isinstance(dry_run, str):
            dry_run = dry_run.lower() == "true"
        return cls(hours, include if isinstance(include, str) else "", bool(dry_run))


def purge_parameter_problem(parameters: Mapping[str, Any] | None) -> str | None:
    """What Harbor refuses in a purge schedule's parameters, with Harbor's messages, or None (pure)."""
    if not parameters:
        return "schedule parameter cann't be empty"
    if "audit_retention_hour" not in parameters:
        return "audit_retention_hour should provide"
    hours = parameters["audit_retention_hour"]
    if isinstance(hours, bool) or not isinstance(hours, int | float | str):
        return "audit_retention_hour should be integer format"
    try:
        number = int(hours) if not isinstance(hours, float) or hours.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        return "audit_retention_hour should be integer format"
    if number > MAX_RETENTION_HOURS:
        return f"audit_retention_hour should be less than {MAX_RETENTION_HOURS}"
    if "include_event_types" not in parameters:
        return "include_event_types should provide"
    return None


async def run_purge(ctx: Any) -> str:
    """The PURGE_AUDIT_LOG job: delete (or count, on a dry run) old rows of the included event types."""
    policy = PurgePolicy.from_parameters(ctx.parameters)
    prefix = "[DRYRUN]" if policy.dry_run else ""
    ctx.log("Purge audit job start")
    ctx.log(f"Purge operation parameter, retention_hour:{policy.retention_hours}, "
            f"include_event_types:{policy.include_event_types}, dry_run:{str(policy.dry_run).lower()}")
    if policy.retention_hours <= 0:
        ctx.log(f"quit purge job, retentionHour:{policy.retention_hours}")
        return "nothing purged: no retention"
    types = purge_event_types(policy.include_event_types)
    if not types:
        ctx.log(f"{prefix}no operation selected, skip to purge audit log")
        return "nothing purged: no event type selected"
    count = await ctx.services.audit.purge(policy.retention_hours, types, dry_run=policy.dry_run)
    ctx.log(f"{prefix}event types: {','.join(types)}")
    ctx.log(f"{prefix}Purged {count} rows of audit logs")  # Harbor's line; berth keeps one audit table
    ctx.extra_attrs["purged"] = count
    return f"{prefix}purged {count} rows"
