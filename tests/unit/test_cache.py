"""The hot-path LRU cache: bounds, expiry, and no stale answer stored after a write."""

from __future__ import annotations

import time

from berth.services.cache import LruCache


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
    cache: LruCache[str, int] = LruCache(max_entries=10, ttl=0.05)
    cache.put("a", 1)
    assert cache.get("a") == 1
    time.sleep(0.06)
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
