"""The event bus, the one way services tell of what happened.

`record(conn, event)` is for changes (pushes, deletions, projects, members, robots, users, the
configuration, quota refusals and warnings): the event is written to the outbox inside the caller's
transaction, so it exists exactly when the change does, and the process's outbox dispatcher is woken
once that transaction commits (see `berth.events.outbox`).

`publish(event)` is for pulls only, the one high-volume event: best effort, in memory. It never
blocks and never fails the publisher: events go into a bounded queue that one dispatcher task drains
in batches, handing each batch to every subscriber (a subscriber that raises is logged and the others
still get the batch). Events still queued when the process is killed are lost; a clean stop drains
the queue first; events beyond `max_queued` are dropped and counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import structlog

from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.session import Database
from berth.events.outbox import record
from berth.events.types import Event

log = structlog.get_logger("berth.events")

Subscriber = Callable[[Sequence[Event]], Awaitable[None]]

#: events waiting beyond this are dropped (and logged): memory stays bounded when a subscriber is stuck
MAX_QUEUED = 100_000
MAX_BATCH = 500


class EventBus:
    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []
        # a deque and a wake-up flag, not an asyncio.Queue: publishing sits on the pull hot path, and an
        # append costs a fraction of a Queue's put (no futures, no task accounting)
        self._pending: deque[Event] = deque()
        self._ready: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._running = False
        self._max_queued = max_queued
        self._dispatcher: asyncio.Task[None] | None = None
        #: pull events dropped because the queue was full (for the metrics)
        self.dropped = 0
        #: set where an outbox dispatcher runs: called after each commit that recorded events
        self.wake_outbox: Callable[[], None] | None = None

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        self._subscribers.append((name, subscriber))

    async def record(self, conn: AsyncConnection, event: Event) -> None:
        """Write a change's event in the change's own transaction (`conn`, from `Database.write`)."""
        await record(conn, event, self._wake_outbox)

    async def record_alone(self, db: Database, event: Event) -> None:
        """Write the event of something that changed nothing (a refused push, a log-in) in a
        transaction of its own."""
        async with db.write() as conn:
            await self.record(conn, event)

    def _wake_outbox(self) -> None:
        if self.wake_outbox is not None:
            self.wake_outbox()

    def publish(self, event: Event) -> None:
        if not self._running:
            return  # not started, or stopping: nobody listens (command-line tools, unit tests)
        if len(self._pending) >= self._max_queued:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("event queue full: events dropped", dropped=self.dropped, kind=type(event).__name__)
            return
        self._pending.append(event)
        ready = self._ready
        if ready is not None and not ready.is_set():
            ready.set()

    def start(self) -> None:
        self._ready, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._running = True
        self._dispatcher = asyncio.create_task(self._dispatch())

    async def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (waiting at most `timeout` seconds), then stop."""
        if self._dispatcher is None:
            return
        self._running = False  # publishing stops here
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.drained(), timeout)
        if self._pending:
            log.error("events not delivered at shutdown", count=len(self._pending))
        self._dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._dispatcher
        self._dispatcher = None

    async def drained(self) -> None:
        """Wait until everything published so far has been handed to the subscribers."""
        while self._dispatcher is not None and (self._pending or (self._idle and not self._idle.is_set())):
            if self._ready is not None:
                self._ready.set()
            await asyncio.sleep(0.005)

    async def _dispatch(self) -> None:
        assert self._ready is not None and self._idle is not None
        pending, ready, idle = self._pending, self._ready, self._idle
        while True:
            await ready.wait()
            ready.clear()
            idle.clear()
            try:
                while pending:
                    batch = [pending.popleft() for _ in range(min(len(pending), MAX_BATCH))]
                    await self._deliver(batch)
            finally:
                idle.set()

    async def _deliver(self, batch: list[Event]) -> None:
        for name, subscriber in self._subscribers:
            try:
                await subscriber(batch)
            except Exception:  # one failing subscriber must not starve the others
                log.exception("event subscriber failed", subscriber=name, events=len(batch))
