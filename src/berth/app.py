"""Builds berth's ASGI application from Settings and mounts the protocol fronts."""

from __future__ import annotations

import asyncio
import contextlib
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
from berth.background import Background, job_kinds
from berth.jobs.store import SCHEDULER
from berth.api.errors import harbor_render
from berth.config import Settings
from berth.faults import log_failure
from berth.guard import FaultGuard
from berth.oci.context import Front
from berth.oci.errors import error_response
from berth.oci.routes import OciApp
from berth.security.keys import TokenKeyRing
from berth.security.passwords import generate_secret
from berth.services.registry import Registry
from berth.services.users import ADMIN_ID

log = structlog.get_logger("berth")


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
        self._token: ASGIApp = FaultGuard(self._issue_token, harbor_render)
        self._housekeeping: asyncio.Task[None] | None = None
        self._key_watch: asyncio.Task[None] | None = None
        self._pull_flush: asyncio.Task[None] | None = None
        self.background: Background | None = None

    async def startup(self) -> None:
        settings = self.settings
        self.registry = registry = Registry.open(settings)
        db, box = registry.db, registry.box
        limiter = LoginLimiter(settings.login_failures_per_user, settings.login_failures_per_address)
        self.auth = Authenticator(
            registry.users, registry.projects, registry.robots, registry.groups, registry.configurations,
            TokenIssuer(TokenKeyRing(settings.keys_dir)), limiter,
        )
        await self._bootstrap(registry)
        secure = settings.tls_cert is not None or (settings.public_url or "").startswith("https://")
        sessions = SessionStore(db, self.auth, secure_cookies=secure)
        self._web = WebLogin(self.auth, sessions, box, settings)
        self._login = FaultGuard(self._web, harbor_render)
        self._oci = OciApp(Front(registry, settings, self.auth))
        job_types = sorted({*job_kinds(settings), SCHEDULER})
        self._api = create_api(registry, self.auth, settings, sessions, self._web, job_types)
        self._housekeeping = asyncio.create_task(self._purge_uploads())
        self._key_watch = asyncio.create_task(self._reload_token_keys())
        self._pull_flush = asyncio.create_task(self._flush_pulls())
        self.background = Background(registry, settings, run_jobs=settings.jobs)
        await self.background.start()

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
        if self.background is not None:
            await self.background.stop()
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
        path: str = scope["path"]
        if (path == "/v2" or path.startswith("/v2/")) and self._oci is not None:
            await self._oci(scope, receive, send)
            return
        if path == "/service/token" and self.auth is not None:
            await self._token(scope, receive, send)
            return
        if path.startswith("/c/") and self._login is not None:
            await self._login(scope, receive, send)
            return
        if path.startswith(API_PREFIX + "/") and self._api is not None:
            # mounted as Starlette mounts apps: root_path names the prefix, the path keeps it
            scope = {**scope, "root_path": scope.get("root_path", "") + API_PREFIX}
            await self._api(scope, receive, send)
            return
        await error_response(404, "NOT_FOUND", "no such endpoint")(scope, receive, send)

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
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
