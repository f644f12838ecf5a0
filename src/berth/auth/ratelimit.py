"""Failed-login throttling per user name and per client address (in-process, sliding window)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from berth.services.errors import TooManyRequests


@dataclass
class LoginLimiter:
    """After `per_user` failures for one name, or `per_address` from one address, within `window`
    seconds, further attempts are refused with 429 until the oldest failure ages out. Refusals are
    decided before any password is checked, so a blocked attacker costs no hashing."""

    per_user: int = 10
    per_address: int = 30
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures.get(key)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        if not entries:
            del self._failures[key]
        return entries

    def check(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key, limit in ((f"u:{username}", self.per_user), (f"a:{address}", self.per_address)):
            entries = self._recent(key, now)
            if len(entries) >= limit:
                wait = int(entries[0] + self.window - now) + 1
                what = "this user" if key.startswith("u:") else "this address"
                raise TooManyRequests(f"too many failed logins for {what}; try again in {wait} seconds")

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"u:{username}", f"a:{address}"):
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])[: len(self._failures) // 2]
            for key in oldest:
                del self._failures[key]

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username}", None)
