"""The webhook subscriber over fake services: which events become deliveries, with what, and that a
busy database is tried again rather than losing the batch."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.exc import OperationalError

from berth.events.types import ArtifactPulled, ArtifactPushed, QuotaExceeded, TagCreated
from berth.security.roles import ProjectRef
from berth.services import webhook_dispatch
from berth.services.webhook_dispatch import WebhookDispatcher, external_host
from berth.services.webhooks import PolicyRecord, StoredTarget

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def policy(
    policy_id: int, event_types: tuple[str, ...], *targets: StoredTarget, secret: str | None = None,
) -> PolicyRecord:
    return PolicyRecord(policy_id, 1, f"p{policy_id}", "", targets, event_types, "admin", True, secret, NOW, NOW)


HTTP = StoredTarget("http", "http://r/h", "box:sealed-auth", False, "Default")
CLOUD = StoredTarget("http", "http://r/c", "", True, "CloudEvents")
SLACK = StoredTarget("slack", "https://hooks.slack.com/x", "box:sealed-auth", False, "")


class FakeConn:
    def __init__(self, jobs: FakeJobs) -> None:
        self.jobs = jobs

    async def execute(self, _query: Any) -> Any:
        return SimpleNamespace(all=lambda: [SimpleNamespace(name="team/app", created_at=NOW)])


class FakeJobs:
    def __init__(self, busy: int = 0) -> None:
        self.busy = busy
        self.executions: list[tuple[str, int, str, dict[str, Any]]] = []
        self.tasks: list[tuple[int, str, dict[str, Any], int]] = []
        self.notified = 0

    async def create_execution(self, conn, vendor_type, vendor_id, trigger, extra_attrs, *, event_id=None) -> int:  # noqa: ANN001
        if self.busy:
            self.busy -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        self.executions.append((vendor_type, vendor_id, trigger, extra_attrs))
        return len(self.executions)

    async def create_task(self, conn, execution_id, kind, parameters, *, max_attempts, request_id=None) -> int:  # noqa: ANN001
        self.tasks.append((execution_id, kind, parameters, max_attempts))
        return len(self.tasks)

    def notify(self) -> None:
        self.notified += 1


def registry(policies: tuple[PolicyRecord, ...], *, enabled: bool = True, busy: int = 0) -> Any:
    jobs = FakeJobs(busy)

    @asynccontextmanager
    async def connection():  # noqa: ANN202
        yield FakeConn(jobs)

    async def config(key: str) -> Any:
        assert key == "notification_enable"
        return enabled

    async def ref(name: str) -> ProjectRef | None:
        return ProjectRef(1, False) if name == "team" else None

    async def enabled_policies(project_id: int) -> tuple[PolicyRecord, ...]:
        return policies

    return SimpleNamespace(
        configurations=SimpleNamespace(get=config), projects=SimpleNamespace(ref=ref),
        webhooks=SimpleNamespace(enabled_policies=enabled_policies),
        db=SimpleNamespace(read=connection, write=connection), jobs=jobs,
    )


def run(fake: Any, *events: Any) -> FakeJobs:
    asyncio.run(WebhookDispatcher(fake, ext_host="reg.example", max_attempts=4)(list(events)))
    return fake.jobs


def test_each_policy_target_gets_one_execution_with_one_task():
    fake = registry((policy(1, ("PUSH_ARTIFACT",), HTTP, CLOUD, SLACK, secret="box:sealed-secret"),
                     policy(2, ("PULL_ARTIFACT",), HTTP)))
    jobs = run(fake, ArtifactPushed(repository="team/app", digest="sha256:" + "1" * 64, tags=("v1",)),
               TagCreated(repository="team/app", tag="v1"),
               ArtifactPushed(repository="elsewhere/app", digest="sha256:" + "2" * 64))
    assert [(e[0], e[1], e[2], e[3]["event_type"]) for e in jobs.executions] == [
        ("WEBHOOK", 1, "EVENT", "PUSH_ARTIFACT"), ("WEBHOOK", 1, "EVENT", "PUSH_ARTIFACT"),
        ("SLACK", 1, "EVENT", "PUSH_ARTIFACT")]
    default, cloud, slack = (task[2] for task in jobs.tasks)
    assert [task[1] for task in jobs.tasks] == ["WEBHOOK", "WEBHOOK", "SLACK"]
    assert all(task[3] == 4 for task in jobs.tasks)
    assert default["auth_header"] == "box:sealed-auth" and default["signing_secret"] == "box:sealed-secret"
    assert slack["auth_header"] == "", "Harbor sends no Authorization to Slack"
    assert cloud["content_type"] == "application/cloudevents+json" and cloud["skip_cert_verify"] is True
    body = json.loads(default["payload"])
    assert body["event_data"]["resources"][0]["resource_url"] == "reg.example/team/app:v1"
    assert body["event_data"]["repository"]["date_created"] == int(NOW.timestamp())
    assert jobs.executions[0][3]["payload"] == default["payload"]
    assert jobs.notified == 1


def test_quota_events_are_delivered_with_their_message():
    fake = registry((policy(3, ("QUOTA_EXCEED",), HTTP),))
    jobs = run(fake, QuotaExceeded(project="team", repository="team/app", message="over 1 GiB"))
    body = json.loads(jobs.tasks[0][2]["payload"])
    assert body["type"] == "QUOTA_EXCEED" and body["event_data"]["custom_attributes"] == {"Details": "over 1 GiB"}
    assert "date_created" not in body["event_data"]["repository"]


def test_nothing_is_enqueued_when_notifications_are_off_or_no_policy_names_the_event():
    assert run(registry((policy(1, ("PUSH_ARTIFACT",), HTTP),), enabled=False),
               ArtifactPushed(repository="team/app", digest="sha256:" + "1" * 64)).executions == []
    jobs = run(registry((policy(1, ("PUSH_ARTIFACT",), HTTP),)),
               ArtifactPulled(repository="team/app", digest="sha256:" + "1" * 64))
    assert jobs.executions == [] and jobs.notified == 0


def test_a_busy_database_is_tried_again(monkeypatch):
    monkeypatch.setattr(webhook_dispatch, "WRITE_RETRY_DELAYS", (0.0, 0.0))
    jobs = run(registry((policy(1, ("PUSH_ARTIFACT",), HTTP),), busy=2),
               ArtifactPushed(repository="team/app", digest="sha256:" + "1" * 64))
    assert len(jobs.executions) == 1 and jobs.notified == 1


def test_the_external_host_is_harbors_ext_url():
    assert external_host("https://registry.example.com/", "0.0.0.0", 5000) == "registry.example.com"
    assert external_host(None, "127.0.0.1", 5000) == "127.0.0.1:5000"


def test_a_database_away_during_the_policy_lookup_is_tried_again(monkeypatch):
    monkeypatch.setattr(webhook_dispatch, "WRITE_RETRY_DELAYS", (0.0, 0.0))
    fake = registry((policy(1, ("PUSH_ARTIFACT",), HTTP),))
    lookups = {"failures": 2}
    original = fake.configurations.get

    async def flaky(key: str) -> Any:
        if lookups["failures"]:
            lookups["failures"] -= 1
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return await original(key)

    fake.configurations.get = flaky
    jobs = run(fake, ArtifactPushed(repository="team/app", digest="sha256:" + "1" * 64))
    assert len(jobs.executions) == 1 and jobs.notified == 1
