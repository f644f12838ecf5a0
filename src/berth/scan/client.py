"""Harbor's side of the pluggable scanner API, as Harbor's own client (src/pkg/scan/rest/v1) drives
any adapter: metadata, submit a scan, then poll each report without following redirects, waiting
what `Refresh-After` says (5 s when it says nothing usable, at most 127 s)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from berth.scan.mimes import METADATA_1_0, SCAN_REQUEST_1_0, SCAN_RESPONSE

DEFAULT_REFRESH_AFTER = 5
#: Harbor parses Refresh-After as an int8
MAX_REFRESH_AFTER = 127
#: how long Harbor polls a report before giving up
REPORT_DEADLINE_SECONDS = 30 * 60


class ScannerError(Exception):
    """The adapter answered with something other than what the call expects."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ScannerUnauthorized(ScannerError):
    """401/403: the registration's credential is missing or wrong."""


class ScanRejected(ScannerError):
    """The scan request was refused (400 bad JSON, 422 a bad field, 501 no such capability)."""


class ScanUnknown(ScannerError):
    """404 on a report: the adapter does not know (or no longer keeps) the scan."""


class ScanFailed(ScannerError):
    """500 on a report: the scan ran and failed; `message` is the adapter's reason."""


class ReportTimeout(ScannerError):
    """The report was still not ready when the deadline passed."""


@dataclass(frozen=True, slots=True)
class AdapterAuth:
    """How Harbor authenticates to an adapter: per registration, one of Basic, Bearer or the API key header."""

    scheme: str  # "Basic", "Bearer" or "X-ScannerAdapter-API-Key"
    credential: str

    def headers(self) -> dict[str, str]:
        """As Harbor's authorizers write them: the key header and Bearer carry the credential as it is,
        Basic carries it base64-encoded (a "user:password" credential is then plain Basic auth)."""
        if self.scheme.lower() == "x-scanneradapter-api-key":
            return {"X-ScannerAdapter-API-Key": self.credential}
        if self.scheme.lower() == "basic":
            return {"Authorization": "Basic " + base64.b64encode(self.credential.encode()).decode()}
        return {"Authorization": f"{self.scheme} {self.credential}"}

    def __repr__(self) -> str:
        return f"AdapterAuth({self.scheme!r}, ***)"


@dataclass(frozen=True, slots=True)
class Report:
    """A report as the adapter sent it."""

    media_type: str
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def refresh_after(value: str | None) -> int:
    """Seconds to wait before the next poll, as Harbor reads `Refresh-After`: an integer 0..127,
    anything else (missing, negative, too big, not a number) the default 5."""
    try:
        seconds = int((value or "").strip())
    except ValueError:
        return DEFAULT_REFRESH_AFTER
    return seconds if 0 <= seconds <= MAX_REFRESH_AFTER else DEFAULT_REFRESH_AFTER


class ScannerClient:
    """One adapter registration: its base URL (the part before /api/v1) and credential."""

    def __init__(
        self,
        base_url: str,
        auth: AdapterAuth | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers=auth.headers() if auth else {},
            timeout=timeout,
            follow_redirects=False,  # a 302 means "not ready", never "look there"
            transport=transport,
        )
        self._sleep = sleep

    async def __aenter__(self) -> ScannerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def metadata(self) -> dict[str, Any]:
        response = await self._http.get("/metadata", headers={"Accept": METADATA_1_0})
        if response.status_code != 200:
            raise _error(response)
        return response.json()

    async def submit(self, scan_request: dict[str, Any]) -> str:
        """POST /scan with the 1.0 headers Harbor sends; the adapter's scan id (only 202 is success)."""
        response = await self._http.post(
            "/scan", content=orjson.dumps(scan_request),
            headers={"Content-Type": SCAN_REQUEST_1_0, "Accept": SCAN_RESPONSE},
        )
        if response.status_code != 202:
            raise _error(response, ScanRejected)
        scan_id = response.json().get("id")
        if not isinstance(scan_id, str) or not scan_id:
            raise ScannerError(response.status_code, f"the scan response has no id: {response.text[:200]}")
        return scan_id

    async def poll(self, scan_id: str, media_type: str, sbom_media_type: str | None = None) -> Report | int:
        """One GET of the report: the Report when ready, else the seconds to wait (302 Refresh-After)."""
        params = {"sbom_media_type": sbom_media_type} if sbom_media_type else None
        response = await self._http.get(f"/scan/{scan_id}/report", params=params, headers={"Accept": media_type})
        if response.status_code == 302:
            return refresh_after(response.headers.get("Refresh-After"))
        if response.status_code == 200:
            return Report(response.headers.get("content-type", media_type), response.content)
        raise _error(response)

    async def report(
        self, scan_id: str, media_type: str, sbom_media_type: str | None = None,
        *, deadline_seconds: float = REPORT_DEADLINE_SECONDS,
    ) -> Report:
        """Poll until the report is ready (200) or the scan failed (500: ScanFailed), honouring Refresh-After."""
        give_up = time.monotonic() + deadline_seconds
        while True:
            outcome = await self.poll(scan_id, media_type, sbom_media_type)
            if isinstance(outcome, Report):
                return outcome
            if time.monotonic() + outcome > give_up:
                raise ReportTimeout(302, f"scan {scan_id} not ready after {deadline_seconds:g} s")
            await self._sleep(outcome)


_BY_STATUS: dict[int, type[ScannerError]] = {401: ScannerUnauthorized, 403: ScannerUnauthorized,
                                              404: ScanUnknown, 500: ScanFailed}


def _error(response: httpx.Response, default: type[ScannerError] = ScannerError) -> ScannerError:
    """The adapter's error as a type; its message from the spec's {"error": {"message"}} when there is one."""
    message = response.text[:500] or response.reason_phrase
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        pass
    kind = _BY_STATUS.get(response.status_code, default)
    if default is ScanRejected and response.status_code in (400, 422, 501):
        kind = ScanRejected
    return kind(response.status_code, str(message))
