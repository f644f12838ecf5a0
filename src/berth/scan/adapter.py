"""Harbor's pluggable scanner API v1.2 as an ASGI app: /api/v1/metadata, /api/v1/scan,
/api/v1/scan/{id}/report, and the /probe/healthy and /probe/ready checks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from berth.config import Settings
from berth.db.session import Database
from berth.faults import log_failure
from berth.scan import engine
from berth.scan.credentials import is_authorized
from berth.scan.envelope import ScannerInfo, timestamp
from berth.scan.errors import AdapterError, BadRequest, ScanFailed, ScanUnknown, Unauthorized
from berth.scan.mimes import (
    CONSUMED,
    ERROR,
    SBOM_MEDIA_TYPES,
    SBOM_REPORT,
    SCAN_RESPONSE,
    VULNERABILITY_REPORTS,
    metadata_mime,
    wanted_report,
)
from berth.scan.request import parse_scan_request
from berth.scan.runner import ScanRunner
from berth.scan.scans import FAILED, FINISHED, ScanStore

log = structlog.get_logger("berth.scanner")
access_log = structlog.get_logger("berth.scanner.access")
#: a scan request is a few hundred bytes; more is not one
_MAX_REQUEST_BYTES = 64 * 1024
_PURGE_EVERY_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """What the adapter runs with (built from Settings by the CLI)."""

    database_url: str
    credential: str | None
    workers: int = 1
    timeout_seconds: float = 300.0
    #: the CPU niceness added to scan processes (the scanner_nice setting)
    nice: int = 0
    report_ttl: timedelta = timedelta(hours=1)
    refresh_after_seconds: int = 5
    registry_hosts: frozenset[str] = frozenset()
    scanner: ScannerInfo = field(default_factory=ScannerInfo)

    @classmethod
    def from_settings(cls, settings: Settings, credential: str | None) -> AdapterConfig:
        return cls(
            database_url=settings.effective_database_url, credential=credential, workers=settings.scanner_workers,
            timeout_seconds=settings.scanner_timeout_seconds, nice=settings.scanner_nice,
            report_ttl=timedelta(seconds=settings.scanner_report_ttl_seconds),
            refresh_after_seconds=settings.scanner_refresh_after_seconds,
            registry_hosts=frozenset(host.lower() for host in settings.scanner_registry_hosts),
        )


def create_adapter(config: AdapterConfig) -> Adapter:
    adapter = _Adapter(config)
    app = Starlette(
        routes=[
            Route("/api/v1/metadata", adapter.metadata, methods=["GET"]),
            Route("/api/v1/scan", adapter.accept_scan, methods=["POST"]),
            Route("/api/v1/scan/{scan_id}/report", adapter.report, methods=["GET"]),
            Route("/probe/healthy", adapter.healthy, methods=["GET"]),
            Route("/probe/ready", adapter.ready, methods=["GET"]),
        ],
        exception_handlers={AdapterError: _adapter_error, Exception: _internal_error, 404: _not_found,
                            405: _not_allowed},
        lifespan=adapter.lifespan,
    )
    return Adapter(app, config.credential)


class _Adapter:
    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.store: ScanStore | None = None
        self.runner: ScanRunner | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        config = self.config
        db = Database(config.database_url)
        self.store = store = ScanStore(db, config.report_ttl)
        self.runner = runner = ScanRunner(store, config.scanner, config.database_url, config.workers,
                                          config.timeout_seconds, config.nice)
        resumed = await runner.resume()
        if resumed:
            log.info("resumed scans left unfinished by the last run", count=resumed)
        purge = asyncio.create_task(self._purge_expired())
        try:
            yield
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await runner.stop()
            await db.close()

    async def _purge_expired(self) -> None:
        assert self.store is not None
        while True:
            try:
                purged = await self.store.purge_expired()
                if purged:
                    log.info("purged expired scans", count=purged)
            except Exception as exc:  # housekeeping must never stop the adapter
                log_failure(log, "purging expired scans failed", exc)
            await asyncio.sleep(_PURGE_EVERY_SECONDS)

    async def metadata(self, request: Request) -> Response:
        """Capabilities and properties; the MIME version follows the caller's Accept (Harbor asks for 1.0)."""
        mime = metadata_mime(request.headers.get("accept"))
        properties = {
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            "org.label-schema.version": self.config.scanner.version,
            "org.label-schema.vendor": self.config.scanner.vendor,
        }
        updated_at = await self._database_updated_at()
        if updated_at is not None:
            properties["harbor.scanner-adapter/vulnerability-database-updated-at"] = updated_at
        body = {
            "scanner": self.config.scanner.to_json(),
            "capabilities": [
                {"type": "vulnerability", "consumes_mime_types": list(CONSUMED),
                 "produces_mime_types": list(VULNERABILITY_REPORTS)},
                {"type": "sbom", "consumes_mime_types": list(CONSUMED), "produces_mime_types": [SBOM_REPORT],
                 "additional_attributes": {"sbom_media_types": list(SBOM_MEDIA_TYPES)}},
            ],
            "properties": properties,
        }
        return _json(body, 200, mime)

    async def _database_updated_at(self) -> str | None:
        assert self.store is not None
        try:
            updated_at = await engine.database_updated_at(self.store.db)
        except Exception as exc:  # metadata must answer even when the database cannot be read
            log_failure(log, "reading the vulnerability database's status failed", exc)
            return None
        if isinstance(updated_at, datetime):
            return timestamp(updated_at)
        return updated_at or None

    async def accept_scan(self, request: Request) -> Response:
        """Check the request, store it, start it, answer 202 {"id"} at once."""
        assert self.store is not None and self.runner is not None
        body = await _body(request)
        scan = parse_scan_request(body, self.config.registry_hosts)
        scan_id = await self.store.add(scan)
        self.runner.submit(scan_id, scan)
        log.info("scan accepted", scan_id=scan_id, repository=scan.repository, digest=scan.digest,
                 reports=len(scan.reports))
        return _json({"id": scan_id}, 202, SCAN_RESPONSE)

    async def report(self, request: Request) -> Response:
        assert self.store is not None
        wanted = wanted_report(request.headers.get("accept"), request.query_params.get("sbom_media_type"))
        scan_id = request.path_params["scan_id"]
        scan = await self.store.get(scan_id)
        if scan is None:
            raise ScanUnknown(f"no scan request {scan_id}")
        if scan.state == FAILED:
            raise ScanFailed(scan.error or "the scan failed")
        if scan.state != FINISHED:
            # not ready: Harbor polls again after Refresh-After seconds, and does not follow Location
            return Response(b"", 302, headers={"Location": str(request.url),
                                               "Refresh-After": str(self.config.refresh_after_seconds)})
        body = await self.store.report(scan_id, wanted)
        if body is None:
            what = wanted[0] + (f" as {wanted[1]}" if wanted[1] else "")
            raise BadRequest(f"scan {scan_id} was not asked for {what}")
        return Response(body.encode(), 200, media_type=wanted[0])

    async def healthy(self, request: Request) -> Response:
        return Response(b"", 200)

    async def ready(self, request: Request) -> Response:
        """Ready once started and the database answers."""
        if self.store is None:
            return Response(b"", 503)
        try:
            await self.store.get("readiness-probe")
        except Exception as exc:
            log_failure(log, "readiness: the database does not answer", exc)
            return Response(b"", 503)
        return Response(b"", 200)


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_REQUEST_BYTES:
            raise BadRequest(f"a scan request is at most {_MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: Any, status: int, media_type: str) -> Response:
    return Response(orjson.dumps(body), status, media_type=media_type)


def error_response(error: AdapterError) -> Response:
    """The spec's error body, `{"error": {"message": ...}}`, with the error's status."""
    response = _json({"error": {"message": error.message}}, error.status, ERROR)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="berth scanner adapter"'
    return response


async def _adapter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdapterError)
    return error_response(exc)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log_failure(log, "request failed", exc, path=request.url.path)
    return error_response(AdapterError("internal error"))


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(ScanUnknown(f"no such endpoint {request.url.path}"))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    response = error_response(AdapterError(f"{request.method} is not allowed on {request.url.path}"))
    response.status_code = 405
    return response


class Adapter:
    """The adapter app: around the routes, the credential check on /api/v1, and one access line per
    request (method, path, status: never a header, so never a credential). Mounted in another app,
    its `lifespan()` is entered by that app's start-up."""

    def __init__(self, app: Starlette, credential: str | None) -> None:
        self.app = app
        self.credential = credential

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.app.router.lifespan_context(self.app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            if scope["path"].startswith("/api/") and not is_authorized(headers, self.credential):
                await error_response(Unauthorized("missing or wrong credential"))(scope, receive, observed_send)
                return
            await self.app(scope, receive, observed_send)
        except Exception:  # noqa: S110 (Starlette has answered 500 with the error body and logged it: _internal_error)
            pass
        finally:
            access_log.info("request", method=scope["method"], path=scope["path"], status=status,
                            duration_ms=round((time.perf_counter() - started) * 1000, 2))
