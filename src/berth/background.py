"""A process's background machinery: the event bus with its subscribers and, where jobs run, the
outbox dispatcher, the worker pool and the cron scheduler. `berth serve` and `berth worker` both
build one."""

from __future__ import annotations

from berth.config import Settings
from berth.events.outbox import OutboxDispatcher
from berth.jobs.kinds import JobKind, load_kind
from berth.jobs.scheduler import Scheduler
from berth.jobs.worker import PoolSettings, WorkerPool
from berth.services.allowlist_expiry import CHECK, CHECK_CRON, CHECK_KIND
from berth.services.audit import PURGE_AUDIT, run_purge
from berth.services.gc import GC_KIND
from berth.services.registry import Registry
from berth.services.replication import replication_job_kinds
from berth.services.retention import retention_job_kinds
from berth.services.scan_export import CLEANUP, CLEANUP_CRON, export_job_kinds
from berth.services.scan_jobs import SCAN_ALL, run_scan_all
from berth.services.scan_runs import ArtifactScans, PullToken, ScanSettings
from berth.services.sweep import SWEEP, SWEEP_CRON, SWEEP_KIND
from berth.scan.vulndb import VulnDB
from berth.services.vulndb_update import UPDATE, update_kind
from berth.services.webhook_dispatch import WebhookDispatcher, external_host
from berth.webhook.delivery import webhook_job_kinds


def job_kinds(settings: Settings, pull_token: PullToken | None = None) -> dict[str, JobKind]:
    """Every kind of job this process can run: berth's own and the configured extra ones.
    `pull_token` signs the tokens external scanner adapters pull with (the auth layer's)."""
    kinds: list[JobKind] = [JobKind(PURGE_AUDIT, run_purge), SWEEP_KIND, JobKind(SCAN_ALL, run_scan_all),
                            ArtifactScans(scan_settings(settings, pull_token)).kind()]
    kinds.append(CHECK_KIND)
    kinds.append(GC_KIND)
    kinds.extend(retention_job_kinds())
    kinds.extend(replication_job_kinds())
    kinds.extend(export_job_kinds(settings.scan_export_retention_hours * 3600))
    kinds.append(update_kind(settings.vulndb_update_sources))
    kinds.extend(webhook_job_kinds(settings.webhook_timeout_seconds, settings.webhook_max_retries))
    kinds.extend(load_kind(spec) for spec in settings.extra_job_kinds)
    return {kind.name: kind for kind in kinds}


def public_base_url(settings: Settings) -> str:
    """berth's own URL as others reach it: the public URL, else the address it listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if settings.tls_cert else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{scheme}://{host}:{settings.port}"


def scan_settings(settings: Settings, pull_token: PullToken | None) -> ScanSettings:
    """What scan jobs run with."""
    return ScanSettings(
        storage_driver=settings.storage_driver, storage_options=settings.effective_storage_options,
        database_url=settings.effective_database_url, timeout_seconds=settings.scanner_timeout_seconds,
        registry_url=public_base_url(settings), pull_token=pull_token, workers=settings.scanner_workers,
        nice=settings.scanner_nice,
    )


class Background:
    def __init__(
        self, registry: Registry, settings: Settings, *, run_jobs: bool, pull_token: PullToken | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.pool: WorkerPool | None = None
        self.scheduler: Scheduler | None = None
        self.outbox: OutboxDispatcher | None = None
        registry.replication_events.local_endpoint = public_base_url(settings)
        if run_jobs:
            self.outbox = OutboxDispatcher(registry.db, settings.job_poll_seconds)
            self.pool = WorkerPool(registry.jobs, job_kinds(settings, pull_token), registry, PoolSettings(
                concurrency=settings.workers,
                lease_seconds=settings.job_lease_seconds,
                poll_seconds=settings.job_poll_seconds,
                retry_base_seconds=settings.job_retry_base_seconds,
                retry_max_seconds=settings.job_retry_max_seconds,
            ))
            self.scheduler = Scheduler(registry.db, registry.jobs, settings.schedule_poll_seconds)

    async def start(self) -> None:
        webhooks = WebhookDispatcher(
            self.registry, ext_host=external_host(self.settings.public_url, self.settings.host, self.settings.port),
            max_attempts=1 + self.settings.webhook_max_retries,
        )
        # pulls: every process that serves requests hears its own, in memory (best effort)
        self.registry.events.subscribe("webhooks", webhooks)
        self.registry.events.subscribe("audit", self.registry.audit.handle)
        self.registry.events.start()
        if self.outbox is not None:
            # changes: from the outbox table, whichever process wrote them; this process's own commits
            # wake its dispatcher at once, other processes' rows are found at the next poll
            self.outbox.subscribe("audit", self.registry.audit.record_events)
            self.outbox.subscribe("webhooks", webhooks.deliver)
            self.outbox.subscribe("scan-on-push", self.registry.scan_jobs.on_push)
            self.outbox.subscribe("replication", self.registry.replication_events.on_changes)
            self.registry.events.wake_outbox = self.outbox.wake
            self.outbox.start()
        if self.pool is not None:
            await self.pool.start()
        if self.scheduler is not None:
            # Harbor's daily sweep of old executions (vendor id -1: a system job)
            await self.registry.schedules.ensure(SWEEP, -1, "Custom", SWEEP_CRON, SWEEP, {})
            # old scan data export files go hourly; expiring CVE allowlist entries are looked for daily,
            # and once at every start (a node down at the daily tick still tells in time)
            await self.registry.schedules.ensure(CLEANUP, -1, "Custom", CLEANUP_CRON, CLEANUP, {})
            await self.registry.schedules.ensure(CHECK, -1, "Custom", CHECK_CRON, CHECK, {})
            await self.registry.jobs.submit(CHECK, -1, CHECK, {}, trigger="EVENT")
            await self._schedule_vulndb_update()
            self.scheduler.start()

    async def _schedule_vulndb_update(self) -> None:
        """The updater's schedule follows the settings: there with their cron while sources are
        configured, gone when they are not; and a first import at once when nothing was imported."""
        schedules, cron = self.registry.schedules, self.settings.vulndb_update_cron
        current = await schedules.get(UPDATE, -1)
        if current is not None and (not self.settings.vulndb_update_sources or current.cron != cron):
            await schedules.delete(UPDATE, -1)
            current = None
        if current is None and self.settings.vulndb_update_sources:
            await schedules.ensure(UPDATE, -1, "Custom", cron, UPDATE, {})
        if self.settings.vulndb_update_sources and not (await VulnDB(self.registry.db).status()).generation:
            # a new install does not wait for the first tick to have records
            await self.registry.jobs.submit(UPDATE, -1, UPDATE, {}, trigger="EVENT")

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.outbox is not None:
            self.registry.events.wake_outbox = None
            await self.outbox.stop()
        if self.pool is not None:
            await self.pool.stop()
        await self.registry.events.stop()
        await self.registry.audit.forwarder.stop()
