"""The registry's services wired together over one database and one storage driver."""

from __future__ import annotations

from berth.config import MAX_MANIFEST_BYTES
from berth.db.session import Database
from berth.services.blobs import BlobService
from berth.services.manifests import ManifestService
from berth.services.repositories import RepositoryService
from berth.services.uploads import UploadService
from berth.storage.base import StorageDriver


class Registry:
    def __init__(
        self,
        db: Database,
        storage: StorageDriver,
        *,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        tag_cache_ttl: float = 0.0,
    ) -> None:
        self.db = db
        self.storage = storage
        self.repositories = RepositoryService(db, tag_cache_ttl)
        self.blobs = BlobService(db, storage, self.repositories)
        self.uploads = UploadService(db, storage, self.repositories, self.blobs)
        self.manifests = ManifestService(db, self.repositories, max_manifest_bytes, tag_cache_ttl)

    async def close(self) -> None:
        await self.storage.close()
        await self.db.close()
