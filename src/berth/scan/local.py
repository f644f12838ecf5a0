"""The registry's built-in scans: the engine run in a spawned process over berth's own storage and
database (StorageSource: no network pull, no credential), rendering Harbor's vulnerability report
and, when asked, the image's SPDX SBOM."""

from __future__ import annotations

import asyncio
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from berth.scan.envelope import ArtifactRef, ScannerInfo
from berth.scan.process import run_in_process

VULNERABILITY = "vulnerability"
SBOM = "sbom"
SCAN_TYPES = (VULNERABILITY, SBOM)


@dataclass(frozen=True, slots=True)
class LocalScan:
    """What a built-in scan process gets (through a pipe): where berth keeps things, and what to scan."""

    storage_driver: str
    storage_options: dict[str, Any]
    database_url: str
    artifact: ArtifactRef
    #: vulnerability (the report) or sbom (the SPDX document)
    scan_type: str
    scanner: ScannerInfo


async def scan_locally(job: LocalScan, timeout: float, nice: int = 0) -> tuple[str, Any]:
    """("ok", {"report": …} or {"sbom": …}, with "skipped": what the walk could not read) or
    ("error", message), from a process of its own."""
    return await run_in_process(_scan_process, job, timeout, nice)


def _scan_process(pipe: Connection, job: LocalScan) -> None:
    # Ctrl-C reaches the whole process group: the worker stops its jobs itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pipe.send(("ok", render(job)))
    except BaseException as exc:  # everything the scan can raise is the scan's failure, told to the parent
        pipe.send(("error", str(exc) or type(exc).__name__))
    finally:
        pipe.close()


def render(job: LocalScan) -> dict[str, Any]:
    """The scan, blocking: storage is read through an event loop on a thread of its own (the storage
    drivers are async), the walk and matching run on this thread."""
    from berth.db.session import Database
    from berth.scan import engine
    from berth.scan.report import vulnerability_report
    from berth.scan.sbom import spdx_document
    from berth.scan.sources import StorageSource, database_manifests
    from berth.storage import make_driver

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="storage", daemon=True)
    thread.start()
    driver = make_driver(job.storage_driver, job.storage_options)
    db = Database(job.database_url)
    try:
        source = StorageSource(driver, database_manifests(db), loop)
        wants_findings = job.scan_type == VULNERABILITY
        inventory, findings = engine.scan(source, job.artifact.digest, job.database_url if wants_findings else None)
        now = datetime.now(UTC)
        if wants_findings:
            return {"report": vulnerability_report(inventory, findings, job.artifact, job.scanner, now),
                    "skipped": inventory.skipped}
        return {"sbom": spdx_document(inventory, job.artifact, job.scanner, now), "skipped": inventory.skipped}
    finally:
        asyncio.run_coroutine_threadsafe(_close(db, driver), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def _close(db: Any, driver: Any) -> None:
    await db.close()
    await driver.close()
