"""Health of what berth depends on: the database and the blob store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text

from berth.db.session import Database
from berth.storage import paths
from berth.storage.base import StorageDriver

#: a component that does not answer within this many seconds is unhealthy
CHECK_TIMEOUT = 5.0


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
    # stat of a key that never exists: a round trip that proves reachability and credentials
    return await _check("registry", storage.stat(f"{paths.TMP}/health-probe"))


async def _check(name: str, probe) -> ComponentHealth:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return ComponentHealth(name, f"no answer within {CHECK_TIMEOUT:.0f}s")
    except Exception as exc:  # any failure of the dependency makes it unhealthy, with its reason
        return ComponentHealth(name, f"{type(exc).__name__}: {str(exc)[:200]}")
    return ComponentHealth(name)
