"""The in-process event bus. `publish` never blocks and never fails the publisher: events go into a
bounded queue that one dispatcher task drains in batches, handing each batch to every subscriber.
A subscriber that raises is logged and the others still get the batch.

Subscribers that must not lose events (the audit log, webhook deliveries) write each batch in one
transaction. Limit: events still queued when the process is killed (not stopped) are lost; a clean
stop drains the queue first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from berth.events.types import Event

log = structlog.get_logger("berth.events")

Subscriber = Callable[[Sequence[Event]], Awaitable[None]]

#: events waiting beyond this are dropped (and logged): memory stays bounded when a subscriber is stuck
MAX_QUEUED = 100_000
MAX_BATCH = 500


class EventBus:
    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._queue: asyncio.Queue[Event] | None = None
        self._max_queued = max_queued
        self._dispatcher: asyncio.Task[None] | None = None
        self.dropped = 0

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        self._subscribers.append((name, subscriber))

    def publish(self, event: Event) -> None:
        if self._queue is None:
            return  # not started: nobody listens (command-line tools, unit tests)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("event queue full: events dropped", dropped=self.dropped, kind=type(event).__name__)

    def start(self) -> None:
        self._queue = asyncio.Queue(self._max_queued)
        self._dispatcher = asyncio.create_task(self._dispatch(self._queue))

    async def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (waiting at most `timeout` seconds), then stop."""
        if self._dispatcher is None or self._queue is None:
            return
        queue, self._queue = self._queue, None  # publishing stops here
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(queue.join(), timeout)
        if not queue.empty():
            log.error("events not delivered at shutdown", count=queue.qsize())
        self._dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._dispatcher

    async def drained(self) -> None:
        """Wait until everything published so far has been handed to the subscribers."""
        if self._queue is not None:
            await self._queue.join()

    async def _dispatch(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            batch = [await queue.get()]
            batch.extend(_drain(queue))
            try:
                await self._deliver(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _deliver(self, batch: list[Event]) -> None:
        for name, subscriber in self._subscribers:
            try:
                await subscriber(batch)
            except Exception:  # one failing subscriber must not starve the others
                log.exception("event subscriber failed", subscriber=name, events=len(batch))


def _drain(queue: asyncio.Queue[Event]) -> list[Event]:
    batch: list[Event] = []
    while len(batch) < MAX_BATCH:
        try:
            batch.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    return batch
