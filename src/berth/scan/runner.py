"""Runs accepted scans, each in a process of its own (the image walk and matching are CPU-bound and
must never hold the adapter's event loop), at most `workers` at once, each killed after `timeout`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
import structlog

from berth.faults import log_failure
from berth.scan.envelope import ArtifactRef, ScannerInfo
from berth.scan.process import run_in_process
from berth.scan.mimes import SBOM_REPORT, VULNERABILITY_REPORTS, Wanted
from berth.scan.request import ScanRequest
from berth.scan.scans import ScanStore

log = structlog.get_logger("berth.scanner")


@dataclass(frozen=True, slots=True)
class ScanJob:
    """What a scan process gets (through a pipe, never a command line or the environment)."""

    request: ScanRequest
    #: berth's database: the vulnerability records are there (`berth vulndb import`)
    database_url: str
    scanner: ScannerInfo


class ScanRunner:
    def __init__(
        self, store: ScanStore, scanner: ScannerInfo, database_url: str, workers: int, timeout: float, nice: int = 0,
    ) -> None:
        self.store = store
        self.scanner = scanner
        self.database_url = database_url
        self.timeout = timeout
        self.nice = nice
        self._slots = asyncio.Semaphore(workers)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, scan_id: str, request: ScanRequest) -> None:
        """Run the scan in the background; the request (and its credential) lives only in this task."""
        task = asyncio.create_task(self._run(scan_id, request), name=f"scan {scan_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        """After a restart: run again the scans that were queued or running. One that came with a
        registry credential fails instead, since the credential was not kept; Harbor submits it again."""
        resumed = 0
        for scan in await self.store.unfinished():
            if scan.had_authorization:
                await self.store.fail(scan.id, "the scanner adapter restarted before this scan ran, and registry "
                                               "credentials are not kept: submit the scan again")
                continue
            self.submit(scan.id, scan.request)
            resumed += 1
        return resumed

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, scan_id: str, request: ScanRequest) -> None:
        async with self._slots:
            try:
                await self.store.start(scan_id)
                log.info("scan started", scan_id=scan_id, repository=request.repository, digest=request.digest)
                outcome, payload = await self._in_process(ScanJob(request, self.database_url, self.scanner))
                if outcome == "ok":
                    await self.store.finish(scan_id, payload)
                    log.info("scan finished", scan_id=scan_id, reports=len(payload))
                else:
                    message = _scrubbed(str(payload), request.authorization)
                    await self.store.fail(scan_id, message)
                    log.warning("scan failed", scan_id=scan_id, error=message)
            except asyncio.CancelledError:
                raise  # the adapter is stopping: the row stays queued/running and is resumed at the next start
            except Exception as exc:  # a database error: the scan stays unfinished and the adapter goes on
                log_failure(log, "scan could not be recorded", exc, scan_id=scan_id)

    async def _in_process(self, job: ScanJob) -> tuple[str, Any]:
        return await run_in_process(run_scan_process, job, self.timeout, self.nice)


def run_scan_process(pipe: Connection, job: ScanJob) -> None:
    """A scan process's body: scan, render the reports, send ("ok", {wanted: body}) or ("error", message)."""
    # Ctrl-C reaches the whole process group: the adapter stops its scans itself, and one it stops
    # must stay unfinished (to run again), not be reported as failed by an interrupted child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pipe.send(("ok", render_reports(job)))
    except BaseException as exc:  # everything the scan can raise is the scan's failure, told to the parent
        pipe.send(("error", f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)))
    finally:
        pipe.close()


def render_reports(job: ScanJob) -> dict[Wanted, str]:
    from berth.scan import engine
    from berth.scan.report import vulnerability_report
    from berth.scan.sbom import sbom_report

    request = job.request
    source = engine.registry_source(request.registry_url, request.repository, request.authorization)
    database_url = job.database_url if request.wants_vulnerabilities else None
    inventory, findings = engine.scan(source, request.digest, database_url)
    artifact = ArtifactRef(request.repository, request.digest, request.tag, request.mime_type)
    now = datetime.now(UTC)
    reports: dict[Wanted, str] = {}
    vulnerabilities: str | None = None
    for mime, sbom in request.reports:
        if mime in VULNERABILITY_REPORTS:
            if vulnerabilities is None:  # one body for both MIMEs, stored once (the store answers either)
                vulnerabilities = _json(vulnerability_report(inventory, findings, artifact, job.scanner, now))
                reports[(mime, None)] = vulnerabilities
        elif mime == SBOM_REPORT and sbom is not None:
            reports[(mime, sbom)] = _json(sbom_report(sbom, inventory, artifact, job.scanner, now))
    return reports


def _json(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def _scrubbed(message: str, authorization: str | None) -> str:
    """An error message without the registry credential, should a library have put it there."""
    if not authorization:
        return message
    credential = authorization.split(" ", 1)[-1]
    return message.replace(authorization, "***").replace(credential, "***") if len(credential) >= 4 else message
