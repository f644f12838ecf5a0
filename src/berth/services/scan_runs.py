"""The IMAGE_SCAN job kind: one artifact scanned by its project's scanner, the outcome stored with
`record_report` (and its SCANNING_* event in the same transaction).

The built-in scanner runs the engine in a spawned process over berth's own storage (scan/local.py):
never on the event loop that answers /v2, and without a network pull. Any other registration is
driven as Harbor drives an adapter (scan/client.py): the scan request carries a short-lived pull
token for the one repository with Harbor's `scanner-pull` action, the report is polled as
`Refresh-After` says. An SBOM scan stores its SPDX document as an SBOM accessory of the artifact
through the ordinary manifest write path (quotas, referrers, events as for any push).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from sqlalchemy import select

from berth.artifact_types import HARBOR_SBOM
from berth.db.models import Manifest, Repository, Task, utcnow
from berth.events.types import ScanCompleted, ScanEvent, ScanFailed, ScanStopped
from berth.jobs.kinds import JobContext, JobFatal, JobKind
from berth.mediatypes import OCI_MANIFEST
from berth.scan.client import AdapterAuth, ScannerClient
from berth.scan.envelope import ArtifactRef
from berth.scan.envelope import ScannerInfo as ReportScanner
from berth.scan.local import SBOM, LocalScan, scan_locally
from berth.scan.mimes import SBOM_REPORT, SPDX_JSON
from berth.services.blobs import parse_blob_digest
from berth.services.errors import ManifestUnknown, NotFound
from berth.services.scan_jobs import IMAGE_SCAN, SCAN_ATTEMPTS
from berth.services.scanners import Registration
from berth.services.scans import REPORT_V11, SBOM_MIME_TYPE, ScannerInfo, findings_of, summarize

if TYPE_CHECKING:  # annotations only: the job is handed the registry as its services
    from berth.services.registry import Registry

#: (repository, seconds) -> a Bearer token to pull that repository with scanner-pull
PullToken = Callable[[str, int], str]
#: the name of berth's own scanner registration
BUILTIN_SCANNER = "berth"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
#: what the walk could not read (a truncated layer, a database that does not parse), one execution-log line each
SKIPPED_LOGGED = 50
#: Harbor's names for a finished scan's severity counts
_COUNTS = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown")


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """What scans run with, from Settings (background.py builds it)."""

    storage_driver: str
    storage_options: dict[str, Any]
    database_url: str
    timeout_seconds: float
    #: where an external adapter pulls the image from (berth's public URL)
    registry_url: str
    #: None where no token key is at hand: external adapters cannot be driven from there
    pull_token: PullToken | None
    #: scans this process runs at once (the IMAGE_SCAN kind's max_running), and their niceness
    workers: int = 1
    nice: int = 0


class ScanFailure(Exception):
    """The scan ran and failed: the message goes into the report's state and the task log."""


def is_builtin(registration: Registration) -> bool:
    return registration.immutable and registration.name == BUILTIN_SCANNER


def overview(report_id: str, status: str, report: dict[str, Any] | None, scanner: ScannerInfo,
             start: datetime, end: datetime, sbom_digest: str = "") -> dict[str, Any]:
    """Harbor's NativeReportSummary (or SBOMOverview) of a scan that ended, as webhook payloads carry it (pure)."""
    body: dict[str, Any] = {
        "report_id": report_id, "scan_status": status, "duration": int((end - start).total_seconds()),
        "start_time": _time(start), "end_time": _time(end),
        "scanner": {"name": scanner.name, "vendor": scanner.vendor, "version": scanner.version},
    }
    if sbom_digest:
        body["sbom_digest"] = sbom_digest
    elif report is not None and status == "Success":
        values = summarize(findings_of(report))
        counts = {name: values[f"{name.lower()}_cnt"] for name in _COUNTS if values[f"{name.lower()}_cnt"]}
        body.update(severity=values["severity"], complete_percent=100,
                    summary={"total": values["total_cnt"], "fixable": values["fixable_cnt"], "summary": counts})
    return body


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ArtifactScans:
    """Runs IMAGE_SCAN tasks (`run`), built once per process by background.py."""

    def __init__(self, settings: ScanSettings) -> None:
        self._settings = settings

    def kind(self) -> JobKind:
        return JobKind(IMAGE_SCAN, self.run, max_attempts=SCAN_ATTEMPTS, max_running=self._settings.workers)

    async def run(self, ctx: JobContext) -> str:
        registry: Registry = ctx.services
        p = ctx.parameters
        try:
            registration = await registry.scanners.get(str(p["registration"]))
            artifact = ArtifactRef(str(p["repository"]), str(p["digest"]), p.get("tag") or None,
                                   p.get("media_type") or None)
        except (KeyError, NotFound) as error:
            raise JobFatal(f"cannot scan: {error}") from None
        scan_type = str(p.get("scan_type") or "vulnerability")
        mime = SBOM_MIME_TYPE if scan_type == SBOM else REPORT_V11
        start = utcnow()
        scanner = ScannerInfo(registration.name, "berth" if is_builtin(registration) else "", "")
        record = _Recorder(registry, artifact, registration.uuid, mime, scan_type, start, str(ctx.task_id))
        await record("Running", None, scanner)
        ctx.log(f"{scan_type} scan of {artifact.repository}@{artifact.digest} by {registration.name}")
        try:
            if is_builtin(registration):
                report, scanner = await self._builtin(artifact, scan_type, ctx)
            else:
                report, scanner = await self._external(registration, registry, artifact, scan_type, ctx)
            sbom_digest = ""
            if scan_type == SBOM:
                sbom_digest = await store_sbom(registry, artifact, report)
                report = {"sbom_digest": sbom_digest, "media_type": SPDX_JSON}
                ctx.log(f"SBOM stored as the accessory {sbom_digest}")
            # a report the adapter sent malformed is refused here, and the scan fails with the reason
            await record("Success", report, scanner, ScanCompleted, sbom_digest)
        except asyncio.CancelledError:
            if await asyncio.shield(_stop_requested(registry, ctx.task_id)):
                await asyncio.shield(record("Stopped", None, scanner, ScanStopped))
            raise
        except Exception as error:  # the adapter, the engine, a report that cannot be stored, the SBOM's push
            message = str(error) or type(error).__name__
            await record("Error", None, scanner, ScanFailed)
            raise JobFatal(message) from None
        found = len(report.get("vulnerabilities") or []) if scan_type != SBOM else 0
        return f"{found} vulnerabilities" if scan_type != SBOM else f"SBOM {sbom_digest}"

    async def _builtin(
        self, artifact: ArtifactRef, scan_type: str, ctx: JobContext,
    ) -> tuple[dict[str, Any], ScannerInfo]:
        s = self._settings
        reporter = ReportScanner()
        outcome, payload = await scan_locally(LocalScan(
            s.storage_driver, s.storage_options, s.database_url, artifact, scan_type, reporter), s.timeout_seconds,
            s.nice)
        if outcome != "ok":
            raise ScanFailure(str(payload))
        skipped = payload.get("skipped") or []
        for note in skipped[:SKIPPED_LOGGED]:
            ctx.log(f"skipped: {note}")
        if len(skipped) > SKIPPED_LOGGED:
            ctx.log(f"skipped: … and {len(skipped) - SKIPPED_LOGGED} more")
        scanner = ScannerInfo(reporter.name, reporter.vendor, reporter.version)
        return (payload["sbom"] if scan_type == SBOM else payload["report"]), scanner

    async def _external(
        self, registration: Registration, registry: Registry, artifact: ArtifactRef, scan_type: str, ctx: JobContext,
    ) -> tuple[dict[str, Any], ScannerInfo]:
        """As Harbor's scan job: submit with a pull token, poll the report by Refresh-After."""
        s = self._settings
        if s.pull_token is None:
            raise ScanFailure("this process cannot sign registry tokens for an external scanner")
        seconds = int(s.timeout_seconds) + 300
        capability: dict[str, Any] = {"type": "vulnerability", "produces_mime_types": [REPORT_V11]}
        if scan_type == SBOM:
            capability = {"type": "sbom", "produces_mime_types": [SBOM_REPORT],
                          "parameters": {"sbom_media_types": [SPDX_JSON]}}
        request = {
            "registry": {"url": s.registry_url,
                         "authorization": "Bearer " + s.pull_token(artifact.repository, seconds)},
            "artifact": artifact.to_json(), "enabled_capabilities": [capability],
        }
        credential = registry.scanners.credential(registration)
        auth = AdapterAuth(registration.auth, credential) if registration.auth and credential else None
        transport = httpx.AsyncHTTPTransport(verify=False) if registration.skip_cert_verify else None
        async with ScannerClient(registration.url, auth, transport=transport) as client:
            scan_id = await client.submit(request)
            ctx.log(f"submitted to {registration.url}: scan {scan_id}")
            deadline = s.timeout_seconds
            if scan_type == SBOM:
                answer = (await client.report(scan_id, SBOM_REPORT, SPDX_JSON, deadline_seconds=deadline)).json()
                document = answer.get("sbom") if isinstance(answer, dict) else None
            else:
                document = (await client.report(scan_id, REPORT_V11, deadline_seconds=deadline)).json()
        if not isinstance(document, dict):
            raise ScanFailure("the adapter's report is not a JSON object")
        given = answer.get("scanner") if scan_type == SBOM else document.get("scanner")
        given = given if isinstance(given, dict) else {}
        scanner = ScannerInfo(str(given.get("name") or registration.name), str(given.get("vendor") or ""),
                              str(given.get("version") or ""))
        return document, scanner


class _Recorder:
    """record_report for one scan as it moves on, with its event once it ended."""

    def __init__(self, registry: Registry, artifact: ArtifactRef, registration: str, mime: str, scan_type: str,
                 start: datetime, job_id: str) -> None:
        self._registry = registry
        self._artifact = artifact
        self._registration = registration
        self._mime = mime
        self._scan_type = scan_type
        self._start = start
        self._job_id = job_id

    async def __call__(self, status: str, report: dict[str, Any] | None, scanner: ScannerInfo,
                       event: type[ScanEvent] | None = None, sbom_digest: str = "") -> str:
        end = utcnow() if event is not None else None
        artifact = self._artifact

        def made(report_id: str) -> ScanEvent:
            assert event is not None and end is not None
            key = SBOM_REPORT if self._scan_type == SBOM else self._mime
            return event(repository=artifact.repository, digest=artifact.digest, media_type=artifact.mime_type or "",
                         tags=(artifact.tag,) if artifact.tag else (), scan_type=self._scan_type,
                         overview={key: overview(report_id, status, report, scanner, self._start, end, sbom_digest)})

        return await self._registry.scans.record_report(
            digest=artifact.digest, registration_uuid=self._registration, mime_type=self._mime, status=status,
            report=report, scanner=scanner, start_time=self._start, end_time=end, job_id=self._job_id,
            event=made if event is not None else None)


async def _stop_requested(registry: Registry, task_id: int) -> bool:
    async with registry.db.read() as conn:
        return bool(await conn.scalar(select(Task.stop_requested).where(Task.id == task_id)))


async def store_sbom(registry: Registry, artifact: ArtifactRef, document: dict[str, Any]) -> str:
    """Push `document` as Harbor's SBOM accessory of the artifact (subject: the artifact), then delete
    the SBOMs generated before it (Harbor keeps one); returns its digest."""
    body = orjson.dumps(document)
    config = b"{}"
    for blob in (config, body):
        digest = parse_blob_digest(_sha256(blob))
        await registry.uploads.monolithic(artifact.repository, digest, _once(blob), len(blob))
    subject = await registry.manifests.get(artifact.repository, artifact.digest)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": HARBOR_SBOM,
        "config": {"mediaType": EMPTY_CONFIG, "digest": _sha256(config), "size": len(config)},
        "layers": [{"mediaType": SPDX_JSON, "digest": _sha256(body), "size": len(body),
                    "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"}}],
        "subject": {"mediaType": subject.media_type, "digest": artifact.digest, "size": len(subject.content)},
        "annotations": {"created-by": "berth",
                        "org.opencontainers.artifact.created": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "org.opencontainers.artifact.description": "SPDX JSON SBOM"},
    }
    content = orjson.dumps(manifest)
    digest = _sha256(content)
    await registry.manifests.put(artifact.repository, digest, content, OCI_MANIFEST)
    async with registry.db.read() as conn:
        older = (await conn.execute(
            select(Manifest.digest).join(Repository, Repository.id == Manifest.repository_id)
            .where(Repository.name == artifact.repository, Manifest.subject_digest == artifact.digest,
                   Manifest.artifact_type == HARBOR_SBOM, Manifest.digest != digest)
        )).scalars().all()
    for old in older:
        with contextlib.suppress(NotFound, ManifestUnknown):  # deleted meanwhile
            await registry.artifacts.delete(artifact.repository, old)
    return digest


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stop_unfinished(registry: Registry, repository: str, digest: str, scan_type: str) -> int:
    """Stop the artifact's scans of `scan_type`: a pending one ends Stopped now (its report and
    SCANNING_STOPPED recorded here), a running one when its worker hears of it. Returns how many."""
    stopped = 0
    for task_id, status, parameters in await registry.scan_jobs.unfinished_scans(repository, digest, scan_type):
        if not await registry.scan_jobs.stop_task(task_id):
            continue
        stopped += 1
        if status == "Pending":
            with contextlib.suppress(NotFound):
                registration = await registry.scanners.get(str(parameters.get("registration")))
                artifact = ArtifactRef(repository, digest, parameters.get("tag") or None,
                                       parameters.get("media_type") or None)
                mime = SBOM_MIME_TYPE if scan_type == SBOM else REPORT_V11
                scanner = ScannerInfo(registration.name, "", "")
                await _Recorder(registry, artifact, registration.uuid, mime, scan_type, utcnow(), str(task_id))(
                    "Stopped", None, scanner, ScanStopped)
    return stopped
