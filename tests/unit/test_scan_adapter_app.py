"""The scanner adapter's ASGI app in-process on a real SQLite database: how a report poll is answered
for each state of a scan, expiry, and what a restarted adapter does with unfinished scans."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from sqlalchemy import update

from berth.db.models import ScannerScan
from berth.db.session import Database, run_migrations
from berth.scan.adapter import AdapterConfig, create_adapter
from berth.scan.envelope import ArtifactRef, ScannerInfo
from berth.scan.mimes import (
    CYCLONEDX_JSON,
    ERROR,
    SBOM_REPORT,
    SPDX_JSON,
    VULNERABILITY_1_0,
    VULNERABILITY_1_1,
)
from berth.scan.model import ImageInventory
from berth.scan.report import vulnerability_report
from berth.scan.request import ScanRequest
from berth.scan.sbom import sbom_report
from berth.scan.scans import ScanStore
from tests.scanner_api import validate

with warnings.catch_warnings():  # Starlette would rather have httpx2 under its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

T = TypeVar("T")
KEY = "adapter-key"
DIGEST = "sha256:" + "ab" * 32
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens there in the test environment


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)
    return url


def in_store(url: str, action: Callable[[ScanStore], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(url)
        try:
            return await action(ScanStore(db, timedelta(hours=1)))
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def adapter(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    config = AdapterConfig(database_url=database_url, credential=KEY,
                           refresh_after_seconds=3, timeout_seconds=60)
    with TestClient(create_adapter(config), base_url="http://adapter", follow_redirects=False,
                    headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def request_for(registry_url: str = UNREACHABLE, authorization: str | None = None) -> ScanRequest:
    return ScanRequest(registry_url, "library/app", DIGEST, "1.0", authorization=authorization)


def report_url(scan_id: str) -> str:
    return f"/api/v1/scan/{scan_id}/report"


def test_queued_scan_answers_302_with_refresh_after_and_no_body(adapter, database_url):
    scan_id = in_store(database_url, lambda store: store.add(request_for()))
    response = adapter.get(report_url(scan_id), headers={"Accept": VULNERABILITY_1_0})
    assert response.status_code == 302
    assert response.headers["Refresh-After"] == "3"
    assert response.headers["Location"] == f"http://adapter{report_url(scan_id)}"


def test_finished_scan_answers_each_report_in_the_mime_asked_for(adapter, database_url):
    artifact, scanner, now = ArtifactRef("library/app", DIGEST), ScannerInfo(), datetime.now(UTC)
    inventory = ImageInventory("sha256:" + "cd" * 32)
    vulnerabilities = orjson.dumps(vulnerability_report(inventory, [], artifact, scanner, now)).decode()
    spdx = orjson.dumps(sbom_report(SPDX_JSON, inventory, artifact, scanner, now)).decode()

    async def finished(store: ScanStore) -> str:
        scan_id = await store.add(request_for())
        await store.finish(scan_id, {(VULNERABILITY_1_1, None): vulnerabilities, (SBOM_REPORT, SPDX_JSON): spdx})
        return scan_id

    scan_id = in_store(database_url, finished)
    for accept in (VULNERABILITY_1_0, VULNERABILITY_1_1, "*/*"):
        response = adapter.get(report_url(scan_id), headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == (VULNERABILITY_1_1 if accept == "*/*" else accept)
        validate("HarborVulnerabilityReport", response.json())
    response = adapter.get(report_url(scan_id), params={"sbom_media_type": SPDX_JSON}, headers={"Accept": SBOM_REPORT})
    assert response.status_code == 200 and response.headers["content-type"] == SBOM_REPORT
    validate("HarborSbomReport", response.json())
    not_asked = adapter.get(report_url(scan_id), params={"sbom_media_type": CYCLONEDX_JSON},
                            headers={"Accept": SBOM_REPORT})
    assert not_asked.status_code == 400 and "was not asked for" in not_asked.json()["error"]["message"]


def test_failed_scan_answers_500_with_its_reason(adapter, database_url):
    async def failed(store: ScanStore) -> str:
        scan_id = await store.add(request_for())
        await store.fail(scan_id, "manifest unknown")
        return scan_id

    response = adapter.get(report_url(in_store(database_url, failed)))
    assert response.status_code == 500 and response.headers["content-type"] == ERROR
    assert response.json() == {"error": {"message": "manifest unknown"}}


def test_unknown_and_expired_scans_are_404_and_expired_rows_are_purged(adapter, database_url):
    scan_id = in_store(database_url, lambda store: store.add(request_for()))

    async def age(store: ScanStore) -> int:
        async with store.db.write() as conn:
            await conn.execute(update(ScannerScan).values(updated_at=datetime.now(UTC) - timedelta(hours=2)))
        return await store.purge_expired()

    assert adapter.get(report_url("no-such-scan")).status_code == 404
    assert adapter.get(report_url(scan_id)).status_code == 302
    purged = in_store(database_url, age)
    assert purged == 1
    response = adapter.get(report_url(scan_id))
    assert response.status_code == 404
    validate("ErrorResponse", response.json())


def test_report_query_errors_come_before_looking_the_scan_up(adapter):
    assert adapter.get(report_url("x"), headers={"Accept": SBOM_REPORT}).status_code == 400
    assert adapter.get(report_url("x"), headers={"Accept": "text/html"}).status_code == 415
    assert adapter.get(report_url("x"), headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"}
                       ).status_code == 501


def test_probes_answer_without_a_credential(adapter):
    assert adapter.get("/probe/healthy", headers={"Authorization": ""}).status_code == 200
    assert adapter.get("/probe/ready", headers={"Authorization": ""}).status_code == 200
    assert adapter.get("/api/v1/metadata", headers={"Authorization": ""}).status_code == 401


def _states(url: str) -> dict[str, tuple[str, str]]:
    async def read(store: ScanStore) -> dict[str, tuple[str, str]]:
        async with store.db.read() as conn:
            rows = (await conn.execute(ScannerScan.__table__.select())).all()
        return {row.id: (row.state, row.error) for row in rows}

    return in_store(url, read)


def test_restart_runs_unfinished_scans_again_but_fails_those_whose_credential_was_not_kept(database_url, tmp_path):
    with_credential = in_store(database_url, lambda s: s.add(request_for(authorization="Bearer gone-with-the-process")))
    anonymous = in_store(database_url, lambda s: s.add(request_for()))
    config = AdapterConfig(database_url=database_url, credential=KEY,
                           timeout_seconds=60)
    with TestClient(create_adapter(config)) as client:
        deadline = time.monotonic() + 60
        while _states(database_url)[anonymous][0] != "failed" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/probe/ready").status_code == 200
    states = _states(database_url)
    assert states[with_credential] == ("failed", states[with_credential][1])
    assert "credentials are not kept" in states[with_credential][1]
    # it ran again: in a scan process, which could not reach the registry (or, before the engine is
    # merged, could not import it); either way a failure of the scan itself, not of the restart
    assert states[anonymous][0] == "failed" and "credentials are not kept" not in states[anonymous][1]


def test_a_scan_process_that_outlives_its_timeout_is_killed(database_url, tmp_path):
    config = AdapterConfig(database_url=database_url, credential=KEY,
                           timeout_seconds=0.01)
    with TestClient(create_adapter(config), headers={"X-ScannerAdapter-API-Key": KEY}) as client:
        body: dict[str, Any] = {"registry": {"url": UNREACHABLE},
                                "artifact": {"repository": "library/app", "digest": DIGEST}}
        scan_id = client.post("/api/v1/scan", content=orjson.dumps(body)).json()["id"]
        deadline = time.monotonic() + 30
        while (response := client.get(report_url(scan_id))).status_code == 302 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "the scan did not finish within 0.01 s"
