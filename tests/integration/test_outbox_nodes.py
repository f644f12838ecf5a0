"""Two nodes' outbox dispatchers on one database (SQLite and PostgreSQL) share the waiting events:
each event makes exactly one audit row, whichever node took it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from berth.security.keys import SecretBox
from berth.db.models import AuditLog, EventOutbox
from berth.db.session import Database, run_migrations
from berth.events.bus import EventBus
from berth.events.outbox import OutboxDispatcher
from berth.events.types import ArtifactPushed
from berth.services.audit import AuditService
from berth.services.configurations import ConfigurationService
from tests.conftest import _fresh_postgres_database

EVENTS = 300


@pytest.fixture
def url(database, database_urls, tmp_path) -> str:
    if database == "postgresql":
        url = _fresh_postgres_database(database_urls["postgresql"], "berth_outbox_nodes")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'nodes.db'}"
    run_migrations(url)
    return url


async def _count(db: Database, query) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int(await conn.scalar(query) or 0)


def test_two_dispatchers_hand_each_event_over_once(url) -> None:
    async def scenario() -> None:
        nodes = [Database(url), Database(url)]  # two engines: two processes' worth of connections
        bus = EventBus()
        for start in range(0, EVENTS, 10):
            async with nodes[start % 2].write() as conn:
                for n in range(start, start + 10):
                    await bus.record(conn, ArtifactPushed(repository="p/app", digest="sha256:" + "a" * 64,
                                                          tags=(f"t{n}",)))
        taken = [0, 0]
        dispatchers = []
        for index, db in enumerate(nodes):
            audit = AuditService(db, ConfigurationService(db, SecretBox(b"test")))

            async def counting(conn, batch, audit=audit, index=index) -> None:  # type: ignore[no-untyped-def]
                taken[index] += len(batch)
                await audit.record_events(conn, batch)
                await asyncio.sleep(0.01)  # hold the rows a moment: the other node must skip them

            dispatcher = OutboxDispatcher(db, poll_seconds=0.05, batch=20)
            dispatcher.subscribe("audit", counting)
            dispatchers.append(dispatcher)
        for dispatcher in dispatchers:
            dispatcher.start()
        for _ in range(600):
            if await _count(nodes[0], select(func.count()).select_from(EventOutbox)) == 0:
                break
            await asyncio.sleep(0.05)
        for dispatcher in dispatchers:
            await dispatcher.stop()
        rows = await _count(nodes[0], select(func.count()).select_from(AuditLog))
        distinct = await _count(nodes[0], select(func.count(func.distinct(AuditLog.resource))))
        assert (rows, distinct, sum(taken)) == (EVENTS, EVENTS, EVENTS)
        print(f"events taken per node: {taken}")
        for db in nodes:
            await db.close()

    asyncio.run(scenario())
