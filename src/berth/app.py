"""Builds berth's ASGI application from Settings and mounts the protocol fronts."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from berth.api.app import API_PREFIX, create_api
from berth.config import Settings
from berth.db.session import Database
from berth.oci.context import Front
from berth.oci.errors import error_response
from berth.oci.routes import OciApp
from berth.services.registry import Registry
from berth.storage import make_driver

log = structlog.get_logger("berth")


class BerthApp:
    """The root ASGI app: lifespan (open/close the registry) and routing by path prefix."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry: Registry | None = None
        self._oci: OciApp | None = None
        self._api: ASGIApp | None = None
        self._housekeeping: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        db = Database(self.settings.effective_database_url)
        storage = make_driver(self.settings.storage_driver, self.settings.effective_storage_options)
        self.registry = Registry(db, storage, tag_cache_ttl=self.settings.tag_cache_ttl)
        self._oci = OciApp(Front(self.registry, self.settings))
        self._api = create_api(self.registry)
        self._housekeeping = asyncio.create_task(self._purge_uploads())

    async def shutdown(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self.registry is not None:
            await self.registry.close()
        log.info("berth stopped: in-flight requests finished, database closed")

    async def _purge_uploads(self) -> None:
        assert self.registry is not None
        expiry = timedelta(hours=self.settings.upload_expiry_hours)
        while True:
            try:
                purged = await self.registry.uploads.purge_expired(expiry)
                if purged:
                    log.info("purged expired uploads", count=purged)
            except Exception:  # housekeeping must never stop the server
                log.exception("upload purge failed")
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
        if path.startswith(API_PREFIX + "/") and self._api is not None:
            # the API sees its own paths, as mounted apps do: /api/v2.0/ping -> /ping
            scope = {**scope, "root_path": scope.get("root_path", "") + API_PREFIX, "path": path[len(API_PREFIX):]}
            await self._api(scope, receive, send)
            return
        await error_response(404, "NOT_FOUND", "no such endpoint")(scope, receive, send)

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
