"""Small in-process LRU caches for the read hot path (manifests by tag, blob links)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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
    ) -> None:
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weigh = weigh or (lambda _: 1)
        self._weight = 0
        self._ttl = ttl
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
        if self._ttl and time.monotonic() - stored > self._ttl:
            self._remove(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

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
        self._data[key] = (value, time.monotonic() if self._ttl else 0.0)
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
