"""Builds berth's ASGI application from Settings and mounts the protocol fronts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
import uuid
from datetime import timedelta

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from starlette.requests import Request

from berth.api.app import API_PREFIX, create_api
from berth.auth.authenticator import Authenticator
from berth.auth.ratelimit import LoginLimiter
from berth.auth.sessions import SessionStore
from berth.auth.token_service import issue_token
from berth.auth.tokens import TokenIssuer
from berth.auth.web import WebLogin
from berth.background import Background, job_kinds, public_base_url
from berth.jobs.store import SCHEDULER
from berth.api.errors import harbor_render
from berth.config import Settings
from berth.events.actor import begin_request
from berth.faults import log_failure
from berth.guard import FaultGuard
from berth.logs import access_log
from berth.metrics.exporter import MetricsExporter
from berth.metrics.traffic import V2, Traffic, v2_operation
from berth.oci.context import Front
from berth.oci.errors import error_response
from berth.oci.routes import OciApp
from berth.security.keys import TokenKeyRing
from berth.security.passwords import generate_secret
from berth.services.registry import Registry
from berth.services.users import ADMIN_ID
from berth.storage.base import FOLLOW_EXTENSION
from berth.scan.adapter import Adapter
from berth.ui.app import create_ui
from berth.ui.app import owns as ui_owns
from berth.ui.pages import Ui

log = structlog.get_logger("berth")

#: where `berth serve` mounts the scanner adapter: Harbor's pluggable scanner API at <url>/scanner/api/v1
SCANNER_PREFIX = "/scanner"

#: a request id a client may choose (X-Request-Id): short, printable, no spaces or quotes
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=@/-]{0,127}")


class BerthApp:
    """The root ASGI app: lifespan (open/close the registry) and routing by path prefix."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry: Registry | None = None
        self.auth: Authenticator | None = None
        self._web: WebLogin | None = None
        self._oci: OciApp | None = None
        self._api: ASGIApp | None = None
        self._login: ASGIApp | None = None
        self._ui: ASGIApp | None = None
        self._token: ASGIApp = FaultGuard(self._issue_token, harbor_render)
        self._housekeeping: asyncio.Task[None] | None = None
        self._key_watch: asyncio.Task[None] | None = None
        self._pull_flush: asyncio.Task[None] | None = None
        self.background: Background | None = None
        #: request counters when metrics are on (None: nothing is counted)
        self.traffic: Traffic | None = Traffic() if settings.metric_enabled else None
        self._metrics: MetricsExporter | None = None
        self._metrics_server: _MetricsServer | None = None
        self._scanner: Adapter | None = None
        self._scanner_lifespan: contextlib.AsyncExitStack | None = None

    async def startup(self) -> None:
        settings = self.settings
        self.registry = registry = Registry.open(settings)
        db, box = registry.db, registry.box
        limiter = LoginLimiter(settings.login_failures_per_user, settings.login_failures_per_address)
        self.auth = Authenticator(
            registry.users, registry.projects, registry.robots, registry.groups, registry.configurations,
            TokenIssuer(TokenKeyRing(settings.keys_dir)), limiter,
        )
        self.auth.mirror_projects = dict(settings.mirror_projects)
        await self._bootstrap(registry)
        secure = settings.tls_cert is not None or (settings.public_url or "").startswith("https://")
        sessions = SessionStore(db, self.auth, secure_cookies=secure)
        self._web = WebLogin(self.auth, sessions, box, settings)
        self._login = FaultGuard(self._web, harbor_render)
        self._ui = create_ui(Ui(registry, self.auth, sessions, self._web, settings), secure_cookies=secure)
        self._oci = OciApp(Front(registry, settings, self.auth))
        job_types = sorted({*job_kinds(settings), SCHEDULER})
        self._api = create_api(registry, self.auth, settings, sessions, self._web, job_types)
        self._housekeeping = asyncio.create_task(self._purge_uploads())
        self._key_watch = asyncio.create_task(self._reload_token_keys())
        self._pull_flush = asyncio.create_task(self._flush_pulls())
        await self._mount_scanner(registry)
        self.background = Background(registry, settings, run_jobs=settings.jobs,
                                     pull_token=self.auth.tokens.scanner_pull)
        await self.background.start()
        if self.traffic is not None:
            self._metrics = MetricsExporter(registry, settings, self.traffic, job_types)
            if settings.metric_port and settings.metric_port != settings.port:
                self._metrics_server = _MetricsServer(self._metrics, settings.host, settings.metric_port)
                await self._metrics_server.start()

    async def _mount_scanner(self, registry: Registry) -> None:
        """The built-in scanner adapter under /scanner (for an external Harbor as much as for berth's
        own registration, which is made the default on first start; berth itself runs its scans
        locally, through the job kind). Its credential is BERTH_SCANNER_API_KEY, else one made once
        and kept sealed in the data folder (`berth scanner credential` shows it)."""
        from berth.scan.adapter import AdapterConfig, create_adapter
        from berth.scan.credentials import BUILTIN_CREDENTIAL_FILE, builtin_credential
        from berth.services.scan_runs import BUILTIN_SCANNER

        settings = self.settings
        credential = (settings.scanner_api_key.get_secret_value() if settings.scanner_api_key
                      else builtin_credential(settings.data_dir.resolve() / BUILTIN_CREDENTIAL_FILE, registry.box))
        self._scanner = create_adapter(AdapterConfig.from_settings(settings, credential))
        self._scanner_lifespan = contextlib.AsyncExitStack()
        await self._scanner_lifespan.enter_async_context(self._scanner.lifespan())
        await registry.scanners.register_builtin(
            BUILTIN_SCANNER, public_base_url(settings) + SCANNER_PREFIX,
            "berth's built-in scanner: OSV records imported with `berth vulndb import`",
            auth="Bearer", credential=credential)

    async def _bootstrap(self, registry: Registry) -> None:
        """First start: the admin user and the public `library` project. Every start: the config file's
        system configuration, and ownerless projects (from the 0002 migration) given to the admin."""
        if self.settings.configurations:
            await registry.configurations.apply_file(self.settings.configurations)
        given = self.settings.admin_password.get_secret_value() if self.settings.admin_password else None
        password = given or generate_secret(16)
        if await registry.users.ensure_admin(password):
            if await registry.projects.find("library") is None:
                await registry.projects.create("library", ADMIN_ID, metadata={"public": "true"})
            if not given:
                # the console only, never the log: this is the one time the password is shown
                print(
                    f"\n  berth created the user 'admin' with the password: {password}\n"
                    "  It is shown only this once. Change it with PUT /api/v2.0/users/1/password.\n",
                    flush=True,
                )
        await registry.projects.adopt_orphans(ADMIN_ID)

    async def shutdown(self) -> None:
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        if self.background is not None:
            await self.background.stop()
        if self._scanner_lifespan is not None:
            await self._scanner_lifespan.aclose()
        for task in (self._housekeeping, self._key_watch, self._pull_flush):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.registry is not None:
            await self.registry.close()
        log.info("berth stopped: in-flight requests finished, database closed")

    async def _reload_token_keys(self) -> None:
        """Pick up keys made by `berth rotate-token-key` (or another node sharing the folder)."""
        assert self.auth is not None
        while True:
            await asyncio.sleep(60)
            try:
                await asyncio.to_thread(self.auth.tokens.keys.reload)
            except Exception:  # a half-written key file must not stop the server
                log.exception("reloading token keys failed")

    async def _flush_pulls(self) -> None:
        assert self.registry is not None
        while True:
            await asyncio.sleep(self.settings.pull_count_flush_seconds)
            try:
                await self.registry.pulls.flush()
            except Exception as exc:  # counts are best effort; the server goes on
                log_failure(log, "writing pull counts failed", exc)

    async def _purge_uploads(self) -> None:
        assert self.registry is not None
        expiry = timedelta(hours=self.settings.upload_expiry_hours)
        while True:
            try:
                purged = await self.registry.uploads.purge_expired(expiry)
                if purged:
                    log.info("purged expired uploads", count=purged)
            except Exception as exc:  # housekeeping must never stop the server
                log_failure(log, "upload purge failed", exc)
            await asyncio.sleep(3600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._observed(scope, receive, send)

    async def _observed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every request, whichever front serves it: a request id (the client's X-Request-Id when sane,
        else a new one) in the events it causes and in its response, one access log line, and the
        counters behind /metrics. Secrets stay out: the line has the path without its query string."""
        started = time.perf_counter()
        request_id = _request_id(scope)
        request = begin_request(request_id)
        id_header = (b"x-request-id", request_id.encode())
        status, sent, received = 500, 0, 0
        response_headers: list[tuple[bytes, bytes]] = []

        async def observed_send(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal status, sent, response_headers
            kind = message["type"]
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = message["status"]
                response_headers = [*message.get("headers", ()), id_header]
                message["headers"] = response_headers
            elif kind in ("http.response.pathsend", "http.response.zerocopy", FOLLOW_EXTENSION):
                sent += _content_length(response_headers)
            await send(message)

        traffic = self.traffic
        if traffic is not None:
            async def counted_receive() -> dict:  # type: ignore[type-arg]
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                return message

            traffic.in_flight += 1
        front_scope = scope
        try:
            front_scope = await self._route(scope, receive if traffic is None else counted_receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            path, method = scope["path"], scope["method"]
            if traffic is not None:
                traffic.in_flight -= 1
                front, operation = _operation(path, front_scope, self._metrics)
                traffic.record(front, method, operation, status, received, sent, seconds)
            if not path.isprintable():  # %0A in a path must not start a fake line in the console format
                path = repr(path)
            access_log.info("request", method=method, path=path, status=status, bytes=sent,
                            duration_ms=round(seconds * 1000, 2), user=request.user or "-")

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> Scope:
        """Hand the request to its front by path prefix; returns the scope the front saw."""
        path: str = scope["path"]
        if (path == "/v2" or path.startswith("/v2/")) and self._oci is not None:
            await self._oci(scope, receive, send)
            return scope
        if path == "/service/token" and self.auth is not None:
            await self._token(scope, receive, send)
            return scope
        if path.startswith("/c/") and self._login is not None:
            await self._login(scope, receive, send)
            return scope
        if path.startswith(API_PREFIX + "/") and self._api is not None:
            # mounted as Starlette mounts apps: root_path names the prefix, the path keeps it
            scope = {**scope, "root_path": scope.get("root_path", "") + API_PREFIX}
            await self._api(scope, receive, send)
            return scope
        if (path == SCANNER_PREFIX or path.startswith(SCANNER_PREFIX + "/")) and self._scanner is not None:
            # the adapter sees its own paths (/api/v1/...), as when it runs alone
            inner = path[len(SCANNER_PREFIX):] or "/"
            scope = {**scope, "root_path": scope.get("root_path", "") + SCANNER_PREFIX, "path": inner,
                     "raw_path": inner.encode()}
            await self._scanner(scope, receive, send)
            return scope
        if self._metrics is not None and self._metrics_server is None and path.rstrip("/") == self._metrics.path:
            await self._metrics(scope, receive, send)
            return scope
        if self._ui is not None and ui_owns(path):
            await self._ui(scope, receive, send)
            return scope
        await error_response(404, "NOT_FOUND", "no such endpoint")(scope, receive, send)
        return scope

    async def _issue_token(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.auth is not None
        await (await issue_token(self.auth, Request(scope, receive)))(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    # what did start (background jobs, the database) stops, or the process would not exit
                    with contextlib.suppress(Exception):
                        await self.shutdown()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(given):
                return given
            break
    return str(uuid.uuid4())


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _operation(path: str, scope: Scope, metrics: MetricsExporter | None) -> tuple[str, str]:
    """(front, operation) for the request counters: /v2 by path shape, the Harbor API by the swagger
    operationId of the route that served it (as Harbor's own metrics), the rest by front."""
    if path == "/v2" or path.startswith("/v2/"):
        return V2, v2_operation(path)
    if path.startswith(API_PREFIX + "/"):
        route = scope.get("route")
        return "api", getattr(route, "operation_id", None) or "unknown"
    if path == "/service/token":
        return "token", "token"
    if path.startswith("/c/"):
        return "web", path.removeprefix("/c/").split("/", 1)[0] or "unknown"
    if ui_owns(path):
        return "ui", "static" if path.startswith("/static/") else "page"
    if metrics is not None and path.rstrip("/") == metrics.path:
        return "metrics", "metrics"
    return "other", "unknown"


class _MetricsServer:
    """The metrics endpoint alone on metric_port (Harbor's separate exporter port), plain HTTP, in this
    process's event loop. The socket is bound here so that a taken port fails startup with a clear error."""

    def __init__(self, app: MetricsExporter, host: str, port: int) -> None:
        import uvicorn

        class _Quiet(uvicorn.Server):
            def capture_signals(self):  # type: ignore[no-untyped-def]
                return contextlib.nullcontext()  # the main server owns SIGINT/SIGTERM

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server = _Quiet(uvicorn.Config(app, lifespan="off", access_log=False, log_config=None,
                                             server_header=False))
        self._address = (host, port)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self._socket.bind(self._address)
        except OSError as exc:
            self._socket.close()
            raise RuntimeError(f"cannot listen for metrics on {self._address[0]}:{self._address[1]}: "
                               f"{exc.strerror}") from None
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        log.info("metrics served", address=f"http://{self._address[0]}:{self._address[1]}")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        self._socket.close()
