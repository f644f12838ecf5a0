"""berth's services wired together over one database and one storage driver."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import delete, select

from berth.config import MAX_MANIFEST_BYTES, Settings
from berth.db.models import Manifest, Repository, Tag, Upload
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ArtifactDeleted, RepositoryDeleted
from berth.jobs.store import JobStore
from berth.replication import REPLICATION
from berth.replication.policy import CHUNK_SIZE
from berth.security.keys import SecretBox
from berth.services.artifacts import ArtifactService
from berth.services.audit import AuditService
from berth.services.allowlists import SystemAllowlistService
from berth.services.audit_forward import SyslogForwarder
from berth.services.blobs import BlobService
from berth.services.cache import LruCache
from berth.services.configurations import ConfigurationService
from berth.services.executions import ExecutionService
from berth.services.gc import GarbageCollector
from berth.services.immutability import ImmutabilityService
from berth.services.labels import LabelService
from berth.services.manifests import ManifestService, refuse_immutable_delete
from berth.services.projects import ProjectService
from berth.services.pull_policy import PullPolicyService
from berth.services.proxy_cache import ProxyCacheService
from berth.services.pulls import PullRecorder
from berth.services.quotas import QuotaService
from berth.services.repositories import RepositoryService
from berth.services.retention import RetentionService, immutable_by_rules
from berth.services.robots import RobotService
from berth.services.registries import RegistryService
from berth.services.replication import ReplicationService
from berth.services.replication_events import ReplicationEvents
from berth.services.replication_pull import PullReplication
from berth.services.scanners import ScannerService
from berth.services.scan_export import ScanExportService
from berth.services.scan_jobs import ScanJobService
from berth.services.scans import ScanReportService
from berth.services.trust import TrustService
from berth.services.schedules import ScheduleService
from berth.services.securityhub import SecurityHubService
from berth.services.uploads import UploadService
from berth.services.usergroups import UserGroupService
from berth.services.users import UserService
from berth.services.webhooks import WebhookService
from berth.storage import make_driver
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
        unscanned_pull_grace: float | None = None,
        gc_grace_seconds: float = 7200.0,
        upload_expiry_hours: float = 24.0,
        replication_chunk_size: int = CHUNK_SIZE,
        proxy_revalidate_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.storage = storage
        self.box = box
        self.events = EventBus()
        self.jobs = JobStore(db)
        self.repositories = RepositoryService(db, tag_cache_ttl)
        self.configurations = ConfigurationService(db, box, self.events)
        self.quotas = QuotaService(db, self.configurations, self.events)
        self.blobs = BlobService(db, storage, self.repositories, self.quotas)
        self.uploads = UploadService(db, storage, self.repositories, self.blobs, self.quotas)
        self.manifests = ManifestService(db, self.repositories, max_manifest_bytes, tag_cache_ttl, self.events,
                                         self.quotas)
        self.users = UserService(db, self.events)
        self.projects = ProjectService(db, tag_cache_ttl, self.events)
        self.robots = RobotService(db, self.events)
        self.groups = UserGroupService(db)
        self.pulls = PullRecorder(db, self.events)
        self.artifacts = ArtifactService(db, self.repositories, self.manifests, self.blobs, self.events,
                                         self.quotas)
        self.labels = LabelService(db)
        self.schedules = ScheduleService(db)
        self.executions = ExecutionService(db, self.jobs)
        self.webhooks = WebhookService(db, box)
        self.audit = AuditService(db, self.configurations, SyslogForwarder())
        self.scanners = ScannerService(db, box, self.events)
        self.registries = RegistryService(db, box, self.events)
        self.replication = ReplicationService(db, self.events, self.jobs, self.schedules, self.registries,
                                              self.manifests, self.blobs)
        self.replication.chunk_size = replication_chunk_size
        self.replication.pull = PullReplication(db, self.jobs, self.registries, self.projects, self.manifests,
                                                self.blobs, self.uploads, replication_chunk_size)
        # event-based replication, deletions on the destination, and the REPLICATION webhook of each task
        self.replication_events = ReplicationEvents(db, self.events, self.jobs, self.registries)
        self.jobs.end_hooks[REPLICATION] = self.replication_events.task_ended
        self.scans = ScanReportService(db, self.events)
        self.scan_exports = ScanExportService(db, storage, self.jobs)
        self.scan_jobs = ScanJobService(db, self.jobs)
        self.system_allowlist = SystemAllowlistService(db, self.events)
        self.security_hub = SecurityHubService(db)
        # the pull policy's cached inputs: each change made here forgets what it changed
        self.pull_policy = PullPolicyService(db, unscanned_pull_grace)
        self.projects.changed_hooks.append(self.pull_policy.forget_projects)
        self.scanners.changed_hooks.append(self.pull_policy.forget_scanners)
        self.scans.changed_hooks.append(self.pull_policy.forget_artifact)
        self.system_allowlist.changed_hooks.append(self.pull_policy.forget_system_allowlist)
        # content trust: policies, verdicts and the pull decision; a pushed signature is verified
        self.trust = TrustService(db, self.projects, self.blobs, self.events)
        self.projects.changed_hooks.append(self.trust.forget_projects)
        self.manifests.pushed_hooks.append(self.trust.manifest_pushed)
        # tag immutability: pushes, tag and artifact deletes ask the project's rules (cached)
        self.immutability = ImmutabilityService(db, self.projects, self.events)
        self.manifests.immutability = self.immutability
        self.gc = GarbageCollector(db, storage, repositories=self.repositories, blobs=self.blobs, uploads=self.uploads,
                                   artifacts=self.artifacts, quotas=self.quotas, grace_seconds=gc_grace_seconds,
                                   upload_expiry_hours=upload_expiry_hours)
        # proxy-cache projects: pulls that miss locally go to the project's upstream registry
        self.proxy_cache = ProxyCacheService(self.projects, self.registries, self.manifests, self.blobs, self.uploads,
                                             self.pulls, max_manifest_bytes=max_manifest_bytes,
                                             revalidate_seconds=proxy_revalidate_seconds)
        self.projects.changed_hooks.append(self.proxy_cache.forget)
        self.registries.changed_hooks.append(self.proxy_cache.forget)
        # tag retention: deletes through the artifact service, as a user's delete, never what is immutable
        self.retention = RetentionService(db, self.jobs, self.schedules, self.artifacts, self.events,
                                          immutable_by_rules(self.immutability))

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """The registry over the database, storage and secret key that `settings` name."""
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls(
            Database(settings.effective_database_url),
            make_driver(settings.storage_driver, settings.effective_storage_options),
            box=SecretBox.from_file(settings.data_dir.resolve() / "secret.key", secret_key),
            tag_cache_ttl=settings.tag_cache_ttl,
            unscanned_pull_grace=settings.unscanned_pull_grace_seconds,
            gc_grace_seconds=settings.gc_grace_seconds,
            upload_expiry_hours=settings.upload_expiry_hours,
            replication_chunk_size=settings.replication_chunk_size,
            proxy_revalidate_seconds=settings.proxy_revalidate_seconds,
        )

    async def delete_repository(self, name: str) -> None:
        """Delete a repository with its manifests, tags, blob links and open uploads (blob bytes stay
        for the garbage collector), and forget everything cached about it."""
        repo_id = await self.repositories.require(name)
        rules = await self.immutability.rules_of_repository(name)
        if rules:  # Harbor deletes artifact by artifact, and stops at the first with an immutable tag
            async with self.db.read() as conn:
                names = (await conn.execute(select(Tag.name).where(Tag.repository_id == repo_id))).scalars().all()
            refuse_immutable_delete(rules, name, names)
        async with self.db.read() as conn:
            uploads = (await conn.execute(select(Upload.id).where(Upload.repository_id == repo_id))).scalars().all()
        for upload_id in uploads:
            await self.uploads.discard(upload_id)
        async with self.db.write() as conn:
            # every artifact goes with it, and is told as deleted (webhooks, audit), as Harbor does
            artifacts = (await conn.execute(
                select(Manifest.id, Manifest.digest, Manifest.media_type).where(Manifest.repository_id == repo_id)
            )).all()
            tags: dict[int, list[str]] = {}
            for manifest_id, tag in (await conn.execute(
                select(Tag.manifest_id, Tag.name).where(Tag.repository_id == repo_id).order_by(Tag.name)
            )):
                tags.setdefault(manifest_id, []).append(tag)
            await self.quotas.invalidate(conn, repo_id)
            await conn.execute(delete(Repository).where(Repository.id == repo_id))
            for artifact in artifacts:
                await self.events.record(conn, ArtifactDeleted(
                    repository=name, digest=artifact.digest, media_type=artifact.media_type,
                    tags=tuple(tags.get(artifact.id, ()))))
            await self.events.record(conn, RepositoryDeleted(repository=name))
        # SQLite may hand the id to the next repository: nothing cached under it may survive
        self.repositories.forget(name, repo_id)
        self.manifests.forget_repository(name)
        self.blobs.forget_repository(repo_id)

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        """The in-process read caches by name, for their hit and miss counts."""
        return {**self.manifests.caches, **self.blobs.caches, **self.repositories.caches, **self.projects.caches,
                **self.pull_policy.caches, **self.trust.caches, **self.immutability.caches}

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.trust.drained(), 10.0)
        await self.proxy_cache.close()
        await self.events.stop()
        await self.pulls.flush()
        await self.storage.close()
        await self.db.close()
