"""Webhook bodies: Harbor's Default payload, CloudEvents 1.0 and the Slack message, without a server."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from berth.events.types import (
    ArtifactDeleted,
    ArtifactPulled,
    ArtifactPushed,
    QuotaExceeded,
    QuotaWarning,
    ReplicationStatusChanged,
    TagCreated,
)
from berth.replication.policy import Policy
from berth.services.replication_events import replication_data
from berth.webhook.delivery import signature
from berth.webhook.payloads import (
    _SLACK_TEMPLATE,
    RepositoryFacts,
    cloudevents_body,
    default_body,
    event_type_of,
    harbor_payload,
    render,
    slack_body,
)

DIGEST = "sha256:" + "ab" * 32
WHEN = datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)
FACTS = RepositoryFacts(project_id=7, public=False, created_at=1_700_000_000)


def pushed(**fields):
    values = {"repository": "team/app/api", "digest": DIGEST, "tags": ("v1", "latest"), "operator": "alice",
              "request_id": "req-1", "occurred_at": WHEN}
    return ArtifactPushed(**{**values, **fields})


def test_a_push_becomes_harbors_default_payload():
    payload = harbor_payload(pushed(), FACTS, "registry.example.com")
    assert payload == {
        "type": "PUSH_ARTIFACT", "occur_at": int(WHEN.timestamp()), "operator": "alice",
        "event_data": {
            "resources": [{"digest": DIGEST, "tag": "v1", "resource_url": "registry.example.com/team/app/api:v1"}],
            "repository": {"date_created": 1_700_000_000, "name": "app/api", "namespace": "team",
                           "repo_full_name": "team/app/api", "repo_type": "private"},
        },
    }


def test_without_tags_the_digest_names_the_artifact():
    pulled = ArtifactPulled(repository="lib/x", digest=DIGEST, operator="bob", occurred_at=WHEN)
    payload = harbor_payload(pulled, RepositoryFacts(1, True), "h:5000")
    resource = payload["event_data"]["resources"][0]
    assert resource == {"digest": DIGEST, "tag": DIGEST, "resource_url": f"h:5000/lib/x@{DIGEST}"}
    repository = payload["event_data"]["repository"]
    assert repository["repo_type"] == "public" and "date_created" not in repository
    assert harbor_payload(ArtifactDeleted(repository="lib/x", digest=DIGEST), FACTS, "h")["type"] == "DELETE_ARTIFACT"


def test_quota_events_carry_the_message_in_custom_attributes():
    exceeded = QuotaExceeded(project="team", repository="team/app", digest=DIGEST, message="quota exceeded: 1 GiB",
                             operator="alice", occurred_at=WHEN)
    payload = harbor_payload(exceeded, FACTS, "h")
    assert payload["type"] == "QUOTA_EXCEED"
    assert payload["event_data"]["custom_attributes"] == {"Details": "quota exceeded: 1 GiB"}
    assert payload["event_data"]["resources"] == [{"digest": DIGEST}]
    assert payload["event_data"]["repository"]["repo_full_name"] == "team/app"
    assert event_type_of(QuotaWarning(project="t", repository="t/a")) == "QUOTA_WARNING"


def test_events_webhooks_do_not_hear_about_have_no_event_type():
    assert event_type_of(TagCreated(repository="a/b", tag="x")) is None
    with pytest.raises(ValueError):
        harbor_payload(TagCreated(repository="a/b", tag="x"), FACTS, "h")


def test_default_body_is_compact_json_as_go_writes_it():
    content_type, body = default_body({"type": "PUSH_ARTIFACT", "x": "<a&b>"})
    assert content_type == "application/json"
    assert body == '{"type":"PUSH_ARTIFACT","x":"\\u003ca\\u0026b\\u003e"}'
    assert json.loads(body)["x"] == "<a&b>"


def test_cloudevents_body_wraps_the_event_data():
    payload = harbor_payload(pushed(), FACTS, "h")
    content_type, body = cloudevents_body(payload, project_id=7, policy_id=3, request_id="req-1", event_id="id-1")
    assert content_type == "application/cloudevents+json"
    assert json.loads(body) == {
        "specversion": "1.0", "requestid": "req-1", "id": "id-1", "source": "/projects/7/webhook/policies/3",
        "type": "harbor.artifact.pushed", "datacontenttype": "application/json", "time": "2026-11-27T09:30:00Z",
        "data": payload["event_data"], "operator": "alice",
    }


def test_slack_body_is_harbors_template_with_the_event_data_quoted():
    payload = harbor_payload(pushed(), FACTS, "h")
    content_type, body = slack_body(payload)
    assert content_type == "application/json"
    message = json.loads(body, strict=False)  # Harbor's template leaves newlines and tabs in the string
    texts = [block["text"]["text"] for block in message["blocks"]]
    assert texts[1] == "*event_type:* PUSH_ARTIFACT"
    assert texts[2].startswith(f"*occur_at:* <!date^{payload['occur_at']}^")
    assert texts[3] == "*operator:* alice"
    assert texts[5].startswith("```{\n\t\"resources\": [") and texts[5].endswith("```")
    assert json.loads(texts[5].strip("`")) == payload["event_data"]
    assert render(payload, "slack", "", project_id=7, policy_id=1, request_id="", event_id="") == (content_type, body)


def test_slack_template_is_harbors_byte_for_byte():
    try:
        source = subprocess.run(
            ["git", "-C", "/work/.mirror/goharbor+harbor/repo", "show",
             "HEAD:src/pkg/notifier/handler/notification/slack_handler.go"],
            capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("Harbor's source is not on this machine")
    match = re.search(r"SlackBodyTemplate = `(.*?)`", source, re.S)
    assert match is not None and match.group(1) == _SLACK_TEMPLATE


def test_signature_is_hmac_sha256_of_the_body():
    # the value from GitHub's webhook documentation example, same construction
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_a_replication_task_becomes_harbors_replication_payload():
    destination = SimpleNamespace(name="dr", type="docker-registry", url="https://dr.example.com", credential_type="")
    data = replication_data(
        status="Error", policy=Policy(name="p", dest_registry_id=1, creator="admin"), destination=destination,
        trigger="SCHEDULE", started=WHEN, source="library/app:[1.0]", target="mirror/app:[1.0]",
        local_endpoint="https://reg.example.com", message="upload of sha256:ab: 500", execution_id=3, task_id=4)
    event = ReplicationStatusChanged(project="library", operator="SCHEDULE", occurred_at=WHEN, replication=data)
    payload = harbor_payload(event, FACTS, "reg.example.com:443")
    assert event_type_of(event) == "REPLICATION" and payload["operator"] == "SCHEDULE"
    replication = payload["event_data"]["replication"]
    # Go's field order, empty fields (description, authentication_type, override_mode false) left out
    assert list(replication) == ["harbor_hostname", "job_status", "artifact_type", "trigger_type", "policy_creator",
                                 "execution_timestamp", "src_resource", "dest_resource", "failed_artifact",
                                 "execution_id", "task_id"]
    assert replication["harbor_hostname"] == "reg.example.com"
    assert replication["src_resource"] == {"registry_type": "harbor", "endpoint": "https://reg.example.com",
                                           "namespace": "library"}
    assert replication["dest_resource"]["namespace"] == "mirror"
    assert replication["failed_artifact"] == [{"type": "artifact", "status": "Error", "name_tag": "app:[1.0]",
                                               "references": None, "fail_reason": "upload of sha256:ab: 500"}]
    assert json.loads(cloudevents_body(payload, project_id=7, policy_id=2, request_id="r", event_id="e")[1])["type"] \
        == "harbor.replication.status.changed"
