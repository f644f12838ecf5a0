"""The delivery job kinds WEBHOOK (http targets) and SLACK: POST the body rendered at event time.
A non-2xx answer or a transport error fails the attempt; the worker retries with backoff until
the task's attempts (1 + webhook_max_retries) are spent. Each attempt's HTTP status goes into the
task log and into extra_attrs.http_status.

Beyond Harbor: when the policy has a signing secret, `X-Berth-Signature-256: sha256=<hex>` carries
the HMAC-SHA256 of the exact body bytes under that secret.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import httpx

from berth.jobs.kinds import JobContext, JobFailed, JobFatal, JobKind
from berth.webhook.policy import VENDOR_TYPES

SIGNATURE_HEADER = "X-Berth-Signature-256"
#: how much of a refusing receiver's answer the task log keeps
_ANSWER_CHARS = 300


def signature(secret: str, body: bytes) -> str:
    """The X-Berth-Signature-256 value for `body` (what a receiver recomputes and compares)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Deliverer:
    """Posts deliveries through two shared HTTP clients (verifying certificates, and not), made
    lazily inside the running event loop and kept for the life of the process."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def _client(self, verify: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify)
        if client is None:
            client = httpx.AsyncClient(verify=verify, timeout=self._timeout, follow_redirects=False,
                                       headers={"User-Agent": "berth-webhook"})
            self._clients[verify] = client
        return client

    async def run(self, ctx: JobContext) -> str:
        params = ctx.parameters
        try:
            address = str(params["address"])
            body = str(params["payload"]).encode()
            headers = {"Content-Type": str(params.get("content_type") or "application/json")}
            box = ctx.services.box
            if params.get("auth_header"):
                headers["Authorization"] = box.open(params["auth_header"])
            if params.get("signing_secret"):
                headers[SIGNATURE_HEADER] = signature(box.open(params["signing_secret"]), body)
        except (KeyError, ValueError) as error:  # a task written by hand, or a changed secret key
            raise JobFatal(f"cannot deliver: {error}") from None
        ctx.log(f"POST {loggable(address)} ({headers['Content-Type']}, {len(body)} bytes)")
        try:
            client = self._client(verify=not params.get("skip_cert_verify"))
            response = await client.post(address, content=body, headers=headers)
        except httpx.HTTPError as error:
            ctx.extra_attrs["http_status"] = 0
            reason = _redacted(str(error), headers)
            ctx.log(f"attempt {ctx.attempt}: no answer: {type(error).__name__}: {reason}")
            raise JobFailed(f"error to send request: {type(error).__name__}: {reason}") from None
        ctx.extra_attrs["http_status"] = response.status_code
        ctx.log(f"attempt {ctx.attempt}: HTTP {response.status_code}")
        if not 200 <= response.status_code < 300:
            raise JobFailed(f"abnormal response code: {response.status_code}, body: {response.text[:_ANSWER_CHARS]}")
        return f"HTTP {response.status_code}"


def loggable(address: str) -> str:
    """The address without what often carries a token: user info, the query string, and (Slack's
    incoming webhooks hold their secret in it) the path."""
    parts = urlsplit(address)
    host = parts.netloc.rpartition("@")[2]
    path = "/…" if parts.path not in ("", "/") else parts.path
    return f"{parts.scheme}://{host}{path}"


def _redacted(text: str, headers: dict[str, str]) -> str:
    """An error message with any header value we sent blanked out (an HTTP library may quote the
    header it refused)."""
    for name in ("Authorization", SIGNATURE_HEADER):
        value = headers.get(name)
        if value:
            text = text.replace(value, "***").replace(repr(value.encode())[2:-1], "***")
    return text


def webhook_job_kinds(timeout_seconds: float, max_retries: int) -> list[JobKind]:
    deliverer = Deliverer(timeout_seconds)
    return [JobKind(vendor, deliverer.run, max_attempts=1 + max_retries) for vendor in VENDOR_TYPES.values()]
