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
        Index("ix_manifests_repository_id_subject_digest", "repository_id", "subject_digest"),
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
    """A project's storage limit in bytes (-1 = unlimited); usage is computed from its blobs."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    hard_storage: Mapped[int] = mapped_column(BigInteger, default=-1)
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
