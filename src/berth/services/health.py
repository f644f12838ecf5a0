"""Health of what berth depends on: the database and the blob store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from sqlalchemy import text

from berth.db.session import Database
from berth.quotas import format_size
from berth.faults import STORAGE_FULL, classify, describe
from berth.storage import paths
from berth.storage.base import StorageDriver

#: a component that does not answer within this many seconds is unhealthy
CHECK_TIMEOUT = 5.0
#: a blob store with less room than this is unhealthy: hardly a layer would fit
MIN_FREE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.error is None


async def check_database(db: Database) -> ComponentHealth:
    async def probe() -> None:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))

    return await _check("database", probe())


async def check_storage(storage: StorageDriver) -> ComponentHealth:
    async def probe() -> str | None:
        # stat of a key that never exists: a round trip that proves reachability and credentials
        await storage.stat(f"{paths.TMP}/health-probe")
        capacity = await storage.capacity()
        free = capacity[0] if capacity is not None else None
        if free is not None and free < MIN_FREE_BYTES:
            return f"{STORAGE_FULL.message} ({format_size(free)} free)"
        return None

    return await _check("registry", probe())


async def _check(name: str, probe: Awaitable[str | None]) -> ComponentHealth:
    try:
        error = await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return ComponentHealth(name, f"no answer within {CHECK_TIMEOUT:.0f}s")
    except Exception as exc:  # any failure of the dependency makes it unhealthy, with its reason
        fault = classify(exc)
        return ComponentHealth(name, f"{fault.message}: {describe(exc)}" if fault else describe(exc))
    return ComponentHealth(name, error)
