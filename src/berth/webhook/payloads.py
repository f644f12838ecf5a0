"""The bodies Harbor sends for an event (pure: no I/O). `harbor_payload` builds Harbor's Default
payload (src/pkg/notifier/model/event.go, controller/event/handler/webhook/{artifact,quota}); the
`*_body` functions render it for a target: Default JSON, CloudEvents 1.0, or Harbor's Slack message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth.events.types import (
    ArtifactDeleted,
    ArtifactEvent,
    ArtifactPulled,
    ArtifactPushed,
    ContentTrustAudit,
    CveAllowlistExpiring,
    Event,
    QuotaEvent,
    QuotaExceeded,
    QuotaWarning,
    ReplicationStatusChanged,
    ScanCompleted,
    ScanEvent,
    ScanFailed,
    ScanStopped,
    TagRetentionFinished,
)
from berth.webhook.policy import CLOUDEVENTS_FORMAT, SLACK

JSON = "application/json"
CLOUDEVENTS_JSON = "application/cloudevents+json"

_EVENT_TYPES: dict[type[Event], str] = {
    ArtifactPushed: "PUSH_ARTIFACT", ArtifactPulled: "PULL_ARTIFACT", ArtifactDeleted: "DELETE_ARTIFACT",
    QuotaExceeded: "QUOTA_EXCEED", QuotaWarning: "QUOTA_WARNING", CveAllowlistExpiring: "CVE_ALLOWLIST_EXPIRING",
    ScanCompleted: "SCANNING_COMPLETED", ScanFailed: "SCANNING_FAILED", ScanStopped: "SCANNING_STOPPED",
    ContentTrustAudit: "CONTENT_TRUST_AUDIT", TagRetentionFinished: "TAG_RETENTION",
    ReplicationStatusChanged: "REPLICATION",
}
#: Harbor's scan type names the resource's overview key after (src/controller/event/handler/webhook/scan)
_SBOM = "sbom"
#: Harbor's CloudEvents `type` per event type (src/pkg/notifier/formats/cloudevents.go)
CLOUDEVENT_TYPES = {
    "DELETE_ARTIFACT": "harbor.artifact.deleted", "PULL_ARTIFACT": "harbor.artifact.pulled",
    "PUSH_ARTIFACT": "harbor.artifact.pushed", "QUOTA_EXCEED": "harbor.quota.exceeded",
    "QUOTA_WARNING": "harbor.quota.warned", "REPLICATION": "harbor.replication.status.changed",
    "SCANNING_FAILED": "harbor.scan.failed", "SCANNING_COMPLETED": "harbor.scan.completed",
    "SCANNING_STOPPED": "harbor.scan.stopped", "TAG_RETENTION": "harbor.tag_retention.finished",
    # berth's own event, under its own prefix
    "CVE_ALLOWLIST_EXPIRING": "berth.cve_allowlist.expiring",
    "CONTENT_TRUST_AUDIT": "berth.content_trust.audit",
}


@dataclass(frozen=True, slots=True)
class RepositoryFacts:
    """What a payload tells about the event's project and repository beyond the event itself."""

    project_id: int
    public: bool
    #: unix time the repository was created; None when it is unknown (gone, or a quota event)
    created_at: int | None = None


def event_type_of(event: Event) -> str | None:
    """Harbor's event type for a berth event, or None when webhooks do not hear about it."""
    return _EVENT_TYPES.get(type(event))


def resource_url(ext_host: str, repository: str, reference: str) -> str:
    separator = "@" if reference.startswith("sha256:") or ":" in reference else ":"
    return f"{ext_host}/{repository}{separator}{reference}"


def harbor_payload(event: Event, facts: RepositoryFacts, ext_host: str) -> dict[str, Any]:
    """Harbor's Default payload for an artifact or quota event (empty fields left out as Go does)."""
    event_type = event_type_of(event)
    if isinstance(event, CveAllowlistExpiring):
        return {"type": event_type, "occur_at": int(event.occurred_at.timestamp()), "operator": event.operator,
                "event_data": allowlist_event_data(event, facts)}
    if isinstance(event, TagRetentionFinished):
        # Harbor's retention handler: the host of the external URL, without its port
        retention = {**event.retention, "harbor_hostname": ext_host.split(":")[0]}
        order = ("total", "retained", "harbor_hostname", "project_name", "retention_policy_id", "retention_rule",
                 "result", "deleted_artifact")
        return {"type": event_type, "occur_at": int(event.occurred_at.timestamp()), "operator": event.operator,
                "event_data": {"retention": {key: retention[key] for key in order if key in retention}}}
    if isinstance(event, ReplicationStatusChanged):
        # Harbor's replication handler: the host of the external URL, without its port, goes first
        replication = {"harbor_hostname": ext_host.split(":")[0], **event.replication}
        return {"type": event_type, "occur_at": int(event.occurred_at.timestamp()), "operator": event.operator,
                "event_data": {"replication": replication}}
    if event_type is None or not isinstance(event, ArtifactEvent | QuotaEvent):
        raise ValueError(f"webhooks do not notify {type(event).__name__}")
    namespace, _, name = event.repository.partition("/")
    repository: dict[str, Any] = {}
    if facts.created_at and isinstance(event, ArtifactEvent):  # Harbor's quota payload has no date
        repository["date_created"] = facts.created_at
    repository.update(name=name, namespace=namespace, repo_full_name=event.repository,
                      repo_type="public" if facts.public else "private")
    data: dict[str, Any] = {}
    if isinstance(event, ArtifactEvent):
        # the first tag names the artifact; without tags, its digest does
        reference = event.tags[0] if event.tags else event.digest
        resource = _omit_empty({"digest": event.digest, "tag": reference,
                                "resource_url": resource_url(ext_host, event.repository, reference)})
        if isinstance(event, ScanEvent):
            # scan events carry the overview of the scan that ended, and which kind of scan it was
            resource["sbom_overview" if event.scan_type == _SBOM else "scan_overview"] = event.overview
        data["resources"] = [resource]
        data["repository"] = repository
        if isinstance(event, ScanEvent):
            data["scan"] = {"scan_type": event.scan_type}
        if isinstance(event, ContentTrustAudit):
            # berth's CONTENT_TRUST_AUDIT: why enforce mode would have refused the pull
            data["custom_attributes"] = {"reason": event.reason, "policy_version": event.policy_version}
    else:
        if event.digest:
            data["resources"] = [{"digest": event.digest}]
        data["repository"] = repository
        data["custom_attributes"] = {"Details": event.message}
    return {"type": event_type, "occur_at": int(event.occurred_at.timestamp()), "operator": event.operator,
            "event_data": data}


def allowlist_event_data(event: CveAllowlistExpiring, facts: RepositoryFacts) -> dict[str, Any]:
    """berth's CVE_ALLOWLIST_EXPIRING data: the project told, and the entry (which list, which CVE, when)."""
    return {
        "project": {"project_id": facts.project_id, "name": event.project,
                    "type": "public" if facts.public else "private"},
        "cve_allowlist": {"scope": event.allowlist, "cve_id": event.cve_id, "expires_at": event.expires_at},
    }


def default_body(payload: dict[str, Any]) -> tuple[str, str]:
    return JSON, go_json(payload)


def cloudevents_body(
    payload: dict[str, Any], *, project_id: int, policy_id: int, request_id: str, event_id: str,
) -> tuple[str, str]:
    """CloudEvents 1.0 in structured JSON mode, with Harbor's `requestid` and `operator` extensions."""
    occurred = datetime.fromtimestamp(payload["occur_at"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "specversion": "1.0", "requestid": request_id, "id": event_id,
        "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
        "type": CLOUDEVENT_TYPES[payload["type"]], "datacontenttype": JSON, "time": occurred,
        "data": payload.get("event_data") or {}, "operator": payload["operator"],
    }
    return CLOUDEVENTS_JSON, go_json(document)


# Harbor's template, byte for byte (src/pkg/notifier/handler/notification/slack_handler.go). The event
# data goes into a JSON string unescaped apart from quotes, newlines and tabs included: Slack takes it.
_SLACK_TEMPLATE = """{
	"blocks": [
		{
            "type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "*Harbor webhook events*"
			}
        },
        {
            "type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "*event_type:* {{.Type}}"
			}
        },
        {
            "type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "*occur_at:* <!date^{{.OccurAt}}^{date} at {time}|February 18th, 2014 at 6:39 AM PST>"
			}
        },
        {	"type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "*operator:* {{.Operator}}"
			}
		},
        {	"type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "*event_data:*"
			}
		},
		{	"type": "section",
			"text": {
				"type": "mrkdwn",
				"text": "{{.EventData}}"
			}
		}
    ]}"""


def slack_body(payload: dict[str, Any]) -> tuple[str, str]:
    event_data = go_json(payload.get("event_data"), indent="\t")
    escaped = event_data.replace('"', '\\"').replace('\\\\"', '\\\\\\"')
    body = (_SLACK_TEMPLATE.replace("{{.Type}}", str(payload["type"]))
            .replace("{{.OccurAt}}", str(payload["occur_at"]))
            .replace("{{.Operator}}", str(payload["operator"]))
            .replace("{{.EventData}}", "```" + escaped + "```"))
    return JSON, body


def render(
    payload: dict[str, Any], notify_type: str, payload_format: str, *, project_id: int, policy_id: int,
    request_id: str, event_id: str,
) -> tuple[str, str]:
    """(Content-Type, body) of `payload` for a target of `notify_type` and `payload_format`."""
    if notify_type == SLACK:
        return slack_body(payload)
    if payload_format == CLOUDEVENTS_FORMAT:
        return cloudevents_body(payload, project_id=project_id, policy_id=policy_id, request_id=request_id,
                                event_id=event_id)
    return default_body(payload)


def go_json(value: Any, indent: str | None = None) -> str:
    """JSON as Go's encoding/json writes it: compact (or tab-indented), non-ASCII kept, and <, >, &
    escaped as \\u003c, \\u003e, \\u0026."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _omit_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value}
