"""The scan data export's retention (services/scan_export.py clean_up): files of exports that ended
longer ago than the retention go, and so do files whose execution was swept; others stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from berth.db.models import Execution, utcnow
from berth.db.session import Database, run_migrations
from berth.jobs.store import JobStore
from berth.scan.export import Criteria
from berth.services.scan_export import ScanExportService
from berth.storage.filesystem import FilesystemDriver
from berth.storage.paths import scan_export_path


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def test_old_and_orphaned_export_files_are_deleted_recent_ones_kept(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)

    async def scenario() -> None:
        db, storage = Database(url), FilesystemDriver(str(tmp_path / "storage"))
        exports = ScanExportService(db, storage, JobStore(db))
        old, recent, running = [await exports.start(Criteria(1), 1, "alice") for _ in range(3)]
        async with db.write() as conn:
            for execution_id, ended in ((old, timedelta(hours=30)), (recent, timedelta(hours=1))):
                await conn.execute(update(Execution).where(Execution.id == execution_id).values(
                    status="Success", end_time=utcnow() - ended))
        orphan = running + 1000
        for execution_id in (old, recent, running, orphan):
            await storage.write(scan_export_path(execution_id), _chunks(b"Repository\n"))

        assert await exports.clean_up(retention_seconds=24 * 3600) == 2
        assert await storage.stat(scan_export_path(old)) is None
        assert await storage.stat(scan_export_path(orphan)) is None
        assert await storage.stat(scan_export_path(recent)) is not None
        assert await storage.stat(scan_export_path(running)) is not None
        assert await exports.clean_up(retention_seconds=24 * 3600) == 0
        await storage.close()
        await db.close()

    asyncio.run(scenario())
