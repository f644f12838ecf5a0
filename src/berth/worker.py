"""`berth worker`: background jobs and cron schedules without HTTP, for scale-out."""

from __future__ import annotations

import asyncio

import structlog

from berth.auth.tokens import TokenIssuer
from berth.background import Background
from berth.config import Settings
from berth.security.keys import TokenKeyRing
from berth.services.registry import Registry

log = structlog.get_logger("berth")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    registry = Registry.open(settings)
    tokens = TokenIssuer(TokenKeyRing(settings.keys_dir))
    background = Background(registry, settings, run_jobs=True, pull_token=tokens.scanner_pull)
    try:
        await background.start()
        await stop.wait()
        log.info("worker stopping: running jobs are handed back")
    finally:
        await background.stop()
        await registry.close()
