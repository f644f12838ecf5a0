"""The event outbox: change events are written in the transaction of the change (`record`) and handed
to the subscribers from there (`OutboxDispatcher`), so a process killed right after it answered
still produces the audit row and the webhook deliveries of what it acknowledged.

Delivery is one transaction per batch: claim the oldest rows (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several nodes share the work; SQLite has one writer), let every subscriber write its
part on the same connection, delete the rows. A crash before the commit leaves the rows for the next
round; subscribers also key what they write by the row id, so an event handed over twice still
makes one audit row and one set of webhook deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import structlog
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import EventOutbox, utcnow
from berth.db.session import Database, after_commit
from berth.events.types import EVENT_CLASSES, Event

log = structlog.get_logger("berth.events")

#: rows handed to the subscribers in one transaction
BATCH = 200
#: a batch that fails (not for the database) this often is retried one event at a time, and an
#: event that still fails this often is dropped, logged: one broken event must not stop the others
MAX_FAILURES = 5
#: seconds to wait after a failed round, doubling up to the last
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event as the outbox hands it over: `id` is its row id, the key of what subscribers write."""

    id: int
    event: Event


OutboxSubscriber = Callable[[AsyncConnection, Sequence[OutboxEvent]], Awaitable[None]]


def encode(event: Event) -> tuple[str, str]:
    """(kind, JSON body) of an event, its actor and request id included (pure)."""
    return type(event).__name__, orjson.dumps(event).decode()


def decode(kind: str, body: str) -> Event:
    """The event `encode` made (pure); KeyError/TypeError/ValueError for a row it did not make."""
    values = orjson.loads(body)
    values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    for name, value in values.items():
        if isinstance(value, list):  # JSON has no tuples
            values[name] = tuple(value)
    return EVENT_CLASSES[kind](**values)


async def record(conn: AsyncConnection, event: Event, wake: Callable[[], None] | None = None) -> None:
    """Write `event` inside the caller's write transaction; `wake` is called once it commits."""
    kind, body = encode(event)
    await conn.execute(insert(EventOutbox).values(kind=kind, body=body, created_at=utcnow()))
    if wake is not None:
        after_commit(conn, wake)


class OutboxDispatcher:
    """Hands outbox rows to the subscribers; runs in every process that runs jobs. Woken at once by
    commits of this process (`wake`), and every `poll_seconds` for rows other processes wrote."""

    def __init__(self, db: Database, poll_seconds: float = 1.0, batch: int = BATCH) -> None:
        self._db = db
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._limit = batch
        self._subscribers: list[tuple[str, OutboxSubscriber]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: rounds that failed in a row, and failures per row id when taken one at a time
        self._failed_rounds = 0
        self._failures: dict[int, int] = {}
        self._round: list[int] = []

    def subscribe(self, name: str, subscriber: OutboxSubscriber) -> None:
        self._subscribers.append((name, subscriber))

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self, timeout: float = 10.0) -> None:
        """Hand over what is waiting (for at most `timeout` seconds), then stop; what is left stays
        in the table for the next start or another node."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(self.drain(), timeout)

    async def drain(self) -> None:
        """Deliver rounds until the table is empty (or a round fails)."""
        while await self.deliver() == self._limit:
            pass

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                delivered = await self.deliver()
            except Exception as error:
                self._failed(error)
                await asyncio.sleep(RETRY_DELAYS[min(self._failed_rounds, len(RETRY_DELAYS)) - 1])
                continue
            if delivered and delivered == self._limit:
                continue  # more may be waiting
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)

    async def deliver(self) -> int:
        """One round: claim up to a batch of rows, hand them over, delete them; one transaction.
        Returns how many rows it took. A subscriber's error rolls the round back and is raised."""
        async with self._db.write() as conn:
            query = select(EventOutbox.id, EventOutbox.kind, EventOutbox.body).order_by(EventOutbox.id).limit(self._limit)
            if not self._db.is_sqlite:  # other nodes skip what this one holds
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            self._round = [row.id for row in rows]
            events = []
            for row in rows:
                if self._failures.get(row.id, 0) >= MAX_FAILURES:
                    log.error("outbox event dropped: its delivery keeps failing", event_id=row.id, kind=row.kind)
                    continue
                try:
                    events.append(OutboxEvent(row.id, decode(row.kind, row.body)))
                except (KeyError, TypeError, ValueError):
                    log.error("outbox event dropped: not readable", event_id=row.id, kind=row.kind)
            for _name, subscriber in self._subscribers:
                await subscriber(conn, events)
            await conn.execute(delete(EventOutbox).where(EventOutbox.id.in_([row.id for row in rows])))
        for row in rows:
            self._failures.pop(row.id, None)
        self._failed_rounds = 0
        self._limit = self._batch
        return len(rows)

    def _failed(self, error: Exception) -> None:
        self._failed_rounds += 1
        if isinstance(error, DBAPIError | OSError):  # the database is away: the same batch comes again
            log.warning("handing over outbox events failed; retrying", error=str(error)[:200],
                        failures=self._failed_rounds)
            return
        # the traceback once per streak of failures; then the error only
        log.error("an outbox subscriber failed", exc_info=error if self._failed_rounds == 1 else None,
                  error=str(error)[:200], failures=self._failed_rounds)
        if self._limit > 1 and self._failed_rounds >= MAX_FAILURES:
            self._limit = 1  # one at a time, to find the event that breaks it
        elif self._limit == 1:
            for row_id in self._round:
                self._failures[row_id] = self._failures.get(row_id, 0) + 1
