"""The scanning engine in one call: walk an image (image.py), match its packages (match.py) against
the OSV records in berth's database (vulndb.py). Used by the adapter's scan processes and by the
registry's built-in scans alike."""

from __future__ import annotations

import asyncio
from datetime import datetime

from berth.db.session import Database
from berth.scan.image import inventory as image_inventory
from berth.scan.match import match
from berth.scan.model import Finding, ImageInventory
from berth.scan.platforms import DEFAULT_PLATFORM
from berth.scan.sources import BlobSource, RegistrySource
from berth.scan.vulndb import VulnDB


class NoVulnerabilityDatabase(Exception):
    """Vulnerabilities were asked for and no database has been imported."""


def registry_source(url: str, repository: str, authorization: str | None) -> RegistrySource:
    return RegistrySource(url, repository, authorization=authorization)


def scan(
    source: BlobSource, reference: str | None, database_url: str | None, *, platform: str = DEFAULT_PLATFORM
) -> tuple[ImageInventory, list[Finding]]:
    """Walk the image `reference` names in `source` (an index: its `platform` manifest) and match its
    packages against the records in the database at `database_url` (None: the inventory only, for
    SBOMs). Blocking: run it in a worker process or thread."""
    inventory = image_inventory(source, reference, platform=platform)
    if database_url is None:
        return inventory, []
    return inventory, asyncio.run(_findings(inventory, database_url))


async def _findings(inventory: ImageInventory, database_url: str) -> list[Finding]:
    db = Database(database_url)
    try:
        return await find_vulnerabilities(inventory, VulnDB(db))
    finally:
        await db.close()


async def find_vulnerabilities(inventory: ImageInventory, vulndb: VulnDB) -> list[Finding]:
    """The findings for an inventory; NoVulnerabilityDatabase when nothing was ever imported."""
    if not (await vulndb.status()).generation:
        raise NoVulnerabilityDatabase("no vulnerability database: import OSV records with `berth vulndb import`")
    return await match(inventory.packages, vulndb)


async def database_updated_at(db: Database) -> datetime | None:
    """When the vulnerability records were imported, for the adapter's metadata; None if never."""
    return (await VulnDB(db).status()).imported_at
