"""The vulnerability database imports OSV exports as a whole new set and swaps it in at once, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from berth.db.models import VulnRecord
from berth.db.session import Database, run_migrations
from berth.scan.match import match
from berth.scan.model import Package
from berth.scan.osv import packages
from berth.scan.osv_sources import SourceError
from berth.scan.vulndb import ImportConflict, VulnDB
from tests.conftest import _fresh_postgres_database
from tests.unit.scan.osv_fixtures import INVALID_SAMPLE, SAMPLES, SYNTHETIC, load

WITHDRAWN = {"id": "GHSA-with-draw-n000", "modified": "2025-01-01T00:00:00Z", "withdrawn": "2025-02-01T00:00:00Z",
             "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                           "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'vulndb.db'}"
    else:
        base = os.environ.get("BERTH_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("PostgreSQL not configured (run through scripts/with-postgres)")
        url = _fresh_postgres_database(base, "berth_vulndb")
    run_migrations(url)
    yield url


def export(path: Path, records: list[Any]) -> Path:
    """An OSV all.zip: one <id>.json per record (raw bytes for records given as bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, record in enumerate(records):
            data = record if isinstance(record, bytes) else orjson.dumps(record)
            name = record["id"] if isinstance(record, dict) else f"broken-{i}"
            archive.writestr(f"{name}.json", data)
    return path


def all_records() -> list[Any]:
    return [load(p) for p in [*SAMPLES, *SYNTHETIC]] + [WITHDRAWN, b"{not json"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_db(url: str, body: Any) -> Any:
    db = Database(url)
    try:
        return await body(VulnDB(db), db)
    finally:
        await db.close()


async def _rows(db: Database) -> dict[int, int]:
    async with db.read() as conn:
        result = await conn.execute(select(VulnRecord.generation, func.count()).group_by(VulnRecord.generation))
        return dict(result.all())


def test_import_loads_valid_records_and_lists_the_invalid_ones(db_url: str, tmp_path: Path) -> None:
    zip_path = export(tmp_path / "all.zip", all_records())
    seen = {"total": 0, "done": 0}

    async def body(vulndb: VulnDB, db: Database) -> None:
        report = await vulndb.import_sources(
            [str(zip_path)],
            add_total=lambda n: seen.__setitem__("total", seen["total"] + n),
            advance=lambda n: seen.__setitem__("done", seen["done"] + n),
        )
        assert (report.loaded, report.withdrawn) == (len(SAMPLES) - 1 + len(SYNTHETIC), 1)
        reasons = dict(report.invalid)
        assert set(reasons) == {f"{zip_path}:CVE-2012-2812.json", f"{zip_path}:broken-{len(all_records()) - 1}.json"}
        assert "null is not of type" in reasons[f"{zip_path}:CVE-2012-2812.json"]
        assert seen == {"total": len(all_records()), "done": len(all_records())}
        assert report.counts == {"Alpine": 2, "Debian": 2, "Maven": 1, "PyPI": 3, "Ubuntu": 1, "npm": 1}
        status = await vulndb.status()
        assert (status.records, status.counts, status.source) == (report.loaded, report.counts, str(zip_path))
        assert status.max_modified == "2099-02-02T00:00:00Z"
        assert 0 <= (status.age() or -1) < 60
        # lodash and lodash-es both find the one GHSA record; the withdrawn one was not loaded
        assert [r["id"] for r in await vulndb.records_for("npm", "lodash-es")] == ["GHSA-35jh-r3h4-6jhm"]
        assert [r["id"] for r in await vulndb.records_for("npm", "lodash")] == ["GHSA-35jh-r3h4-6jhm"]
        assert [r["id"] for r in await vulndb.records_for("Debian:7", "nginx")] == ["DSA-3029-1"]
        assert await vulndb.records_for("Debian:8", "nginx") == []
        assert len(await vulndb.records_for("PyPI", "Cryptography")) == 2

    run(_with_db(db_url, body))


def test_matching_through_the_database_gives_the_checked_verdicts(db_url: str, tmp_path: Path) -> None:
    zip_path = export(tmp_path / "all.zip", all_records())

    def pkg(name: str, version: str, ecosystem: str, source: str | None = None) -> Package:
        return Package(name=name, version=version, ecosystem=ecosystem, purl="", kind="os", source_name=source)

    async def body(vulndb: VulnDB, db: Database) -> None:
        await vulndb.import_sources([str(zip_path)])
        findings = await match(
            [pkg("lodash", "4.17.20", "npm"), pkg("lodash", "4.17.21", "npm"), pkg("cryptography", "3.2.1", "PyPI"),
             pkg("nginx-full", "1.2.1-2.2+wheezy2", "Debian:7", "nginx"), pkg("nginx", "1.2.1-2.2+wheezy3", "Debian:7"),
             pkg("mariadb", "10.6.7-r0", "Alpine:v3.16"), pkg("mariadb", "10.6.8-r0", "Alpine:v3.16")],
            vulndb,
        )
        assert [(f.package.name, f.package.version, f.id) for f in findings] == [
            ("lodash", "4.17.20", "CVE-2021-23337"),
            ("cryptography", "3.2.1", "CVE-2020-36242"),
            ("nginx-full", "1.2.1-2.2+wheezy2", "CVE-2014-3616"),
            ("mariadb", "10.6.7-r0", "CVE-2022-27449"),
        ]

    run(_with_db(db_url, body))


def test_reimport_is_idempotent_and_keeps_one_set(db_url: str, tmp_path: Path) -> None:
    zip_path = export(tmp_path / "all.zip", all_records())

    async def body(vulndb: VulnDB, db: Database) -> None:
        first = await vulndb.import_sources([str(zip_path)])
        rows_first = await _rows(db)
        second = await vulndb.import_sources([str(zip_path)])
        assert (second.loaded, second.counts, len(second.invalid)) == (first.loaded, first.counts, len(first.invalid))
        assert second.generation == first.generation + 1
        assert await _rows(db) == {second.generation: rows_first[first.generation]}
        assert (await vulndb.status()).generation == second.generation

    run(_with_db(db_url, body))


def test_failed_import_leaves_the_previous_set_live_and_no_rows_behind(db_url: str, tmp_path: Path) -> None:
    old = export(tmp_path / "old" / "all.zip", [load(p) for p in SAMPLES if p != INVALID_SAMPLE])
    new = export(tmp_path / "new" / "all.zip", [load(p) for p in SYNTHETIC])
    not_a_zip = tmp_path / "PyPI.zip"
    not_a_zip.write_text("this is not a zip file\n")

    async def body(vulndb: VulnDB, db: Database) -> None:
        before = await vulndb.import_sources([str(old)])
        # the good export is written first, then the bad one fails part-way through the import
        with pytest.raises(SourceError, match="not a zip"):
            await vulndb.import_sources([str(new), str(not_a_zip)])
        status = await vulndb.status()
        assert (status.generation, status.records, status.source) == (before.generation, before.loaded, str(old))
        assert set(await _rows(db)) == {before.generation}  # the failed generation's rows are gone
        fresh = VulnDB(db)
        assert [r["id"] for r in await fresh.records_for("Debian:7", "nginx")] == ["DSA-3029-1"]
        assert await fresh.records_for("Debian:12", "libexample") == []

    run(_with_db(db_url, body))


def test_osv_scanner_cache_layout_and_json_folders_are_sources(db_url: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    export(cache / "osv-scanner" / "npm" / "all.zip", [load(p) for p in SAMPLES if "npm" in p.parts])
    export(cache / "osv-scanner" / "PyPI" / "all.zip", [load(p) for p in SAMPLES if "pypi" in p.parts])
    folder = tmp_path / "records"
    folder.mkdir()
    for path in SYNTHETIC:
        (folder / path.name).write_bytes(path.read_bytes())

    async def body(vulndb: VulnDB, db: Database) -> None:
        report = await vulndb.import_sources([str(cache), str(folder)])
        assert report.counts == {"Alpine": 1, "Debian": 1, "PyPI": 3, "npm": 1}
        assert report.invalid == []
        with pytest.raises(SourceError, match="no such file"):
            await vulndb.import_sources([str(tmp_path / "missing")])
        assert (await vulndb.status()).counts == report.counts

    run(_with_db(db_url, body))


def test_status_before_any_import_says_nothing_is_loaded(db_url: str) -> None:
    async def body(vulndb: VulnDB, db: Database) -> None:
        status = await vulndb.status()
        assert (status.generation, status.records, status.age()) == (0, 0, None)
        assert await vulndb.records_for("npm", "lodash") == []

    run(_with_db(db_url, body))


def test_two_imports_at_once_one_wins_whole_and_the_other_is_told(db_url: str, tmp_path: Path) -> None:
    zip_path = export(tmp_path / "all.zip", all_records())

    async def body(vulndb: VulnDB, db: Database) -> None:
        results = await asyncio.gather(
            vulndb.import_sources([str(zip_path)]), VulnDB(db).import_sources([str(zip_path)]), return_exceptions=True
        )
        [won] = [r for r in results if not isinstance(r, BaseException)]
        [lost] = [r for r in results if isinstance(r, BaseException)]
        assert isinstance(lost, ImportConflict)
        assert (await vulndb.status()).generation == won.generation
        assert set(await _rows(db)) == {won.generation}
        # one row per (ecosystem, package) of each loaded record, none twice
        loaded = [load(p) for p in [*SAMPLES, *SYNTHETIC] if p != INVALID_SAMPLE]
        assert sum((await _rows(db)).values()) == sum(len(packages(r)) for r in loaded)

    run(_with_db(db_url, body))


def test_rows_left_by_an_import_that_died_go_with_the_next_import(db_url: str, tmp_path: Path) -> None:
    zip_path = export(tmp_path / "all.zip", all_records())

    async def body(vulndb: VulnDB, db: Database) -> None:
        # what a killed process leaves: a generation number taken and rows written, never made live
        _live, dead = await vulndb._begin()
        async with db.write() as conn:
            await conn.execute(VulnRecord.__table__.insert(), [
                {"generation": dead, "ecosystem_prefix": "npm", "ecosystem": "npm", "name": "lodash",
                 "record_id": "GHSA-dead", "record": "{}"}])
        report = await vulndb.import_sources([str(zip_path)])
        assert report.generation > dead
        assert set(await _rows(db)) == {report.generation}

    run(_with_db(db_url, body))
