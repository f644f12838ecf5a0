"""`berth vulndb import` and `status`, run as the real program on the database `berth serve` uses."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BERTH, _fresh_postgres_database, start_berth
from tests.unit.scan.osv_fixtures import SAMPLES, SYNTHETIC


@pytest.fixture
def database_flags(database, database_urls, tmp_path) -> list[str]:
    flags = ["--data-dir", str(tmp_path / "data")]
    if database == "postgresql":
        flags += ["--database-url", _fresh_postgres_database(database_urls["postgresql"], "berth_vulndb_cli")]
    return flags


@pytest.fixture
def export(tmp_path) -> Path:
    path = tmp_path / "exports" / "all.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for record in [*SAMPLES, *SYNTHETIC]:
            archive.write(record, record.name)
    return path


@pytest.fixture
def served(export) -> Iterator[str]:
    """The export over HTTP on 127.0.0.1, as the OSV bucket serves all.zip."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(export.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/all.zip"
    server.shutdown()
    server.server_close()


def berth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BERTH, "vulndb", *args], capture_output=True, text=True, timeout=120)


def test_import_then_status_on_the_same_database(database_flags, export) -> None:
    before = berth("status", *database_flags)
    assert before.returncode == 0 and "no vulnerability database imported" in before.stdout
    result = berth("import", str(export), *database_flags)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"loaded {len(SAMPLES) + len(SYNTHETIC) - 1}, invalid 1, withdrawn 0, took ")
    assert "CVE-2012-2812.json: affected/0/versions: null" in result.stderr
    status = berth("status", *database_flags)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"{len(SAMPLES) + len(SYNTHETIC) - 1} records, imported ")
    assert "  Debian: 2\n" in status.stdout and "  npm: 1\n" in status.stdout
    assert f"source: {export}" in status.stdout


def test_failed_import_exits_1_and_keeps_the_loaded_set(database_flags, export, tmp_path) -> None:
    assert berth("import", str(export), *database_flags).returncode == 0
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip\n")
    result = berth("import", str(export), str(bad), *database_flags)
    assert result.returncode == 1
    assert "import failed, the previous vulnerability database stays" in result.stderr and "not a zip" in result.stderr
    assert f"source: {export}\n" in berth("status", *database_flags).stdout


def test_import_from_a_url(served, tmp_path) -> None:
    flags = ["--data-dir", str(tmp_path / "data")]
    result = berth("import", served, *flags)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"loaded {len(SAMPLES) + len(SYNTHETIC) - 1}, invalid 1,")
    assert f"source: {served}" in berth("status", *flags).stdout


def test_configured_sources_are_imported_by_the_server(served, tmp_path) -> None:
    """Connected installs: `vulndb_update_sources` are imported by a job of the server, at once when
    nothing was imported yet, then on `vulndb_update_cron`."""
    data = tmp_path / "data"
    server = start_berth(data, {"BERTH_VULNDB_UPDATE_SOURCES": json.dumps([served])})
    try:
        deadline = time.monotonic() + 90
        while "records, imported" not in (status := berth("status", "--data-dir", str(data))).stdout:
            assert time.monotonic() < deadline, server.log_path.read_text()[-3000:]
            time.sleep(1)
        assert f"source: {served}" in status.stdout
        assert status.stdout.startswith(f"{len(SAMPLES) + len(SYNTHETIC) - 1} records")
        with server.client() as client:
            schedules = client.get("/api/v2.0/schedules", params={"page_size": 100}).json()
        assert {"vendor_type": "VULNDB_UPDATE", "cron": "0 0 3 * * *"}.items() <= next(
            s for s in schedules if s["vendor_type"] == "VULNDB_UPDATE").items()
    finally:
        server.stop()
