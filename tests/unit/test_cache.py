"""The hot-path LRU cache: bounds, expiry, and no stale answer stored after a write; the read-through
loader over it: one load per key at a time, stale answers while refreshing, nothing stored across a write."""

from __future__ import annotations

import asyncio

from berth.services.cache import LruCache, ReadThrough


def test_least_recently_used_entries_go_first() -> None:
    cache: LruCache[str, int] = LruCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_weight_bound_evicts_and_refuses_oversized_values() -> None:
    cache: LruCache[str, bytes] = LruCache(max_entries=100, max_weight=10, weigh=len)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    cache.put("c", b"1")
    assert cache.get("a") is None and len(cache) == 2
    cache.put("big", b"x" * 11)
    assert cache.get("big") is None


def test_entries_expire_after_the_ttl() -> None:
    now = [0.0]
    cache: LruCache[str, int] = LruCache(max_entries=10, ttl=10, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] = 10
    assert cache.get("a") == 1
    now[0] = 10.5
    assert cache.get("a") is None


def test_an_answer_read_before_a_concurrent_write_is_not_cached() -> None:
    cache: LruCache[str, str] = LruCache(max_entries=10)
    version = cache.version  # a reader starts its query
    cache.discard("latest")  # a writer changes the tag meanwhile
    cache.put("latest", "old digest", if_version=version)
    assert cache.get("latest") is None
    version = cache.version
    cache.put("other", "x")  # unrelated puts do not invalidate readers
    cache.put("latest", "new digest", if_version=version)
    assert cache.get("latest") == "new digest"


class _Loads:
    """A loader that counts its calls and answers when released."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.calls += 1
        number = self.calls
        await self.release.wait()
        return number


async def test_concurrent_misses_share_one_load() -> None:
    reads: ReadThrough[str, int] = ReadThrough(LruCache(max_entries=10, ttl=60))
    load = _Loads()
    waiting = [asyncio.create_task(reads.get("k", load)) for _ in range(32)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiting) == [1] * 32 and load.calls == 1
    assert await reads.get("k", load) == 1 and load.calls == 1


async def test_an_expired_entry_is_answered_at_once_and_refreshed_once_in_the_background() -> None:
    now = [0.0]
    reads: ReadThrough[str, int] = ReadThrough(LruCache(max_entries=10, ttl=10, clock=lambda: now[0]))
    load = _Loads()
    load.release.set()
    assert await reads.get("k", load) == 1
    now[0] = 12  # past the TTL, not past twice it
    assert [await reads.get("k", load) for _ in range(5)] == [1] * 5  # stale, no waiting on the load
    await asyncio.gather(*reads.loading)
    assert load.calls == 2 and await reads.get("k", load) == 2


async def test_an_entry_past_twice_the_ttl_is_loaded_again_before_answering() -> None:
    now = [0.0]
    reads: ReadThrough[str, int] = ReadThrough(LruCache(max_entries=10, ttl=10, clock=lambda: now[0]))
    load = _Loads()
    load.release.set()
    assert await reads.get("k", load) == 1
    now[0] = 25
    assert await reads.get("k", load) == 2


async def test_a_load_started_before_a_discard_neither_stores_nor_answers_later_callers() -> None:
    reads: ReadThrough[str, int] = ReadThrough(LruCache(max_entries=10, ttl=60))
    load = _Loads()
    first = asyncio.create_task(reads.get("k", load))
    await asyncio.sleep(0)
    reads.cache.discard("k")  # a writer changed what the first load is reading
    second = asyncio.create_task(reads.get("k", load))
    await asyncio.sleep(0)
    load.release.set()
    assert (await first, await second) == (1, 2)
    assert await reads.get("k", load) == 2 and load.calls == 2
