"""The one place the adapter calls the scanning engine (image walk, vulnerability matching), so that the
rest of it depends only on model.py: `scan` for a job, `database_updated_at` for /metadata.

What it expects from the engine modules:
- `berth.scan.sources.RegistrySource(url, repository, authorization)`: blobs and manifests over /v2;
- `berth.scan.image.inventory(source, reference) -> ImageInventory` (plain or a coroutine);
- `berth.scan.vulndb.VulnDB(path)` with `status()` (an object or mapping with `updated_at`);
- `berth.scan.match.match(packages, vulndb) -> list[Finding]` (plain or a coroutine).
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime
from pathlib import Path
from typing import Any

from berth.scan.model import Finding, ImageInventory


class NoVulnerabilityDatabase(Exception):
    """Vulnerabilities were asked for and no database has been imported."""


def registry_source(url: str, repository: str, authorization: str | None) -> Any:
    from berth.scan.sources import RegistrySource

    return RegistrySource(url, repository, authorization)


def scan(source: Any, reference: str, vulndb_path: Path | None) -> tuple[ImageInventory, list[Finding]]:
    """Walk the image `reference` names in `source`; match its packages against the database at
    `vulndb_path` (None: inventory only, for SBOMs). Blocking: run it in a worker process."""
    from berth.scan.image import inventory as image_inventory

    inventory = _done(image_inventory(source, reference))
    if vulndb_path is None:
        return inventory, []
    database = open_vulndb(vulndb_path)
    if database is None:
        raise NoVulnerabilityDatabase(f"no vulnerability database at {vulndb_path}: import one with `berth vulndb`")
    from berth.scan.match import match

    return inventory, list(_done(match(inventory.packages, database)))


def open_vulndb(path: Path) -> Any | None:
    """The database at `path`, None when there is none (not imported yet, or the engine is absent)."""
    if not path.exists():
        return None
    try:
        from berth.scan.vulndb import VulnDB
    except ImportError:
        return None
    return VulnDB(path)


def database_updated_at(path: Path) -> datetime | str | None:
    """When the vulnerability database was last updated, for the metadata's properties; None if unknown."""
    database = open_vulndb(path)
    if database is None:
        return None
    status = database.status()
    if isinstance(status, dict):
        return status.get("updated_at")
    return getattr(status, "updated_at", None)


def _done(result: Any) -> Any:
    return asyncio.run(result) if inspect.iscoroutine(result) else result
