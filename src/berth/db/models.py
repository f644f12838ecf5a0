"""SQL tables for the registry's metadata (blob bytes live in storage/).

Blob bookkeeping is laid out for the online garbage collector: `blobs` is the
global content-addressed set, `repository_blobs` records which repository links
which blob and when it last did, `manifest_blobs` records which manifest
references which blob. A blob is collectable only when no row of
`repository_blobs` or `manifest_blobs` names it (and no upload is mounting it)
for longer than the grace window.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DIGEST = String(140)  # "sha512:" + 128 hex
#: what an Integer column holds on PostgreSQL (int4) and a BigInteger one (int8, and any SQLite INTEGER);
#: the API refuses a value beyond its column's range before it reaches SQL (berth.api.numbers)
INTEGER_RANGE = range(-(2**31), 2**31)
BIGINTEGER_RANGE = range(-(2**63), 2**63)
MEDIA_TYPE = String(255)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: the project named by the first path segment (None only for names without one, from before projects)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    # the repository list: one project's repositories, newest first
    __table_args__ = (Index("ix_repositories_project_id_created_at_id", "project_id", "created_at", "id"),)
    description: Mapped[str] = mapped_column(Text, default="")
    #: manifest GETs, counted in memory and added here every few seconds
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Blob(Base):
    """A blob whose bytes are stored (under storage.paths.blob_path)."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: last time any repository linked or a manifest referenced it (GC grace window)
    last_linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: set by the garbage collector when it decides to delete the blob (its bytes go next, the row
    #: last); a push that finds it set waits for the row to go and stores its bytes anew
    gc_marked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RepositoryBlob(Base):
    """Repository `repository_id` may serve blob `digest` (pushed, mounted or referenced)."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), primary_key=True, index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Manifest(Base):
    """A manifest (image, index, artifact) in one repository, with its exact bytes."""

    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        # the referrers API pages by digest within one subject (keyset)
        Index("ix_manifests_repository_id_subject_digest_digest", "repository_id", "subject_digest", "digest"),
        # the artifact list: one repository's manifests, newest first
        Index("ix_manifests_repository_id_created_at_id", "repository_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(DIGEST, index=True)
    media_type: Mapped[str] = mapped_column(MEDIA_TYPE)
    #: artifactType, else the config media type (what the referrers API reports)
    artifact_type: Mapped[str | None] = mapped_column(MEDIA_TYPE)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    subject_digest: Mapped[str | None] = mapped_column(DIGEST)
    #: annotations as JSON text, for referrers responses
    annotations: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Harbor's artifact view: its `type` (IMAGE, CHART, ...) and `media_type` (the config's, for manifests)
    type: Mapped[str] = mapped_column(String(32), default="UNKNOWN")
    config_media_type: Mapped[str] = mapped_column(MEDIA_TYPE, default="")
    #: last manifest GET (flushed with the pull counts)
    pull_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ManifestBlob(Base):
    """Manifest `manifest_id` references blob `digest` (config or layer)."""

    __tablename__ = "manifest_blobs"

    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True, index=True)


class ManifestChild(Base):
    """Index `manifest_id` lists child manifest `child_digest`."""

    __tablename__ = "manifest_children"

    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    child_digest: Mapped[str] = mapped_column(DIGEST, primary_key=True, index=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: last manifest GET by this tag (flushed with the pull counts)
    pull_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Upload(Base):
    """An open blob upload session; its bytes are parts under storage.paths.upload_dir."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- identity and access -------------------------------------------------------------------------


# Identity rows get ids that are never handed out again (sqlite_autoincrement; PostgreSQL sequences
# never reuse): a cache entry or a token naming a deleted user, project or robot cannot come to name
# a new one.
_NO_ID_REUSE = {"sqlite_autoincrement": True}


class User(Base):
    """A person: local (password hash), or onboarded from LDAP or OIDC (no local password)."""

    __tablename__ = "users"
    __table_args__ = _NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    realname: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(String(255), default="")
    #: argon2id; None for users who authenticate elsewhere
    password_hash: Mapped[str | None] = mapped_column(String(255))
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: "db", "ldap" or "oidc": where the user authenticates
    source: Mapped[str] = mapped_column(String(16), default="db")
    #: OIDC subject and issuer, "<sub><iss>" as Harbor keys them
    oidc_subiss: Mapped[str | None] = mapped_column(String(512), unique=True)
    #: argon2id of the OIDC CLI secret (docker login for OIDC users)
    cli_secret_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserGroup(Base):
    """Harbor's user groups: type 1 LDAP (keyed by DN), 2 HTTP, 3 OIDC (keyed by name)."""

    __tablename__ = "user_groups"
    __table_args__ = (UniqueConstraint("group_type", "group_name", "ldap_group_dn"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    group_type: Mapped[int] = mapped_column(Integer)
    ldap_group_dn: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserGroupMember(Base):
    """User `user_id` belongs to group `group_id`, as its identity provider said at its last login."""

    __tablename__ = "user_group_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = _NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: upstream registry of a proxy-cache project (later issue)
    registry_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectMetadata(Base):
    """Harbor's per-project metadata: string values under Harbor's keys (public, auto_scan, ...)."""

    __tablename__ = "project_metadata"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class ProjectMember(Base):
    """A user ("u") or user group ("g") holding a Harbor role in a project."""

    __tablename__ = "project_members"
    __table_args__ = (
        UniqueConstraint("project_id", "entity_type", "entity_id"),
        Index("ix_project_members_entity_type_entity_id", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(1))
    entity_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CveAllowlist(Base):
    """CVE ids exempt from the vulnerability policy: the system's (project_id None) or a project's."""

    __tablename__ = "cve_allowlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    #: JSON list of CVE ids
    items: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Quota(Base):
    """A project's storage limit in bytes (-1 = unlimited) and the bytes it uses.

    `used_storage` is kept by pushes in the transaction that links (berth.services.quotas); deletes
    set it to NULL, and the next push or read recalculates it from the project's blobs and manifests."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    hard_storage: Mapped[int] = mapped_column(BigInteger, default=-1)
    used_storage: Mapped[int | None] = mapped_column(BigInteger, nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Robot(Base):
    """A robot account; `name` is stored without the robot$ prefix ("<name>" or "<project>+<name>")."""

    __tablename__ = "robots"
    __table_args__ = _NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    secret_hash: Mapped[str] = mapped_column(String(255))
    #: "system" or "project"
    level: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    duration: Mapped[int] = mapped_column(Integer, default=-1)
    #: unix seconds, -1 = never
    expires_at: Mapped[int] = mapped_column(BigInteger, default=-1)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    creator_type: Mapped[str] = mapped_column(String(16), default="local")
    creator_ref: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RobotPermission(Base):
    """One of a robot's permissions: `kind` system/project, `namespace` "/", "*" or a project name."""

    __tablename__ = "robot_permissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(255))
    #: the project a "project" permission names (None for "*" and system permissions)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    #: JSON list of {"resource","action","effect"}
    access: Mapped[str] = mapped_column(Text)


class Configuration(Base):
    """A system setting changed through /api/v2.0/configurations (JSON value; secrets encrypted)."""

    __tablename__ = "configurations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebSession(Base):
    """A browser session (cookie): only the SHA-256 of the session id is stored."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Label(Base):
    """A label: global (scope "g") or a project's (scope "p"); names are unique within their scope."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("scope", "project_id", "name"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(1024), default="")
    color: Mapped[str] = mapped_column(String(32), default="")
    scope: Mapped[str] = mapped_column(String(1))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArtifactLabel(Base):
    """Label `label_id` is attached to artifact (manifest) `manifest_id`."""

    __tablename__ = "artifact_labels"

    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- background work: executions, tasks (the durable jobs), their logs, schedules, workers ---------
# Ids of these rows are never reused either: an API client polling task 7 must not see another task.
_ID = BigInteger().with_variant(Integer, "sqlite")


class Execution(Base):
    """One run of something (a webhook delivery for one event and target, a purge, later a scan or a
    GC): Harbor's execution, owning one or more tasks. `vendor_type`/`vendor_id` name what it runs for
    (WEBHOOK + policy id, PURGE_AUDIT_LOG + 0, ...)."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_vendor", "vendor_type", "vendor_id", "id"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    vendor_type: Mapped[str] = mapped_column(String(64))
    vendor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Running, Success, Error, Stopped: from the tasks' statuses
    status: Mapped[str] = mapped_column(String(16), default="Running")
    status_message: Mapped[str] = mapped_column(Text, default="")
    #: MANUAL, SCHEDULE or EVENT
    trigger: Mapped[str] = mapped_column(String(16), default="MANUAL")
    #: JSON object
    extra_attrs: Mapped[str] = mapped_column(Text, default="{}")
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the outbox row that caused it (webhook deliveries): an event delivered twice makes no second one
    event_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class Task(Base):
    """A durable job: `kind` says what runs, `parameters` (JSON) with what. Workers claim Pending rows
    whose `next_run_at` has come, hold them under a lease they renew while running, and put them back
    with a backoff delay when an attempt fails. A Running row whose lease ran out is claimed again."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_claim", "status", "next_run_at"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[str] = mapped_column(Text, default="{}")
    #: Pending, Running, Success, Error, Stopped
    status: Mapped[str] = mapped_column(String(16), default="Pending")
    status_message: Mapped[str] = mapped_column(Text, default="")
    #: attempts started so far
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    next_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: "<pool id>/<slot>" of the worker running it
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: JSON object shown with the task (e.g. a webhook's event type and HTTP status)
    extra_attrs: Mapped[str] = mapped_column(Text, default="{}")
    #: the HTTP request that caused the job (its X-Request-Id), carried into the job's log lines and events
    request_id: Mapped[str | None] = mapped_column(String(128))
    creation_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskLog(Base):
    """A task's log, one row per line, kept after the task ends."""

    __tablename__ = "task_logs"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    line: Mapped[str] = mapped_column(Text)


class Schedule(Base):
    """A cron schedule that enqueues a job of `kind`. `last_tick` is the last tick fired: a node fires a
    tick only by moving it forward in an UPDATE that matches the old value, so one node wins a tick."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("vendor_type", "vendor_id"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    vendor_type: Mapped[str] = mapped_column(String(64))
    vendor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Hourly, Daily, Weekly or Custom
    schedule_type: Mapped[str] = mapped_column(String(16))
    cron: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    #: JSON object: the parameters of the job each tick enqueues
    parameters: Mapped[str] = mapped_column(Text, default="{}")
    last_tick: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    creation_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkerPool(Base):
    """A running worker pool (in `berth serve` or `berth worker`), refreshed by its heartbeat."""

    __tablename__ = "worker_pools"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    concurrency: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobQueue(Base):
    """A paused job type (no row: running). Workers claim no Pending job of a paused type;
    the type "SCHEDULER" pauses every schedule."""

    __tablename__ = "job_queues"

    job_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=True)


# --- webhooks and the audit log ---------------------------------------------------------------------


class WebhookPolicy(Base):
    """A project's webhook policy: which event types go to which targets (JSON lists, Harbor's shape)."""

    __tablename__ = "webhook_policies"
    __table_args__ = (UniqueConstraint("project_id", "name"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    targets: Mapped[str] = mapped_column(Text, default="[]")
    event_types: Mapped[str] = mapped_column(Text, default="[]")
    creator: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the HMAC-SHA256 key for the signature header, sealed with the secret box (None: unsigned)
    signing_secret: Mapped[str | None] = mapped_column(Text)
    creation_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditLog(Base):
    """One audited operation (Harbor's audit_log_ext). No foreign keys: the log outlives what it names."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_project_id_op_time", "project_id", "op_time"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    #: 0 for operations outside any project (users, configuration, system robots)
    project_id: Mapped[int] = mapped_column(Integer, default=0)
    #: Harbor's event type: create_artifact, pull_artifact, delete_project, update_member, ...
    event_type: Mapped[str] = mapped_column(String(64))
    #: create, delete, pull, update, login, logout
    operation: Mapped[str] = mapped_column(String(32))
    operation_description: Mapped[str] = mapped_column(Text, default="")
    operation_result: Mapped[bool] = mapped_column(Boolean, default=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(1024))
    username: Mapped[str] = mapped_column(String(255))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    op_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: the HTTP request that did it (not in Harbor's API: for finding its log lines)
    request_id: Mapped[str | None] = mapped_column(String(128))
    #: the outbox row the entry was made from (None: a pull, told through the in-memory bus); unique,
    #: so an event delivered twice still makes one row
    event_id: Mapped[int | None] = mapped_column(BigInteger, index=True, unique=True)


class EventOutbox(Base):
    """An event written in the same transaction as the change it tells of, waiting to be handed to the
    subscribers (audit log, webhooks); deleted in the transaction that hands it over."""

    __tablename__ = "event_outbox"
    __table_args__ = (_NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    #: the event's class name (ArtifactPushed, ResourceChanged, ...)
    kind: Mapped[str] = mapped_column(String(64))
    #: the event's fields as JSON, its actor and request id among them
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- scanning ----------------------------------------------------------------------------------------


class ScannerRegistration(Base):
    """A scanner adapter Harbor's way (ScannerRegistration): where it answers and how to authenticate."""

    __tablename__ = "scanner_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    #: "", Basic, Bearer or X-ScannerAdapter-API-Key
    auth: Mapped[str] = mapped_column(String(64), default="")
    #: the Authorization value sent to the adapter, sealed with the secret box ("" when none)
    access_credential: Mapped[str] = mapped_column(Text, default="")
    skip_cert_verify: Mapped[bool] = mapped_column(Boolean, default=False)
    use_internal_addr: Mapped[bool] = mapped_column(Boolean, default=False)
    #: registered by berth itself (the built-in adapter): neither edited nor deleted through the API
    immutable: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectScanner(Base):
    """The scanner a project chose (without a row: the system default)."""

    __tablename__ = "project_scanners"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    registration_uuid: Mapped[str] = mapped_column(
        ForeignKey("scanner_registrations.uuid", ondelete="CASCADE"), index=True)


class _SeverityCounts:
    """A report's counts per severity, of fixable findings and of all (a report and its snapshots)."""

    critical_cnt: Mapped[int] = mapped_column(Integer, default=0)
    high_cnt: Mapped[int] = mapped_column(Integer, default=0)
    medium_cnt: Mapped[int] = mapped_column(Integer, default=0)
    low_cnt: Mapped[int] = mapped_column(Integer, default=0)
    negligible_cnt: Mapped[int] = mapped_column(Integer, default=0)
    unknown_cnt: Mapped[int] = mapped_column(Integer, default=0)
    fixable_cnt: Mapped[int] = mapped_column(Integer, default=0)
    total_cnt: Mapped[int] = mapped_column(Integer, default=0)


class ScanReport(_SeverityCounts, Base):
    """One scanner's report of one kind (MIME type) on one artifact digest, with its summary counts."""

    __tablename__ = "scan_reports"
    __table_args__ = (
        # an artifact's reports (overview, pull policy): digest first
        UniqueConstraint("digest", "registration_uuid", "mime_type"),
        # the security hub: one scanner's reports of one kind
        Index("ix_scan_reports_registration_uuid_mime_type_status", "registration_uuid", "mime_type", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Harbor's report_id
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    digest: Mapped[str] = mapped_column(DIGEST)
    registration_uuid: Mapped[str] = mapped_column(ForeignKey("scanner_registrations.uuid", ondelete="CASCADE"))
    mime_type: Mapped[str] = mapped_column(MEDIA_TYPE)
    #: Pending, Running, Success, Error, Stopped
    status: Mapped[str] = mapped_column(String(16))
    #: the highest severity found ("" until a report arrives)
    severity: Mapped[str] = mapped_column(String(16), default="")
    scanner_name: Mapped[str] = mapped_column(String(255), default="")
    scanner_vendor: Mapped[str] = mapped_column(String(255), default="")
    scanner_version: Mapped[str] = mapped_column(String(255), default="")
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the report as the scanner gave it (JSON), once it succeeded
    report: Mapped[str | None] = mapped_column(Text)
    #: the job (execution/task) that produced it
    job_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScanSnapshot(_SeverityCounts, Base):
    """The last successful vulnerability report of one artifact digest by one scanner on one day (UTC):
    its counts per severity. scan_reports keeps only the newest report, so this is the history the
    security overview's trend reads (written with the report, in the same transaction)."""

    __tablename__ = "scan_snapshots"
    __table_args__ = (
        UniqueConstraint("day", "digest", "registration_uuid"),
        Index("ix_scan_snapshots_registration_uuid_day", "registration_uuid", "day"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    #: YYYY-MM-DD (UTC)
    day: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(DIGEST, index=True)
    registration_uuid: Mapped[str] = mapped_column(ForeignKey("scanner_registrations.uuid", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(16), default="")
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScanVulnerability(Base):
    """One finding of a report, as rows the security hub can filter and rank."""

    __tablename__ = "scan_vulnerabilities"
    __table_args__ = (
        # the most dangerous CVEs first
        Index("ix_scan_vulnerabilities_severity_code_cvss_v3_score", "severity_code", "cvss_v3_score"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("scan_reports.id", ondelete="CASCADE"), index=True)
    cve_id: Mapped[str] = mapped_column(String(128), index=True)
    package: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(255), default="")
    fixed_version: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(16))
    #: berth.scan.model.Severity of `severity`, for ordering and ranges
    severity_code: Mapped[int] = mapped_column(Integer)
    cvss_v3_score: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text, default="")
    #: JSON list of URLs
    links: Mapped[str] = mapped_column(Text, default="[]")
    #: the report's `cwe_ids`, comma-separated (as Harbor stores them)
    cwe_ids: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the report's `vendor_attributes` as JSON text ("" when the scanner gave none)
    vendor_attributes: Mapped[str] = mapped_column(Text, default="", server_default="")


class CveAllowlistNotice(Base):
    """An expiring CVE allowlist entry the webhooks were told of: one row per (list, CVE, expiry), so the
    daily check tells of each once. `scope` is the project id, 0 for the system list."""

    __tablename__ = "cve_allowlist_notices"

    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    cve_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VulnRecord(Base):
    """One OSV record under one package it affects, in one imported set (`generation`). Only the
    generation named by vuln_db_state is live; an import writes the next one beside it, then flips."""

    __tablename__ = "vuln_records"
    __table_args__ = (Index("ix_vuln_records_lookup", "generation", "ecosystem_prefix", "name"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    #: OSV's ecosystem before the first ":" ("Debian" of "Debian:12"): what lookups are indexed by
    ecosystem_prefix: Mapped[str] = mapped_column(String(64))
    ecosystem: Mapped[str] = mapped_column(String(255))
    #: the package name as matched (PEP 503 for PyPI)
    name: Mapped[str] = mapped_column(String(512))
    record_id: Mapped[str] = mapped_column(String(255))
    #: the whole record, compact JSON
    record: Mapped[str] = mapped_column(Text)


class VulnDbState(Base):
    """The one row saying which generation of vuln_records is live, and what was imported into it."""

    __tablename__ = "vuln_db_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the live generation (0: nothing imported yet)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    #: the number the next import writes its rows under (each import takes its own)
    next_generation: Mapped[int] = mapped_column(Integer, default=1)
    #: what was imported: paths or URLs, one a line
    source: Mapped[str] = mapped_column(Text, default="")
    #: {ecosystem prefix: records} as JSON
    counts: Mapped[str] = mapped_column(Text, default="{}")
    records: Mapped[int] = mapped_column(Integer, default=0)
    #: the newest `modified` among the records (RFC 3339, as the records spell it)
    max_modified: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- the pluggable scanner adapter ---------------------------------------------------------------------


class ScannerScan(Base):
    """A scan request the scanner adapter accepted (POST /api/v1/scan), its state and error. The registry
    credential it came with is never stored: `had_authorization` only says that there was one."""

    __tablename__ = "scanner_scans"

    #: the id handed to the caller (a uuid4)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registry_url: Mapped[str] = mapped_column(String(2048))
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(DIGEST)
    tag: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(MEDIA_TYPE)
    #: JSON list of [report MIME, SBOM media type or null]: the reports the scan renders
    produces: Mapped[str] = mapped_column(Text, default="[]")
    had_authorization: Mapped[bool] = mapped_column(Boolean, default=False)
    #: queued, running, finished, failed
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the last change of state; rows older than the adapter's TTL are deleted
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ScannerReport(Base):
    """One rendered report of a finished scan, by report MIME (and SBOM format, "" for the others)."""

    __tablename__ = "scanner_reports"

    scan_id: Mapped[str] = mapped_column(ForeignKey("scanner_scans.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(MEDIA_TYPE, primary_key=True)
    sbom_media_type: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    body: Mapped[str] = mapped_column(Text)


class TrustPolicyRow(Base):
    """A project's trust policy (berth.sign.policy.TrustPolicy as JSON) and its version, the digest of
    its canonical JSON that verdicts are kept under."""

    __tablename__ = "trust_policies"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImmutableTagRule(Base):
    """A project's tag immutability rule (Harbor's ImmutableRule): selectors as JSON in Harbor's shape.
    `fingerprint` is the digest of what the rule matches (action, template, selectors), so the same
    rule twice in a project is a conflict whatever its priority or switch."""

    __tablename__ = "immutable_tag_rules"
    __table_args__ = (UniqueConstraint("project_id", "fingerprint"), _NO_ID_REUSE)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    tag_selectors: Mapped[str] = mapped_column(Text, default="[]")
    scope_selectors: Mapped[str] = mapped_column(Text, default="{}")
    params: Mapped[str] = mapped_column(Text, default="{}")
    fingerprint: Mapped[str] = mapped_column(String(64))
    creation_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignatureVerdict(Base):
    """The verdict on one signature of one image under one policy version. Verification depends on the
    image's digest, the signature's digest and the policy alone, so the row holds wherever they meet."""

    __tablename__ = "signature_verdicts"
    __table_args__ = (UniqueConstraint("image_digest", "signature_digest", "policy_version"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    image_digest: Mapped[str] = mapped_column(DIGEST)
    signature_digest: Mapped[str] = mapped_column(DIGEST)
    policy_version: Mapped[str] = mapped_column(String(80))
    verified: Mapped[bool] = mapped_column(Boolean)
    format: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    signer: Mapped[str] = mapped_column(Text, default="")
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attestation: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RetentionPolicyRow(Base):
    """A project's tag retention policy (Harbor's policy.Metadata as JSON; one per project). Ids are
    never reused: executions keep the id of the policy they ran for."""

    __tablename__ = "retention_policies"
    __table_args__ = (_NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RemoteRegistry(Base):
    """A registry endpoint Harbor's way (model.Registry): another registry berth replicates with or
    proxies. The access secret is sealed with the secret box; the access key is shown, as Harbor does."""

    __tablename__ = "registries"
    __table_args__ = (_NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: the adapter type: docker-registry, harbor (Harbor's other types are refused)
    type: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1024))
    #: basic, oauth or secret ("" without a credential)
    credential_type: Mapped[str] = mapped_column(String(16), default="")
    access_key: Mapped[str] = mapped_column(Text, default="")
    #: sealed with the secret box ("" when none)
    access_secret: Mapped[str] = mapped_column(Text, default="")
    #: true: the server's certificate is not verified (Harbor's opt-out)
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    #: PEM CA certificates that verify the server instead of the system's ("" for the system's)
    ca_certificate: Mapped[str] = mapped_column(Text, default="")
    #: healthy, unhealthy or unknown (as the last check found it)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReplicationPolicyRow(Base):
    """A replication policy (berth.replication.policy's as_json); push-based, so its destination is a
    registry endpoint and its source this berth. Ids are never reused: executions keep theirs."""

    __tablename__ = "replication_policies"
    __table_args__ = (_NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    dest_registry_id: Mapped[int] = mapped_column(Integer, index=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
