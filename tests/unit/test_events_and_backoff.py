"""The event bus (never blocks or fails the publisher; a failing subscriber does not starve others;
a clean stop delivers what is queued) and the retry backoff."""

from __future__ import annotations

import asyncio

from berth.events.actor import Actor, set_actor
from berth.events.bus import EventBus
from berth.events.types import ArtifactPushed
from berth.jobs.worker import backoff


def _pushed(tag: str) -> ArtifactPushed:
    return ArtifactPushed(repository="library/app", digest="sha256:" + "a" * 64, tags=(tag,))


def test_events_name_the_actor_of_the_current_task() -> None:
    async def scenario() -> tuple[str, str]:
        async def request() -> ArtifactPushed:
            set_actor(Actor("alice", "10.0.0.7", "req-1"))
            return _pushed("1")
        inside = await asyncio.create_task(request())
        return inside.operator + "@" + inside.client_address, _pushed("2").operator
    inside, outside = asyncio.run(scenario())
    assert inside == "alice@10.0.0.7"
    assert outside == "system"  # another task: the actor did not leak


def test_a_failing_subscriber_does_not_starve_the_others_and_stop_delivers_everything() -> None:
    async def scenario() -> list[str]:
        bus = EventBus()
        seen: list[str] = []

        async def broken(batch):  # type: ignore[no-untyped-def]
            raise RuntimeError("down")

        async def recorder(batch):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            seen.extend(event.tags[0] for event in batch)

        bus.subscribe("broken", broken)
        bus.subscribe("recorder", recorder)
        bus.start()
        for i in range(1200):
            bus.publish(_pushed(str(i)))
        await bus.stop()
        bus.publish(_pushed("after stop"))  # ignored, never raises
        return seen
    assert asyncio.run(scenario()) == [str(i) for i in range(1200)]


def test_publishing_to_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    async def scenario() -> int:
        bus = EventBus(max_queued=10)
        bus.start()
        for i in range(25):
            bus.publish(_pushed(str(i)))  # the dispatcher has not run yet: 10 fit
        dropped = bus.dropped
        await bus.stop()
        return dropped
    assert asyncio.run(scenario()) == 15


def test_backoff_doubles_from_the_base_up_to_the_maximum() -> None:
    assert [backoff(n, 2.0, 30.0) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(1, 0.0, 30.0) == 0.0
