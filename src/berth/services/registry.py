"""berth's services wired together over one database and one storage driver."""

from __future__ import annotations

from berth.auth.keys import SecretBox
from berth.config import MAX_MANIFEST_BYTES
from berth.db.session import Database
from berth.services.blobs import BlobService
from berth.services.configurations import ConfigurationService
from berth.services.manifests import ManifestService
from berth.services.projects import ProjectService
from berth.services.repositories import RepositoryService
from berth.services.robots import RobotService
from berth.services.uploads import UploadService
from berth.services.usergroups import UserGroupService
from berth.services.users import UserService
from berth.storage.base import StorageDriver


class Registry:
    def __init__(
        self,
        db: Database,
        storage: StorageDriver,
        *,
        box: SecretBox,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        tag_cache_ttl: float = 0.0,
    ) -> None:
        self.db = db
        self.storage = storage
        self.repositories = RepositoryService(db, tag_cache_ttl)
        self.blobs = BlobService(db, storage, self.repositories)
        self.uploads = UploadService(db, storage, self.repositories, self.blobs)
        self.manifests = ManifestService(db, self.repositories, max_manifest_bytes, tag_cache_ttl)
        self.users = UserService(db)
        self.projects = ProjectService(db, tag_cache_ttl)
        self.robots = RobotService(db)
        self.groups = UserGroupService(db)
        self.configurations = ConfigurationService(db, box)

    async def close(self) -> None:
        await self.storage.close()
        await self.db.close()
