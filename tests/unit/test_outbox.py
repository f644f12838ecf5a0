"""The event outbox: events survive the trip through their row, commit and rollback callbacks run
only when they should, a delivery round is all or nothing, and the audit subscriber keys its rows by
the outbox row id (an event handed over twice makes one row)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from berth.security.keys import SecretBox
from berth.db.models import AuditLog, EventOutbox
from berth.db.session import Database, after_commit, after_rollback, run_migrations
from berth.events.actor import Actor, set_actor
from berth.events.bus import EventBus
from berth.events.outbox import OutboxDispatcher, OutboxEvent, decode, encode
from berth.events.types import (
    EVENT_CLASSES,
    ArtifactDeleted,
    ArtifactPulled,
    ArtifactPushed,
    ContentTrustAudit,
    CveAllowlistExpiring,
    QuotaExceeded,
    QuotaWarning,
    RepositoryDeleted,
    ResourceChanged,
    ScanCompleted,
    ScanFailed,
    ScanStopped,
    TagCreated,
    TagDeleted,
    TagRetentionFinished,
    ReplicationStatusChanged,
)
from berth.services.audit import AuditService
from berth.services.configurations import ConfigurationService

DIGEST = "sha256:" + "a" * 64
WHEN = datetime(2026, 12, 2, 15, 0, 0, 123456, tzinfo=UTC)

SAMPLES = [
    ArtifactPushed(repository="p/app", digest=DIGEST, media_type="application/x", tags=("1", "latest"),
                   operator="ci", client_address="10.0.0.1", request_id="req-1", occurred_at=WHEN),
    ArtifactPulled(repository="p/app", digest=DIGEST, occurred_at=WHEN),
    ArtifactDeleted(repository="p/app", digest=DIGEST, tags=(), occurred_at=WHEN),
    TagCreated(repository="p/app", tag="v1", digest=DIGEST, occurred_at=WHEN),
    TagDeleted(repository="p/app", tag="v1", occurred_at=WHEN),
    RepositoryDeleted(repository="p/app", occurred_at=WHEN),
    QuotaExceeded(project="p", repository="p/app", digest=DIGEST, message="over", occurred_at=WHEN),
    QuotaWarning(project="p", repository="p/app", message="near", occurred_at=WHEN),
    ResourceChanged(resource_type="project", operation="create", resource="p", project=None, succeeded=False,
                    description="d", occurred_at=WHEN),
    CveAllowlistExpiring(project="p", cve_id="CVE-1", expires_at=1_800_000_000, allowlist="system", occurred_at=WHEN),
    ContentTrustAudit(repository="p/app", digest=DIGEST, reason="no signature", policy_version="sha256:ab",
                      occurred_at=WHEN),
    ScanCompleted(repository="p/app", digest=DIGEST, tags=("1",), scan_type="vulnerability", occurred_at=WHEN,
                  overview={"application/vnd.security.vulnerability.report; version=1.1": {
                      "scan_status": "Success", "summary": {"total": 2, "summary": {"High": 2}}}}),
    ScanFailed(repository="p/app", digest=DIGEST, occurred_at=WHEN),
    ScanStopped(repository="p/app", digest=DIGEST, scan_type="sbom", occurred_at=WHEN),
    TagRetentionFinished(project="p", operator="admin", occurred_at=WHEN, retention={
        "total": 2, "retained": 1, "project_name": "p", "retention_policy_id": 7, "result": "SUCCESS",
        "retention_rule": [{"template": "always"}],
        "deleted_artifact": [{"type": "image", "status": "SUCCESS", "name_tag": "app:1", "references": None}]}),
    ReplicationStatusChanged(project="p", operator="EVENT_BASED", occurred_at=WHEN, replication={
        "job_status": "Success", "trigger_type": "EVENT_BASED", "execution_id": 3, "task_id": 4,
        "successful_artifact": [{"type": "artifact", "status": "Success", "name_tag": "app:[1]", "references": None}]}),
]


def test_every_event_kind_survives_its_row() -> None:
    assert {type(event).__name__ for event in SAMPLES} == set(EVENT_CLASSES)
    for event in SAMPLES:
        assert decode(*encode(event)) == event


def test_a_row_keeps_the_actor_and_request_id_of_the_request() -> None:
    async def scenario() -> None:
        set_actor(Actor("alice", "192.0.2.7", "req-42"))
        kind, body = encode(TagCreated(repository="p/app", tag="v1"))
        event = decode(kind, body)
        assert (event.operator, event.client_address, event.request_id) == ("alice", "192.0.2.7", "req-42")

    asyncio.run(scenario())


def test_a_row_from_something_else_is_refused() -> None:
    with pytest.raises(KeyError):
        decode("NoSuchEvent", encode(SAMPLES[0])[1])


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    run_migrations(url)
    return url


def test_commit_callbacks_run_after_a_commit_and_rollback_ones_after_a_rollback(url) -> None:
    async def scenario() -> None:
        db = Database(url)
        seen: list[str] = []

        async def undone() -> None:
            async with db.write():  # the write lock is free again by then
                seen.append("rolled back")

        async with db.write() as conn:
            after_commit(conn, lambda: seen.append("committed"))
            after_rollback(conn, undone)
        with pytest.raises(ValueError):
            async with db.write() as conn:
                after_commit(conn, lambda: seen.append("must not run"))
                after_rollback(conn, undone)
                raise ValueError
        assert seen == ["committed", "rolled back"]
        await db.close()

    asyncio.run(scenario())


async def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def test_a_recorded_event_exists_only_if_its_transaction_commits_and_wakes_the_dispatcher(url) -> None:
    async def scenario() -> None:
        db = Database(url)
        bus = EventBus()
        woken: list[bool] = []
        bus.wake_outbox = lambda: woken.append(True)
        async with db.write() as conn:
            await bus.record(conn, SAMPLES[0])
            await bus.record(conn, SAMPLES[3])
        assert woken == [True]  # once per commit
        with pytest.raises(RuntimeError):
            async with db.write() as conn:
                await bus.record(conn, SAMPLES[4])
                raise RuntimeError("the change failed")
        assert woken == [True] and await _count(db, EventOutbox) == 2
        await db.close()

    asyncio.run(scenario())


def test_a_round_is_all_or_nothing_and_the_audit_rows_are_keyed_by_the_event(url) -> None:
    async def scenario() -> None:
        db = Database(url)
        bus = EventBus()
        audit = AuditService(db, ConfigurationService(db, SecretBox(b"test")))
        async with db.write() as conn:
            for event in (SAMPLES[0], SAMPLES[2], SAMPLES[8]):
                await bus.record(conn, event)

        dispatcher = OutboxDispatcher(db)
        dispatcher.subscribe("audit", audit.record_events)
        broken = True

        async def flaky(_conn, _batch) -> None:  # type: ignore[no-untyped-def]
            if broken:
                raise RuntimeError("subscriber down")

        dispatcher.subscribe("flaky", flaky)
        with pytest.raises(RuntimeError):
            await dispatcher.deliver()
        # the audit rows written before the failure went with the rollback; the events wait
        assert await _count(db, AuditLog) == 0 and await _count(db, EventOutbox) == 3

        broken = False
        assert await dispatcher.deliver() == 3
        assert await _count(db, AuditLog) == 3 and await _count(db, EventOutbox) == 0

        # the same events handed over again (a node died after writing, say): no second row
        async with db.read() as conn:
            ids = list((await conn.execute(select(AuditLog.event_id))).scalars())
        async with db.write() as conn:
            await audit.record_events(conn, [OutboxEvent(ids[0], SAMPLES[0])])
        assert await _count(db, AuditLog) == 3
        await db.close()

    asyncio.run(scenario())


def test_an_event_that_always_breaks_a_subscriber_is_dropped_and_the_rest_go_on(url, monkeypatch) -> None:
    import berth.events.outbox as outbox

    monkeypatch.setattr(outbox, "RETRY_DELAYS", (0.0,))

    async def scenario() -> None:
        db = Database(url)
        bus = EventBus()
        async with db.write() as conn:
            for event in SAMPLES[:4]:
                await bus.record(conn, event)
        seen: list[str] = []

        async def picky(_conn, batch) -> None:  # type: ignore[no-untyped-def]
            if any(isinstance(item.event, ArtifactDeleted) for item in batch):
                raise ValueError("cannot handle deletions")
            seen.extend(type(item.event).__name__ for item in batch)

        dispatcher = OutboxDispatcher(db, poll_seconds=0.05)
        dispatcher.subscribe("picky", picky)
        dispatcher.start()
        for _ in range(200):
            if await _count(db, EventOutbox) == 0:
                break
            await asyncio.sleep(0.05)
        await dispatcher.stop()
        assert await _count(db, EventOutbox) == 0
        assert sorted(seen) == ["ArtifactPulled", "ArtifactPushed", "TagCreated"]
        await db.close()

    asyncio.run(scenario())
