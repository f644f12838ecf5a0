"""Pull counts and times: counted in memory on the hot path, added to the database every few seconds.

A manifest GET only bumps a counter here; `flush` turns the counters into a few UPDATEs. Counts are
additive, so several nodes flushing into one database add up; a crash loses at most one interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from berth.db.models import Manifest, Repository, Tag, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ArtifactPulled


@dataclass(slots=True)
class _Pending:
    count: int
    last: datetime


class PullRecorder:
    def __init__(self, db: Database, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events or EventBus()
        self._pending: dict[tuple[str, str], _Pending] = {}
        #: (repository, tag) -> last pull by that tag
        self._tags: dict[tuple[str, str], datetime] = {}

    def record(self, repository: str, digest: str, tag: str | None = None, media_type: str = "") -> None:
        now = utcnow()
        self._events.publish(ArtifactPulled(repository=repository, digest=digest, media_type=media_type,
                                            tags=(tag,) if tag else (), occurred_at=now))
        entry = self._pending.get((repository, digest))
        if entry is None:
            self._pending[(repository, digest)] = _Pending(1, now)
        else:
            entry.count += 1
            entry.last = now
        if tag is not None:
            self._tags[(repository, tag)] = now

    def mark_pulled(self, repository: str, digest: str, tag: str | None = None) -> None:
        """Set pull times without counting a pull: the proxy cache stores a manifest after the pull that
        fetched it was counted (a pull time keeps it from Harbor's 7-days-since-pull retention)."""
        now = utcnow()
        entry = self._pending.get((repository, digest))
        if entry is None:
            self._pending[(repository, digest)] = _Pending(0, now)
        else:
            entry.last = now
        if tag is not None:
            self._tags[(repository, tag)] = now

    async def flush(self) -> int:
        """Write the pending counts; returns how many pulls were written."""
        pending, self._pending = self._pending, {}
        tags, self._tags = self._tags, {}
        if not pending:
            return 0
        per_repository: dict[str, int] = {}
        for (repository, _), entry in pending.items():
            per_repository[repository] = per_repository.get(repository, 0) + entry.count
        async with self._db.write() as conn:
            for repository, count in sorted(per_repository.items()):
                await conn.execute(
                    update(Repository).where(Repository.name == repository)
                    .values(pull_count=Repository.pull_count + count)
                )
            for (repository, digest), entry in sorted(pending.items()):
                repo_id = select(Repository.id).where(Repository.name == repository).scalar_subquery()
                await conn.execute(
                    update(Manifest).where(Manifest.repository_id == repo_id, Manifest.digest == digest)
                    .values(pull_time=entry.last)
                )
            for (repository, tag), when in sorted(tags.items()):
                repo_id = select(Repository.id).where(Repository.name == repository).scalar_subquery()
                await conn.execute(update(Tag).where(Tag.repository_id == repo_id, Tag.name == tag).values(pull_time=when))
        return sum(per_repository.values())
