"""The events services publish. Each is a frozen dataclass; `occurred_at` and the actor fields are
filled from the current actor when the publisher does not give them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from berth.db.models import utcnow
from berth.events.actor import current_actor


def _operator() -> str:
    return current_actor().name


def _address() -> str:
    return current_actor().client_address


def _request_id() -> str:
    return current_actor().request_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    operator: str = field(default_factory=_operator)
    client_address: str = field(default_factory=_address)
    request_id: str = field(default_factory=_request_id)
    occurred_at: datetime = field(default_factory=utcnow)

    @property
    def project_name(self) -> str | None:
        return None


# --- artifacts and tags: what webhooks and the audit log both hear about ---------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactEvent(Event):
    repository: str
    digest: str
    media_type: str = ""
    #: the tags the push set, the pull named, or the deletion removed
    tags: tuple[str, ...] = ()

    @property
    def project_name(self) -> str | None:
        return self.repository.partition("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactPushed(ArtifactEvent):
    """A manifest was stored (pushed, copied, or re-pushed with new tags)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactPulled(ArtifactEvent):
    """A manifest was fetched with GET (not HEAD)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactDeleted(ArtifactEvent):
    """A manifest was deleted, with every tag on it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanEvent(ArtifactEvent):
    """A scan of an artifact ended; `overview` is Harbor's scan overview (or SBOM overview) of it,
    keyed by report MIME type, as the webhook payload carries it."""

    scan_type: str = "vulnerability"
    overview: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCompleted(ScanEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanFailed(ScanEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanStopped(ScanEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TagEvent(Event):
    repository: str
    tag: str
    digest: str = ""

    @property
    def project_name(self) -> str | None:
        return self.repository.partition("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class TagCreated(TagEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TagDeleted(TagEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryDeleted(Event):
    repository: str

    @property
    def project_name(self) -> str | None:
        return self.repository.partition("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaEvent(Event):
    """A push went over (exceeded, refused) or near (warning) a project's storage quota."""

    project: str
    repository: str
    digest: str = ""
    message: str = ""

    @property
    def project_name(self) -> str | None:
        return self.project


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaExceeded(QuotaEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaWarning(QuotaEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CveAllowlistExpiring(Event):
    """An entry of the CVE allowlist in effect for `project` (its own, or the system's it reuses) expires
    within days (berth's addition to Harbor's events: webhooks hear of it, the audit log does not)."""

    project: str
    cve_id: str
    #: unix seconds
    expires_at: int
    #: "system" or "project": which list the entry is on
    allowlist: str

    @property
    def project_name(self) -> str | None:
        return self.project


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentTrustAudit(ArtifactEvent):
    """A pull that a project's trust policy in audit mode let through but enforce mode would have refused
    (berth's addition: webhooks hear of it as CONTENT_TRUST_AUDIT, the audit log records it)."""

    #: why it would have been refused, as the 412 would have said
    reason: str = ""
    #: the trust policy version it was judged under
    policy_version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRetentionFinished(Event):
    """A retention task deleted artifacts of one repository (Harbor's TAG_RETENTION; a dry run, or a
    task that deleted nothing, tells nothing). `retention` is Harbor's event_data.retention object but
    its `harbor_hostname`, which the webhook fills in."""

    project: str
    retention: dict[str, Any] = field(default_factory=dict)

    @property
    def project_name(self) -> str | None:
        return self.project


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicationStatusChanged(Event):
    """A replication task ended (Harbor's REPLICATION event, one per task reaching Success, Error or
    Stopped). `replication` is Harbor's event_data.replication object but its `harbor_hostname`, which
    the webhook fills in; `project` is the project whose webhook policies hear of it (the source's)."""

    project: str
    replication: dict[str, Any] = field(default_factory=dict)

    @property
    def project_name(self) -> str | None:
        return self.project


# --- administration: what the audit log records ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChanged(Event):
    """A project, user, robot, member or the configuration was created, updated or deleted, or a user
    logged in or out. `resource_type` and `operation` use Harbor's audit vocabulary."""

    #: project, user, robot, project_member, configuration
    resource_type: str
    #: create, update, delete, login, logout
    operation: str
    #: what Harbor's audit log shows as the resource: a name, "<project>/<member>", ...
    resource: str
    #: the project the change happened in, if any
    project: str | None = None
    description: str = ""
    succeeded: bool = True

    @property
    def project_name(self) -> str | None:
        return self.project


#: every event class by name: how the outbox reads its rows back
EVENT_CLASSES: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    ArtifactPushed, ArtifactPulled, ArtifactDeleted, TagCreated, TagDeleted, RepositoryDeleted, QuotaExceeded,
    QuotaWarning, ResourceChanged, ScanCompleted, ScanFailed, ScanStopped, CveAllowlistExpiring,
    ContentTrustAudit, TagRetentionFinished, ReplicationStatusChanged,
)}
