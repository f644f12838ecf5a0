"""The immutability service on a real SQLite schema: `immutable_tags` (what retention asks) answers
from memory once warm, forgets at once what this process changes, and sees another process's change
once its cache stops trusting it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, insert

from berth.db.models import Project
from berth.db.session import Database, run_migrations
from berth.services.immutability import ImmutabilityService, parse_rule
from berth.services.projects import ProjectService


def spec(tags: str, repos: str = "**", disabled: bool = False):  # type: ignore[no-untyped-def]
    return parse_rule({
        "disabled": disabled,
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}]},
    })


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[tuple[Database, int, list[int]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    await asyncio.to_thread(run_migrations, url)
    db = Database(url)
    statements = [0]
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    async with db.write() as conn:
        project = (await conn.execute(insert(Project).values(name="shop"))).inserted_primary_key[0]
    yield db, project, statements
    await db.close()


async def test_immutable_tags_is_cached_and_forgets_this_process_changes(world) -> None:
    db, project, statements = world
    service = ImmutabilityService(db, ProjectService(db))
    assert await service.immutable_tags(project, "shop/app", ["v1", "latest"]) == set()
    rule_id = await service.create(project, "shop", spec("v*", "app"))
    assert await service.immutable_tags(project, "shop/app", ["v1", "latest"]) == {"v1"}
    assert await service.immutable_tags(project, "shop/web", ["v1"]) == set()
    before = statements[0]
    for _ in range(50):
        await service.immutable_tags(project, "shop/app", ["v1", "v2"])
    assert statements[0] == before, "a warm cache asks the database nothing"
    assert (await service.rules_of_repository("shop/app")).immutable("shop/app", "v9")
    assert not await service.rules_of_repository("nowhere/app")

    current = await service.get(project, rule_id)
    await service.update(current, "shop", spec("v*", "app", disabled=True))
    assert await service.immutable_tags(project, "shop/app", ["v1"]) == set()
    await service.delete(await service.get(project, rule_id), "shop")
    assert (await service.list(project))[1] == 0


async def test_another_nodes_change_arrives_within_the_cache_time(world) -> None:
    db, project, _ = world
    this = ImmutabilityService(db, ProjectService(db), ttl=0.3)
    other = ImmutabilityService(db, ProjectService(db), ttl=0.3)
    assert await this.immutable_tags(project, "shop/app", ["v1"]) == set()
    await other.create(project, "shop", spec("**"))
    await asyncio.sleep(0.4)
    assert await this.immutable_tags(project, "shop/app", ["v1"]) == {"v1"}
