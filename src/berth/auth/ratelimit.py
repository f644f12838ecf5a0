"""Failed-login throttling (in-process, sliding windows): per user name from one address, per user
name from everywhere, and per client address.

A name is normalised (case, surrounding spaces) so that spellings a directory treats as one account
share one counter. Blocking a name only from the address that failed keeps an attacker elsewhere from
locking a CI robot out; the looser all-addresses limit still bounds a distributed guess.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from dataclasses import dataclass, field

from berth.services.errors import TooManyRequests


def _name_key(username: str) -> str:
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


@dataclass
class LoginLimiter:
    """After `per_user` failures for one name from one address, `per_user * 10` for one name from
    anywhere, or `per_address` from one address, within `window` seconds, further attempts are
    refused with 429 until the oldest failure ages out. Refusals are decided before any password is
    checked, so a blocked attacker costs no hashing."""

    per_user: int = 10
    per_address: int = 30
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _keys(self, username: str, address: str) -> list[tuple[str, int, str]]:
        name = _name_key(username)
        return [
            (f"ua:{name}:{address}", self.per_user, "this user"),
            (f"u:{name}", self.per_user * 10, "this user"),
            (f"a:{address}", self.per_address, "this address"),
        ]

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
        for key, limit, what in self._keys(username, address):
            entries = self._recent(key, now)
            if len(entries) >= limit:
                wait = int(entries[0] + self.window - now) + 1
                raise TooManyRequests(f"too many failed logins for {what}; try again in {wait} seconds")

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key, _, _ in self._keys(username, address):
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])[: len(self._failures) // 2]
            for key in oldest:
                del self._failures[key]

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(f"ua:{_name_key(username)}:{address}", None)
