"""The export job reads findings a page at a time (keyset over artifact and finding ids), never the
whole set: with tiny pages every finding still comes out once, in order, from the right reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import insert

from berth.db.models import Manifest, Project, Repository, ScannerRegistration
from berth.db.session import Database, run_migrations
from berth.jobs.store import JobStore
from berth.scan.export import Criteria, Row
from berth.services import scan_export
from berth.services.scan_export import ScanExportService
from berth.services.scans import REPORT_V10, REPORT_V11, ScannerInfo, ScanReportService
from berth.storage.filesystem import FilesystemDriver


def test_tiny_pages_give_every_finding_once_in_order(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)
    monkeypatch.setattr(scan_export, "PAGE", 3)
    monkeypatch.setattr(scan_export, "ARTIFACT_CHUNK", 2)
    digests = [f"sha256:{i:064x}" for i in range(1, 6)]

    async def scenario() -> list[list[Row]]:
        db = Database(url)
        now = datetime.now(UTC)
        async with db.write() as conn:
            project_id = (await conn.execute(insert(Project).values(name="p", created_at=now, updated_at=now))
                          ).inserted_primary_key[0]
            repo_id = (await conn.execute(insert(Repository).values(name="p/app", project_id=project_id))
                       ).inserted_primary_key[0]
            for digest in digests:
                await conn.execute(insert(Manifest).values(repository_id=repo_id, digest=digest, media_type="x",
                                                           size=1, content=b"{}"))
            await conn.execute(insert(ScannerRegistration).values(uuid="s1", name="one", url="http://s1"))
        reports = ScanReportService(db)
        for index, digest in enumerate(digests):
            findings = [{"id": f"CVE-{index}-{n}", "package": f"pkg{n}", "severity": "Low"} for n in range(index + 1)]
            await reports.record_report(digest=digest, registration_uuid="s1", mime_type=REPORT_V11, status="Success",
                                        report={"vulnerabilities": findings}, scanner=ScannerInfo("one"))
        # an older-format report of the same scanner beside the 1.1 one is left out
        await reports.record_report(digest=digests[0], registration_uuid="s1", mime_type=REPORT_V10,
                                    status="Success", report={"vulnerabilities": [{"id": "CVE-OLD"}]})
        service = ScanExportService(db, FilesystemDriver(str(tmp_path / "storage")), JobStore(db))
        pages = [page async for page in service._rows(Criteria(project_id))]
        await db.close()
        return pages

    pages = asyncio.run(scenario())
    assert all(0 < len(page) <= 3 for page in pages)
    rows = [row for page in pages for row in page]
    expected = [(digest, f"CVE-{index}-{n}") for index, digest in enumerate(digests) for n in range(index + 1)]
    assert [(row.digest, row.cve_id) for row in rows] == expected  # 15 findings in 7 pages
    assert {row.repository for row in rows} == {"p/app"} and {row.scanner for row in rows} == {"one"}
