"""Audit entries from events, as Harbor writes them; the switches; purge selection; syslog lines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from berth.db.models import Configuration
from berth.db.session import Database, run_migrations
from berth.events.types import (
    ArtifactDeleted,
    ArtifactPulled,
    ArtifactPushed,
    QuotaExceeded,
    RepositoryDeleted,
    ResourceChanged,
    TagCreated,
    TagDeleted,
)
from berth.security.keys import SecretBox
from berth.services.audit import (
    EVENT_TYPES,
    AuditService,
    AuditSettings,
    PurgePolicy,
    audit_entry,
    purge_event_types,
    purge_parameter_problem,
)
from berth.services.audit_forward import syslog_line
from berth.services.configurations import ConfigurationService
from berth.services.errors import BadRequest


def _audit(db: Database) -> AuditService:
    return AuditService(db, ConfigurationService(db, SecretBox(b"test")))


DIGEST = "sha256:" + "ab" * 32
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_push_by_tag_names_the_first_tag():
    entry = audit_entry(ArtifactPushed(repository="library/app", digest=DIGEST, tags=("1.0", "latest"),
                                       operator="alice", client_address="10.0.0.1", occurred_at=WHEN))
    assert entry is not None
    assert (entry.event_type, entry.operation, entry.resource_type) == ("create_artifact", "create", "artifact")
    assert entry.resource == "library/app:1.0"
    assert entry.operation_description == f"push artifact: library/app@{DIGEST}"
    assert (entry.project, entry.username, entry.client_address, entry.op_time) == ("library", "alice", "10.0.0.1", WHEN)


def test_push_by_digest_and_delete_name_the_digest():
    pushed = audit_entry(ArtifactPushed(repository="p/a/b", digest=DIGEST, operator="bob"))
    deleted = audit_entry(ArtifactDeleted(repository="p/a/b", digest=DIGEST, tags=("x",), operator="bob"))
    assert pushed is not None and deleted is not None
    assert pushed.resource == deleted.resource == f"p/a/b@{DIGEST}"
    assert deleted.event_type == "delete_artifact"
    assert deleted.operation_description == f"delete artifact: p/a/b@{DIGEST}"


def test_anonymous_pull():
    entry = audit_entry(ArtifactPulled(repository="pub/app", digest=DIGEST, tags=("v1",), operator=""))
    assert entry is not None
    assert (entry.event_type, entry.operation, entry.username) == ("pull_artifact", "pull", "anonymous")
    assert entry.operation_description == f"pull artifact: pub/app@{DIGEST}"


def test_tags_and_repositories():
    created = audit_entry(TagCreated(repository="p/app", tag="v2", digest=DIGEST, operator="a"))
    deleted = audit_entry(TagDeleted(repository="p/app", tag="v2", operator="a"))
    repo = audit_entry(RepositoryDeleted(repository="p/app", operator="a"))
    assert created is not None and deleted is not None and repo is not None
    assert (created.event_type, created.resource, created.operation_description) == (
        "create_tag", "p/app:v2", "create tag: p/app:v2")
    assert (deleted.event_type, deleted.resource_type) == ("delete_tag", "tag")
    assert (repo.event_type, repo.resource, repo.operation_description, repo.project) == (
        "delete_repository", "p/app", "delete repository: p/app", "p")


@pytest.mark.parametrize(("resource_type", "operation", "resource", "event_type", "description"), [
    ("project", "create", "team", "create_project", "create project: team"),
    ("project", "delete", "team", "delete_project", "delete project: team"),
    ("project", "update", "team", "update_project", "update project: team"),
    ("user", "create", "bob", "create_user", "create user with name: bob"),
    ("user", "login", "bob", "login_user", "login"),
    ("user", "logout", "bob", "logout_user", "logout"),
    ("robot", "create", "team+ci", "create_robot", "create robot: team+ci"),
    ("configuration", "update", "configuration", "update_configuration", "update configuration"),
    ("project_member", "create", "bob", "create_member", "create member: bob"),
])
def test_administration(resource_type, operation, resource, event_type, description):
    entry = audit_entry(ResourceChanged(resource_type=resource_type, operation=operation, resource=resource,
                                        operator="admin"))
    assert entry is not None
    assert entry.event_type == event_type
    assert entry.operation_description == description
    assert entry.resource_type == event_type.split("_", 1)[1]
    assert event_type in EVENT_TYPES


def test_given_description_and_failure_are_kept():
    entry = audit_entry(ResourceChanged(resource_type="project_member", operation="delete", resource="bob",
                                        project="team", description="delete user member bob from project team",
                                        succeeded=False))
    assert entry is not None
    assert (entry.project, entry.operation_description, entry.operation_result) == (
        "team", "delete user member bob from project team", False)


def test_events_the_log_ignores():
    assert audit_entry(QuotaExceeded(project="p", repository="p/a")) is None


def test_switches():
    push = audit_entry(ArtifactPushed(repository="p/a", digest=DIGEST))
    pull = audit_entry(ArtifactPulled(repository="p/a", digest=DIGEST))
    assert push is not None and pull is not None
    assert AuditSettings().records(push) and AuditSettings().records(pull)
    assert not AuditSettings.from_values({"pull_audit_log_disable": True}).records(pull)
    settings = AuditSettings.from_values({"disabled_audit_log_event_types": " Create_Artifact ,delete_user"})
    assert not settings.records(push) and settings.records(pull)
    # skipping the database needs somewhere else to send the entries
    assert AuditSettings.from_values({"skip_audit_log_database": True}).writes_database
    assert not AuditSettings.from_values({"skip_audit_log_database": True,
                                          "audit_log_forward_endpoint": "h:514"}).writes_database


def test_purge_selection_is_harbors():
    assert purge_event_types("") == []
    assert purge_event_types("nonsense") == []
    assert purge_event_types("pull_artifact,CREATE_ARTIFACT") == ["create_artifact", "pull_artifact"]
    other = purge_event_types("other")
    assert "create_project" in other and "create_tag" in other
    assert not any(t.endswith("_artifact") for t in other)


def test_purge_parameters():
    assert purge_parameter_problem(None) == "schedule parameter cann't be empty"
    assert purge_parameter_problem({"dry_run": True}) == "audit_retention_hour should provide"
    assert purge_parameter_problem({"audit_retention_hour": "x", "include_event_types": ""}) == (
        "audit_retention_hour should be integer format")
    assert purge_parameter_problem({"audit_retention_hour": 240001, "include_event_types": ""}) == (
        "audit_retention_hour should be less than 240000")
    assert purge_parameter_problem({"audit_retention_hour": 24}) == "include_event_types should provide"
    assert purge_parameter_problem({"audit_retention_hour": 24, "include_event_types": ""}) is None
    policy = PurgePolicy.from_parameters({"audit_retention_hour": 24.0, "include_event_types": "other",
                                          "dry_run": "true"})
    assert policy == PurgePolicy(24, "other", True)


def test_syslog_line_is_one_clean_rfc5424_line():
    entry = audit_entry(ArtifactPushed(repository="p/a", digest=DIGEST, tags=("evil\nline",), operator='x"y]',
                                       client_address="10.0.0.9", occurred_at=WHEN))
    assert entry is not None
    line = syslog_line(entry, "host1").decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert line.startswith("<14>1 2026-01-02T03:04:05.000000+00:00 host1 berth - audit [audit@32473 ")
    assert 'operator="x\\"y\\]"' in line
    assert "action:create, resource:p/a:evil line, operation_description:push artifact: p/a@" in line


def test_service_writes_lists_filters_and_purges(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    run_migrations(url)

    async def scenario() -> None:
        db = Database(url)
        async with db.write() as conn:
            await conn.execute(insert(Configuration).values(key="pull_audit_log_disable", value="true"))
        service = _audit(db)
        old = datetime.now(UTC) - timedelta(hours=48)
        await service.handle([
            ArtifactPushed(repository="p/a", digest=DIGEST, tags=("1",), operator="alice", occurred_at=old),
            ArtifactPulled(repository="p/a", digest=DIGEST, operator="alice"),
            ResourceChanged(resource_type="user", operation="create", resource="bob", operator="admin"),
            ArtifactPushed(repository="p/a", digest=DIGEST, tags=("2",), operator="alice"),
        ])
        rows, total = await service.list()
        assert total == 3  # the pull is not recorded
        assert [r.resource for r in rows] == ["p/a:2", "bob", "p/a:1"]  # newest first
        assert rows[2].project_id == 0  # no such project in this database
        assert (await service.list(q="username=alice"))[1] == 2
        assert (await service.list(q="resource=~p/a"))[1] == 2
        since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        assert (await service.list(q=f"op_time=[{since}~]"))[1] == 2
        assert (await service.list(project_ids=[]))[1] == 0
        with pytest.raises(BadRequest):
            await service.list(q="op_time=[yesterday~]")
        assert await service.purge(24, ["create_artifact"], dry_run=True) == 1
        assert (await service.list())[1] == 3
        assert await service.purge(24, ["create_user"], dry_run=False) == 0
        assert await service.purge(24, ["create_artifact"], dry_run=False) == 1
        assert [r.resource for r in (await service.list(sort="op_time"))[0]] == ["bob", "p/a:2"]
        assert (await service.list())[1] == 2
        await db.close()

    asyncio.run(scenario())


def test_a_burst_through_the_bus_loses_nothing(tmp_path):
    """1,000 pushes published at once become 1,000 rows, in a few batched transactions."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'burst.db'}"
    run_migrations(url)

    async def scenario() -> float:
        from berth.events.bus import EventBus

        db = Database(url)
        bus = EventBus()
        service = _audit(db)
        bus.subscribe("audit", service.handle)
        bus.start()
        started = asyncio.get_running_loop().time()
        for i in range(1000):
            bus.publish(ArtifactPushed(repository=f"p/app{i % 7}", digest=DIGEST, tags=(str(i),), operator="ci"))
        await bus.drained()
        elapsed = asyncio.get_running_loop().time() - started
        assert (await service.list(q="operation=create"))[1] == 1000
        await bus.stop()
        await db.close()
        return elapsed

    assert asyncio.run(scenario()) < 10


def test_purge_deletes_in_chunks(tmp_path, monkeypatch):
    import berth.services.audit as audit_module

    monkeypatch.setattr(audit_module, "PURGE_CHUNK", 2)
    url = f"sqlite+aiosqlite:///{tmp_path / 'chunks.db'}"
    run_migrations(url)

    async def scenario() -> None:
        db = Database(url)
        service = _audit(db)
        old = datetime.now(UTC) - timedelta(hours=10)
        await service.write([e for e in (audit_entry(ArtifactPulled(repository="p/a", digest=DIGEST, occurred_at=old))
                                         for _ in range(5)) if e is not None])
        assert await service.purge(1, ["pull_artifact"], dry_run=False) == 5
        assert (await service.list())[1] == 0
        await db.close()

    asyncio.run(scenario())


def test_a_busy_database_is_retried_and_nothing_raises(tmp_path, monkeypatch):
    from contextlib import asynccontextmanager

    from sqlalchemy.exc import OperationalError

    import berth.services.audit as audit_module

    monkeypatch.setattr(audit_module.asyncio, "sleep", _no_sleep)
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    run_migrations(url)

    class Busy(Database):
        failures = 2

        @asynccontextmanager
        async def write(self):
            if Busy.failures:
                Busy.failures -= 1
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            async with super().write() as conn:
                yield conn

    async def scenario() -> None:
        db = Busy(url)
        service = _audit(db)
        await service.handle([ArtifactPushed(repository="p/a", digest=DIGEST)])
        assert (await service.list())[1] == 1
        Busy.failures = 99  # never comes back: the batch is lost (and logged), the bus is not disturbed
        await service.handle([ArtifactPushed(repository="p/a", digest=DIGEST)])
        assert (await service.list())[1] == 1
        await db.close()

    asyncio.run(scenario())


async def _no_sleep(_: float) -> None:
    return None


def test_the_forwarder_reconnects_after_the_server_drops_it():
    from berth.services.audit_forward import SyslogForwarder

    async def scenario() -> list[str]:
        received: list[str] = []
        connections = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            while line := await reader.readline():
                received.append(line.decode())

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        endpoint = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        forwarder = SyslogForwarder()

        def entry(tag: str):  # type: ignore[no-untyped-def]
            return audit_entry(ArtifactPushed(repository="p/a", digest=DIGEST, tags=(tag,)))

        async def until(predicate) -> None:  # type: ignore[no-untyped-def]
            for _ in range(200):
                if predicate():
                    return
                await asyncio.sleep(0.02)

        forwarder.send(endpoint, [entry("one")])
        await until(lambda: len(received) == 1)
        connections[0].close()  # the server goes away for this client
        await asyncio.sleep(0.1)
        for i in range(5):  # the first writes may vanish into the closed socket; later ones reconnect
            forwarder.send(endpoint, [entry(f"after{i}")])
            await asyncio.sleep(0.05)
        await until(lambda: any("p/a:after4" in line for line in received))
        await forwarder.stop()
        server.close()
        return received

    received = asyncio.run(scenario())
    assert "resource:p/a:one" in received[0]
    assert any("resource:p/a:after4" in line for line in received)
