"""Scan jobs without a server: the scan type of a request, the overview a scan event carries, the
SCANNING_* webhook payloads, and a finished scan's event written in record_report's transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from berth.db.session import Database, run_migrations
from berth.db.models import EventOutbox
from berth.events.bus import EventBus
from berth.events.outbox import decode
from berth.events.types import ScanCompleted, ScanFailed, ScanStopped
from berth.security.keys import SecretBox
from berth.services.errors import BadRequest
from berth.services.scanners import ScannerService
from berth.services.scan_jobs import scan_type_of
from berth.services.scan_runs import overview
from berth.services.scans import REPORT_V11, ScannerInfo, ScanReportService
from berth.webhook.payloads import RepositoryFacts, event_type_of, harbor_payload

REPORT = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "harbor-examples" / \
    "vulnerability-report-v1.1.json"
DIGEST = "sha256:" + "cd" * 32
START = datetime(2026, 12, 2, 18, 0, 0, tzinfo=UTC)
END = START + timedelta(seconds=7)
SCANNER = ScannerInfo("berth", "berth", "0.1.0")


def test_a_scan_request_is_for_vulnerabilities_unless_it_asks_for_an_sbom():
    assert scan_type_of(None) == scan_type_of({}) == scan_type_of({"scan_type": None}) == "vulnerability"
    assert scan_type_of({"scan_type": "sbom"}) == "sbom"
    with pytest.raises(BadRequest):
        scan_type_of({"scan_type": "secrets"})


def test_the_overview_of_a_finished_scan_is_harbors_native_report_summary():
    body = overview("r-1", "Success", json.loads(REPORT.read_text()), SCANNER, START, END)
    assert body == {
        "report_id": "r-1", "scan_status": "Success", "duration": 7, "start_time": "2026-12-02T18:00:00.000Z",
        "end_time": "2026-12-02T18:00:07.000Z", "scanner": {"name": "berth", "vendor": "berth", "version": "0.1.0"},
        "severity": "High", "complete_percent": 100, "summary": {"total": 1, "fixable": 1, "summary": {"High": 1}},
    }
    failed = overview("r-2", "Error", None, SCANNER, START, END)
    assert failed["scan_status"] == "Error" and "summary" not in failed and "severity" not in failed
    sbom = overview("r-3", "Success", {"sbom_digest": DIGEST}, SCANNER, START, END, sbom_digest=DIGEST)
    assert sbom["sbom_digest"] == DIGEST and "summary" not in sbom


@pytest.mark.parametrize(("event", "name"), [(ScanCompleted, "SCANNING_COMPLETED"), (ScanFailed, "SCANNING_FAILED"),
                                             (ScanStopped, "SCANNING_STOPPED")])
def test_scan_events_become_harbors_scanning_payloads(event, name):
    summary = {"report_id": "r-1", "scan_status": "Success"}
    scanned = event(repository="team/app", digest=DIGEST, tags=("1.0",), operator="auto", occurred_at=END,
                    overview={REPORT_V11: summary})
    assert event_type_of(scanned) == name
    payload = harbor_payload(scanned, RepositoryFacts(3, True, 1_700_000_000), "registry.example.com")
    assert payload["type"] == name and payload["operator"] == "auto"
    assert payload["event_data"]["resources"] == [{
        "digest": DIGEST, "tag": "1.0", "resource_url": "registry.example.com/team/app:1.0",
        "scan_overview": {REPORT_V11: summary}}]
    assert payload["event_data"]["scan"] == {"scan_type": "vulnerability"}


def test_an_sbom_event_carries_the_sbom_overview():
    done = ScanCompleted(repository="team/app", digest=DIGEST, scan_type="sbom", occurred_at=END,
                         overview={"application/vnd.security.sbom.report+json; version=1.0": {"sbom_digest": DIGEST}})
    resource = harbor_payload(done, RepositoryFacts(3, True), "h")["event_data"]["resources"][0]
    assert "scan_overview" not in resource and resource["sbom_overview"]
    assert harbor_payload(done, RepositoryFacts(3, True), "h")["event_data"]["scan"] == {"scan_type": "sbom"}


def test_a_finished_scan_records_its_event_in_the_reports_transaction(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)

    async def scenario() -> tuple[str, list]:
        db = Database(url)
        try:
            events = EventBus()
            scanner = await ScannerService(db, SecretBox(b"k" * 32), events).register_builtin(
                "berth", "http://127.0.0.1:5000/scanner", auth="Bearer", credential="c")
            service = ScanReportService(db, events)
            report_id = await service.record_report(
                digest=DIGEST, registration_uuid=scanner.uuid, mime_type=REPORT_V11, status="Success",
                report=json.loads(REPORT.read_text()), scanner=SCANNER, start_time=START, end_time=END,
                event=lambda rid: ScanCompleted(repository="team/app", digest=DIGEST, occurred_at=END,
                                                overview={REPORT_V11: {"report_id": rid}}))
            async with db.read() as conn:
                rows = (await conn.execute(select(EventOutbox.kind, EventOutbox.body)
                                           .where(EventOutbox.kind == "ScanCompleted"))).all()
            return report_id, rows
        finally:
            await db.close()

    report_id, rows = asyncio.run(scenario())
    [event] = [decode(kind, body) for kind, body in rows]
    assert isinstance(event, ScanCompleted) and event.overview == {REPORT_V11: {"report_id": report_id}}


def test_the_builtin_registration_keeps_the_mounted_adapters_credential_sealed(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)
    box = SecretBox(b"k" * 32)

    async def scenario() -> tuple[str, str, str, str]:
        db = Database(url)
        try:
            scanners = ScannerService(db, box, EventBus())
            first = await scanners.register_builtin("berth", "http://h:1/scanner", auth="Bearer", credential="one")
            moved = await scanners.register_builtin("berth", "http://h:1/scanner", auth="Bearer", credential="two")
            return first.uuid, moved.uuid, scanners.credential(first), scanners.credential(moved)
        finally:
            await db.close()

    first_uuid, moved_uuid, first, moved = asyncio.run(scenario())
    assert first_uuid == moved_uuid and (first, moved) == ("one", "two")
