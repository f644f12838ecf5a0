"""Small in-process LRU caches for the read hot path (manifests by tag, blob links), and a read-through
loader over one that keeps a busy key off the database once warm (the trust check's decisions)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("berth.cache")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """Bounded by entry count and by a weight (e.g. bytes); entries may expire after `ttl` seconds."""

    def __init__(
        self,
        max_entries: int,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
        ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weigh = weigh or (lambda _: 1)
        self._weight = 0
        self._ttl = ttl
        self._clock = clock
        self._version = 0
        #: lookups answered from the cache and not (plain ints: the metrics endpoint reads them)
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        value, stored = entry
        if self._ttl and self._clock() - stored > self._ttl:
            self._remove(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def lookup(self, key: K) -> tuple[V, bool] | None:
        """The value and whether it is still fresh: an entry past the TTL is handed out, as stale, until
        twice the TTL (ReadThrough refreshes it meanwhile), and forgotten after that."""
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        value, stored = entry
        age = self._clock() - stored if self._ttl else 0.0
        if age > 2 * self._ttl:
            self._remove(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value, age <= self._ttl

    @property
    def version(self) -> int:
        """Changes whenever an entry is discarded; read it before a query, pass it to put()."""
        return self._version

    def put(self, key: K, value: V, if_version: int | None = None) -> None:
        """Store value; with if_version, only if nothing was discarded since that version was read
        (so an answer read before a concurrent write can never be cached after it)."""
        if if_version is not None and if_version != self._version:
            return
        weight = self._weigh(value)
        if self._max_weight is not None and weight > self._max_weight:
            return
        self._remove(key)
        self._data[key] = (value, self._clock() if self._ttl else 0.0)
        self._weight += weight
        while len(self._data) > self._max_entries or (
            self._max_weight is not None and self._weight > self._max_weight
        ):
            _, (old, _) = self._data.popitem(last=False)
            self._weight -= self._weigh(old)

    def discard(self, key: K) -> None:
        self._version += 1
        self._remove(key)

    def _remove(self, key: K) -> None:
        entry = self._data.pop(key, None)
        if entry is not None:
            self._weight -= self._weigh(entry[0])

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        self._version += 1  # even when nothing matches: a load in flight may be about to store a match
        for key in [k for k in self._data if predicate(k)]:
            self._remove(key)

    def clear(self) -> None:
        self._version += 1
        self._data.clear()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._data)


class ReadThrough(Generic[K, V]):
    """Reads through an LruCache with a TTL so that a busy key never waits on its loader once warm: an
    entry past the TTL is answered at once while one background load refreshes it, and concurrent misses
    of a key share one load (no herd of identical queries when an entry expires under load). A load
    started before a discard never stores its answer, and no caller arriving after the discard joins it."""

    def __init__(self, cache: LruCache[K, V]) -> None:
        self.cache = cache
        #: key -> (the cache version the load started at, the load)
        self._loads: dict[K, tuple[int, asyncio.Task[V]]] = {}

    @property
    def loading(self) -> list[asyncio.Task[V]]:
        """The loads under way (to wait for at shutdown)."""
        return [task for _, task in self._loads.values() if not task.done()]

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        found = self.cache.lookup(key)
        if found is None:
            return await asyncio.shield(self._start(key, load))  # a cancelled caller leaves the load to others
        value, fresh = found
        if not fresh:
            self._start(key, load)
        return value

    def _start(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        version = self.cache.version
        running = self._loads.get(key)
        if running is not None and running[0] == version:
            return running[1]
        task = asyncio.get_running_loop().create_task(self._load(key, load, version))
        self._loads[key] = (version, task)

        def done(_: asyncio.Task[V]) -> None:
            if self._loads.get(key, (0, None))[1] is task:
                del self._loads[key]
            if not task.cancelled() and task.exception() is not None:  # a stale answer stands until the next try
                log.warning("loading a cached value failed", error=repr(task.exception()))

        task.add_done_callback(done)
        return task

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], version: int) -> V:
        value = await load()
        self.cache.put(key, value, if_version=version)
        return value
