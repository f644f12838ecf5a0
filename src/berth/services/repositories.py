"""Repositories: lookup and creation, the catalog, and tag listing."""

from __future__ import annotations

from typing import Any

import bisect
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from berth.db.models import Manifest, Project, Repository, Tag, utcnow
from berth.db.session import Database
from berth.references import is_valid_name
from berth.services.cache import LruCache
from berth.services.errors import BadRequest, NameInvalid, NameUnknown, NotFound, PaginationInvalid
from berth.services.paging import MAX_PAGE, Page, fetch_page
from berth.services.querying import conditions, orderings

@dataclass(frozen=True, slots=True)
class RepositoryRecord:
    """A repository as the Harbor API shows it."""

    id: int
    project_id: int | None
    name: str
    description: str
    artifact_count: int
    pull_count: int
    created_at: datetime
    updated_at: datetime


class RepositoryService:
    def __init__(self, db: Database, cache_ttl: float = 0.0) -> None:
        self._db = db
        #: name -> id; trusted for `cache_ttl` seconds when nodes share the database (another node may
        #: delete an empty repository, and a push recreate it under a new id)
        self._ids: LruCache[str, int] = LruCache(max_entries=100_000, ttl=cache_ttl)
        #: repository id -> its tags in ASCII order; dropped by tags_changed() on every tag write
        self._tag_lists: LruCache[int, list[str]] = LruCache(
            max_entries=10_000, max_weight=32 * 1024 * 1024, weigh=lambda tags: 64 + sum(len(t) + 56 for t in tags),
            ttl=cache_ttl,
        )

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"repository_ids": self._ids, "tag_lists": self._tag_lists}

    @staticmethod
    def validate(name: str) -> str:
        if not is_valid_name(name):
            raise NameInvalid(f"invalid repository name: {name[:300]!r}", {"name": name[:300]})
        return name

    async def find(self, name: str) -> int | None:
        """The repository's id, or None when it does not exist."""
        cached = self._ids.get(name)
        if cached is not None:
            return cached
        async with self._db.read() as conn:
            repo_id = await conn.scalar(select(Repository.id).where(Repository.name == name))
        if repo_id is not None:
            self._ids.put(name, repo_id)
        return repo_id

    async def require(self, name: str) -> int:
        repo_id = await self.find(self.validate(name))
        if repo_id is None:
            raise NameUnknown(f"repository name not known to registry: {name}", {"name": name})
        return repo_id

    async def ensure(self, name: str) -> int:
        """The repository's id for a write into it (a push, a mount), creating the repository on first
        push. Never from the cache: another node's GC may have deleted the (empty) repository since
        this node cached its id. Its update time is touched in the same statement, so no GC deletes it
        as empty within its grace period while the write that asked goes on."""
        self.validate(name)
        now = utcnow()
        async with self._db.write() as conn:
            repo_id = await conn.scalar(update(Repository).where(Repository.name == name)
                                        .values(updated_at=now).returning(Repository.id))
            if repo_id is None:
                project_id = select(Project.id).where(Project.name == name.split("/", 1)[0]).scalar_subquery()
                repo_id = await conn.scalar(
                    self._db.insert(Repository)
                    .values(name=name, project_id=project_id, created_at=now, updated_at=now)
                    .on_conflict_do_nothing()
                    .returning(Repository.id)
                )
                if repo_id is None:  # created concurrently by another node
                    repo_id = await conn.scalar(select(Repository.id).where(Repository.name == name))
        self._ids.put(name, repo_id)
        return repo_id

    async def catalog(self, n: int | None, last: str | None, project_ids: set[int] | None = None) -> Page[str]:
        """A page of repository names; only those in `project_ids` when given (what the caller may see)."""
        column = _ascii(self._db, Repository.name)
        query = select(Repository.name).order_by(column)
        if project_ids is not None:
            query = query.where(Repository.project_id.in_(sorted(project_ids)))
        if last:
            query = query.where(column > last)
        return await fetch_page(self._db, query, n)

    async def tags(self, name: str, n: int | None, last: str | None) -> Page[str]:
        """A page of the repository's tags; without `n`, all of them (as distribution answers)."""
        repo_id = await self.require(name)
        if n is not None and n < 0:
            raise PaginationInvalid("n must be a non-negative integer")
        tags = self._tag_lists.get(repo_id)
        if tags is None:
            version = self._tag_lists.version
            async with self._db.read() as conn:
                tags = list((await conn.execute(select(Tag.name).where(Tag.repository_id == repo_id))).scalars())
            tags.sort()  # tags are ASCII by grammar, so code point order is the spec's byte order
            self._tag_lists.put(repo_id, tags, if_version=version)
        start = bisect.bisect_right(tags, last) if last else 0
        if n is None:
            return Page(tags[start:], None)
        end = start + min(n, MAX_PAGE)
        return Page(tags[start:end], tags[end - 1] if end < len(tags) and n > 0 else None)

    async def list(
        self, *, project_ids: set[int] | None, q: str | None = None, sort: str | None = None,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[RepositoryRecord], int]:
        """A page of repositories in `project_ids` (None: all) and the total, with Harbor's q and sort;
        newest first by default, as Harbor."""
        query = self.list_query(project_ids, q, sort)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
            rows = (await conn.execute(query.offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    @staticmethod
    def list_query(project_ids: set[int] | None, q: str | None, sort: str | None):  # type: ignore[no-untyped-def]
        """The ordered SELECT behind `list` (index-backed for one project; a test checks the plan)."""
        keys = {"name": Repository.name, "project_id": Repository.project_id, "repository_id": Repository.id,
                "creation_time": Repository.created_at, "update_time": Repository.updated_at,
                "pull_count": Repository.pull_count}
        query = _with_artifact_count().where(*conditions(q, keys))
        if project_ids is not None:
            query = query.where(Repository.project_id.in_(sorted(project_ids)))
        return query.order_by(*orderings(sort, keys, [Repository.created_at.desc(), Repository.id.desc()]))

    async def get(self, name: str) -> RepositoryRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(_with_artifact_count().where(Repository.name == name))).first()
        if row is None:
            raise NotFound(f"repository {name} not found")
        return _record(row)

    async def artifact_count(self, project_id: int) -> int:
        """How many artifacts (manifests) the project's repositories hold, as their artifact_count adds up."""
        async with self._db.read() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(Manifest).join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.project_id == project_id)) or 0)

    async def describe(self, name: str, description: str) -> None:
        if len(description) > 65_535:
            raise BadRequest("the description is longer than 65,535 characters")
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Repository).where(Repository.name == name).values(description=description, updated_at=utcnow())
            )
        if result.rowcount == 0:
            raise NotFound(f"repository {name} not found")

    def tags_changed(self, repo_id: int) -> None:
        self._tag_lists.discard(repo_id)

    def forget(self, name: str, repo_id: int) -> None:
        """Drop what is cached about a deleted repository."""
        self._ids.discard(name)
        self._tag_lists.discard(repo_id)


def _ascii(db: Database, column):  # type: ignore[no-untyped-def]
    """Order strings bytewise ("ASCIIbetical", as the spec requires) on every database."""
    return column if db.is_sqlite else column.collate("C")


def _with_artifact_count():  # type: ignore[no-untyped-def]
    """SELECT repositories with how many artifacts (manifests) each holds."""
    artifacts = (
        select(func.count()).select_from(Manifest).where(Manifest.repository_id == Repository.id)
        .correlate(Repository).scalar_subquery()
    )
    return select(Repository, artifacts.label("artifact_count"))


def _record(row) -> RepositoryRecord:  # type: ignore[no-untyped-def]
    return RepositoryRecord(
        row.id, row.project_id, row.name, row.description or "", int(row.artifact_count), int(row.pull_count or 0),
        row.created_at, row.updated_at,
    )
