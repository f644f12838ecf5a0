"""The pull policy's cached inputs (services/pull_policy.py) on a real SQLite schema: the hot path asks
the database nothing once warm, forgets what this process changes at once, and sees what another
process changed once its cache stops trusting it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, insert

from berth.db.models import Manifest, Project, ProjectMetadata, Repository, utcnow
from berth.db.session import Database, run_migrations
from berth.events.bus import EventBus
from berth.scan.policy import Allowed, Refused
from berth.security.keys import SecretBox
from berth.services.errors import Forbidden
from berth.services.pull_policy import PullPolicyService
from berth.services.scanners import RegistrationInput, ScannerService
from berth.services.scans import REPORT_V11, ScanReportService

REPORT = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "harbor-examples" / "vulnerability-report-v1.1.json"
DIGEST = "sha256:" + "ab" * 32
IMAGE = b'{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[]}'


class Counted:
    """A Database whose statements are counted (what a pull costs)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.statements = 0
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *args: object) -> None:
        self.statements += 1


async def shop_with_image(tmp_path: Path) -> tuple[Counted, int]:
    """A migrated SQLite database with project `shop` holding `shop/app@DIGEST`; the project's id."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    await asyncio.to_thread(run_migrations, url)
    counted = Counted(url)
    async with counted.db.write() as conn:
        project = (await conn.execute(insert(Project).values(name="shop"))).inserted_primary_key[0]
        repo = (await conn.execute(insert(Repository).values(name="shop/app", project_id=project))).inserted_primary_key[0]
        await conn.execute(insert(Manifest).values(
            repository_id=repo, digest=DIGEST, media_type="application/vnd.oci.image.manifest.v1+json", size=len(IMAGE),
            content=IMAGE, type="IMAGE", config_media_type="application/vnd.oci.image.config.v1+json",
            created_at=utcnow()))
    return counted, project


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[tuple[Counted, int, str]]:
    counted, project = await shop_with_image(tmp_path)
    scanner = await ScannerService(counted.db, SecretBox(b"k" * 32), EventBus()).create(
        RegistrationInput(name="example", url="http://127.0.0.1:1/example"))
    yield counted, project, scanner.uuid
    await counted.db.close()


async def prevent(counted: Counted, project: int, on: bool) -> None:
    async with counted.db.write() as conn:
        await conn.execute(insert(ProjectMetadata).values(project_id=project, name="prevent_vul", value=str(on).lower()))
        await conn.execute(insert(ProjectMetadata).values(project_id=project, name="severity", value="high"))


async def test_policy_off_costs_no_statement_once_warm(world):
    counted, project, _ = world
    await prevent(counted, project, on=False)
    policy = PullPolicyService(counted.db)
    assert await policy.verdict(project, "shop/app", DIGEST) == Allowed("policy off")
    before = counted.statements
    for _ in range(50):
        assert await policy.verdict(project, "shop/app", DIGEST) == Allowed("policy off")
    assert counted.statements == before


async def test_policy_on_costs_no_statement_once_warm(world):
    counted, project, _ = world
    await prevent(counted, project, on=True)
    policy = PullPolicyService(counted.db)
    assert isinstance(await policy.verdict(project, "shop/app", DIGEST), Refused)  # unscanned
    before = counted.statements
    assert isinstance(await policy.verdict(project, "shop/app", DIGEST), Refused)
    assert counted.statements == before


async def test_a_report_stored_by_this_process_counts_at_once(world):
    counted, project, scanner = world
    await prevent(counted, project, on=True)
    policy = PullPolicyService(counted.db, ttl=3600)
    reports = ScanReportService(counted.db)
    reports.changed_hooks.append(policy.forget_artifact)
    first = await policy.verdict(project, "shop/app", DIGEST)
    assert isinstance(first, Refused) and "without vulnerability scanning" in first.message
    await reports.record_report(digest=DIGEST, registration_uuid=scanner, mime_type=REPORT_V11, status="Success",
                                report=json.loads(REPORT.read_text()))
    second = await policy.verdict(project, "shop/app", DIGEST)
    assert isinstance(second, Refused) and "with 1 vulnerability" in second.message


async def test_a_report_stored_by_another_process_counts_once_the_cache_expires(world):
    counted, project, scanner = world
    await prevent(counted, project, on=True)
    policy = PullPolicyService(counted.db, ttl=0.2)
    assert "without vulnerability scanning" in (await policy.verdict(project, "shop/app", DIGEST)).message
    other = ScanReportService(counted.db)  # no hook into this policy: as the scan worker's process
    await other.record_report(digest=DIGEST, registration_uuid=scanner, mime_type=REPORT_V11, status="Running")
    assert "without vulnerability scanning" in (await policy.verdict(project, "shop/app", DIGEST)).message
    await asyncio.sleep(0.25)
    assert '"Running" status' in (await policy.verdict(project, "shop/app", DIGEST)).message


async def test_grace_lets_an_unscanned_image_through(world):
    counted, project, _ = world
    await prevent(counted, project, on=True)
    assert await PullPolicyService(counted.db, grace=0).verdict(project, "shop/app", DIGEST) == Allowed("grace")


async def test_the_builtin_adapter_is_registered_once_immutable_and_default_only_when_none_is(world):
    counted, _, existing = world  # `existing` became the default: it was the first registration
    scanners = ScannerService(counted.db, SecretBox(b"k" * 32), EventBus())
    builtin = await scanners.register_builtin("berth", "http://127.0.0.1:5000/scanner")
    assert builtin.immutable and not builtin.is_default and builtin.url.endswith("/scanner")
    again = await scanners.register_builtin("berth", "http://127.0.0.1:6000/scanner")
    assert again.uuid == builtin.uuid and again.url == "http://127.0.0.1:6000/scanner"
    with pytest.raises(Forbidden):
        await scanners.delete(builtin.uuid)
    with pytest.raises(Forbidden):
        await scanners.update(builtin.uuid, RegistrationInput(name="berth", url="http://elsewhere:1"))
    assert (await scanners.default()).uuid == existing
