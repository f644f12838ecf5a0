"""The Prometheus endpoint: Harbor's exporter metrics (projects, quotas, jobs, health, system info) with
Harbor's names and labels, berth's own (/v2 traffic, uploads, caches, storage space), and the process.

The gauges that need the database come from a snapshot (services.gauges: aggregate queries only) taken
at most once per `metric_refresh_seconds`, when a scrape finds it older: several Prometheus servers, or
a scrape interval shorter than the refresh, never add database load. Counters are read live.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import Receive, Scope, Send

from berth import __version__
from berth.config import Settings
from berth.metrics.traffic import Traffic
from berth.services.executions import QueueRecord
from berth.services.gauges import Gauges, read_gauges
from berth.services.health import check_database, check_storage
from berth.services.registry import Registry

log = structlog.get_logger("berth")


class _Snapshot:
    """What one refresh read: the gauges, health, system information and storage space."""

    def __init__(self, gauges: Gauges, queues: list[QueueRecord], health: dict[str, bool],
                 config: dict[str, object], capacity: tuple[int, int] | None) -> None:
        self.gauges, self.queues, self.health, self.config, self.capacity = gauges, queues, health, config, capacity


class MetricsExporter:
    """A prometheus_client collector over berth's state, and the ASGI app that serves it at metric_path."""

    def __init__(self, registry: Registry, settings: Settings, traffic: Traffic, job_types: list[str]) -> None:
        self._registry = registry
        self._job_types = job_types
        self._traffic = traffic
        self.path = settings.metric_path
        self._max_age = settings.metric_refresh_seconds
        self._snapshot: _Snapshot | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()
        self._collectors = CollectorRegistry(auto_describe=False)
        self._collectors.register(self)
        ProcessCollector(registry=self._collectors)

    async def refresh(self) -> None:
        """Take a new snapshot unless the current one is younger than metric_refresh_seconds."""
        async with self._lock:
            if self._snapshot is not None and time.monotonic() - self._taken < self._max_age:
                return
            registry = self._registry
            checks = await asyncio.gather(check_database(registry.db), check_storage(registry.storage))
            health = {check.name: check.healthy for check in checks}
            gauges = queues = config = capacity = None
            if health["database"]:
                gauges = await read_gauges(registry.db, registry.quotas)
                queues = await registry.executions.queues(self._job_types)
                config = await registry.configurations.all()
            try:
                capacity = await registry.storage.capacity()
            except OSError:
                capacity = None
            previous = self._snapshot
            self._snapshot = _Snapshot(
                gauges or (previous.gauges if previous else Gauges([], 0)),
                queues if queues is not None else (previous.queues if previous else []), health, config or (previous.config if previous else {}), capacity,
            )
            self._taken = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector protocol: every sample, from the snapshot and the live counters."""
        yield from self._traffic.collect()
        yield from self._caches()
        yield CounterMetricFamily("berth_events_dropped", "Pull events dropped because the in-memory event queue "
                                  "was full (best effort; change events go through the outbox)",
                                  value=self._registry.events.dropped)
        yield from self._gc()
        yield from self._proxy_cache()
        snapshot = self._snapshot
        if snapshot is not None:
            yield from _harbor_metrics(snapshot)
            yield from _berth_metrics(snapshot)

    def _gc(self) -> Iterator[Metric]:
        """Garbage collection runs of this process (the jobs it ran and `berth gc` is another process)."""
        totals = self._registry.gc.totals
        runs = CounterMetricFamily("berth_gc_runs", "Garbage collection runs ended, by status", labels=["status"])
        for status in ("Success", "Error"):
            runs.add_metric([status], totals.runs.get(status, 0))
        yield runs
        yield CounterMetricFamily("berth_gc_freed_bytes", "Blob bytes deleted by garbage collection",
                                  value=totals.bytes)
        yield CounterMetricFamily("berth_gc_freed_blobs", "Blobs deleted by garbage collection", value=totals.blobs)
        yield GaugeMetricFamily("berth_gc_last_run_duration_seconds", "How long the last garbage collection took",
                                value=totals.last_seconds)
        yield GaugeMetricFamily("berth_gc_last_run_freed_bytes", "Bytes the last garbage collection freed "
                                "(would free, when it was a dry run)", value=totals.last_bytes)
        yield GaugeMetricFamily("berth_gc_last_run_timestamp_seconds", "When the last garbage collection ended "
                                "(unix time; 0: none yet)", value=totals.last_end)

    def _proxy_cache(self) -> Iterator[Metric]:
        """What proxy-cache projects answered locally, fetched upstream, or served stale (this process)."""
        totals = self._registry.proxy_cache.totals
        requests = CounterMetricFamily("berth_proxy_cache_requests", "Proxy-cache manifest and blob requests, by "
                                       "where they were answered from", labels=["source"])
        requests.add_metric(["local"], totals.local)
        requests.add_metric(["upstream"], totals.fetched)
        yield requests
        stale = CounterMetricFamily("berth_proxy_cache_stale_served", "Cached manifests served because the upstream "
                                    "failed, by reason", labels=["reason"])
        for reason in ("unreachable", "rate_limited", "not_found", "max_upstream_conn"):
            stale.add_metric([reason], totals.stale.get(reason, 0))
        yield stale
        yield CounterMetricFamily("berth_proxy_cache_rejected_blobs", "Upstream blobs not kept: cut short or not "
                                  "what their digest says", value=totals.rejected)

    def _caches(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("berth_cache_hits", "Lookups answered from an in-process cache", labels=["cache"])
        misses = CounterMetricFamily("berth_cache_misses", "Lookups an in-process cache could not answer",
                                     labels=["cache"])
        for name, cache in self._registry.caches.items():
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
        yield hits
        yield misses

    async def exposition(self) -> bytes:
        try:
            await self.refresh()
        except Exception:  # a failed refresh keeps the last snapshot; the live counters still go out
            log.exception("refreshing metrics failed")
        return generate_latest(self._collectors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET/HEAD at metric_path; anything else 404/405 in plain text (this is not a Harbor API)."""
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/") or "/"
        if path != self.path:
            status, body, headers = 404, b"not found\n", [(b"content-type", b"text/plain; charset=utf-8")]
        elif scope["method"] not in ("GET", "HEAD"):
            status, body = 405, b"method not allowed\n"
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD")]
        else:
            status, body, headers = 200, await self.exposition(), [(b"content-type", CONTENT_TYPE_PLAIN_0_0_4.encode())]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _harbor_metrics(snapshot: _Snapshot) -> Iterator[Metric]:
    """Harbor's exporter series (src/pkg/exporter): same names, types and labels."""
    gauges = snapshot.gauges
    projects = GaugeMetricFamily("harbor_project_total", "Total projects number", labels=["public"])
    public = sum(1 for p in gauges.projects if p.public)
    projects.add_metric(["true"], public)
    projects.add_metric(["false"], len(gauges.projects) - public)
    yield projects
    usage = GaugeMetricFamily("harbor_project_quota_usage_byte", "The used resource of a project",
                              labels=["project_name"])
    quota = GaugeMetricFamily("harbor_project_quota_byte", "The quota of a project", labels=["project_name"])
    repos = GaugeMetricFamily("harbor_project_repo_total", "Total project repos number",
                              labels=["project_name", "public"])
    members = GaugeMetricFamily("harbor_project_member_total", "Total members number of a project",
                                labels=["project_name"])
    pulls = GaugeMetricFamily("harbor_artifact_pulled", "The pull number of an artifact", labels=["project_name"])
    for project in gauges.projects:
        usage.add_metric([project.name], project.used)
        quota.add_metric([project.name], project.quota)
        repos.add_metric([project.name, "true" if project.public else "false"], project.repositories)
        members.add_metric([project.name], project.members)
        pulls.add_metric([project.name], project.pulls)
    yield from (usage, quota, repos, members, pulls)

    size = GaugeMetricFamily("harbor_task_queue_size", "Total number of tasks", labels=["type"])
    latency = GaugeMetricFamily("harbor_task_queue_latency", "Seconds the oldest due task of the type has waited", labels=["type"])
    for queue in snapshot.queues:
        size.add_metric([queue.job_type], queue.count)
        latency.add_metric([queue.job_type], queue.latency)
    concurrency = GaugeMetricFamily("harbor_task_concurrency", "Total number of concurrency on a pool",
                                    labels=["type", "pool"])
    for (kind, pool), running in sorted(gauges.running.items()):
        concurrency.add_metric([kind, pool], running)
    yield from (size, latency, concurrency)
    yield GaugeMetricFamily("harbor_task_scheduled_total", "total number of scheduled job", value=gauges.schedules)

    healthy = all(snapshot.health.values())
    yield GaugeMetricFamily("harbor_health", "Running status of Harbor", value=1 if healthy else 0)
    up = GaugeMetricFamily("harbor_up", "Running status of harbor component", labels=["component"])
    up.add_metric(["core"], 1)
    for component, ok in sorted(snapshot.health.items()):
        up.add_metric([component], 1 if ok else 0)
    yield up
    info = GaugeMetricFamily("harbor_system_info", "Information of Harbor system",
                             labels=["auth_mode", "harbor_version", "self_registration"])
    info.add_metric([str(snapshot.config.get("auth_mode", "")), f"v{__version__}-berth",
                     "true" if snapshot.config.get("self_registration") else "false"], 1)
    yield info


def _berth_metrics(snapshot: _Snapshot) -> Iterator[Metric]:
    yield GaugeMetricFamily("berth_upload_sessions_open", "Blob upload sessions started and not yet finished",
                            value=snapshot.gauges.uploads_open)
    yield GaugeMetricFamily("berth_event_outbox_pending", "Change events not yet handed to the audit log and webhooks",
                            value=snapshot.gauges.outbox_pending)
    yield from _replication_metrics(snapshot.gauges)
    if snapshot.capacity is not None:
        free, total = snapshot.capacity
        yield GaugeMetricFamily("berth_storage_free_bytes", "Free bytes on the volume holding the blobs", value=free)
        yield GaugeMetricFamily("berth_storage_total_bytes", "Size in bytes of the volume holding the blobs",
                                value=total)


def _replication_metrics(gauges: Gauges) -> Iterator[Metric]:
    """Per replication policy (services.replication_events.replication_gauges defines the lag)."""
    lag = GaugeMetricFamily("berth_replication_lag_seconds", "Age of the oldest local change a replication policy "
                            "covers that is not known to be on its destination (event-based), or time since its "
                            "last completely successful run started (scheduled)", labels=["policy", "trigger"])
    last = GaugeMetricFamily("berth_replication_last_success_timestamp_seconds", "When the policy's last completely "
                             "successful execution started (unix time; 0: none yet)", labels=["policy"])
    tasks = GaugeMetricFamily("berth_replication_tasks", "Replication tasks of the executions kept, by status",
                              labels=["policy", "status"])
    for policy in gauges.replication:
        if policy.lag is not None:
            lag.add_metric([policy.name, policy.trigger], policy.lag)
        last.add_metric([policy.name], policy.last_success)
        for status in ("Pending", "Running", "Success", "Error", "Stopped"):
            tasks.add_metric([policy.name, status], policy.tasks.get(status, 0))
    yield from (lag, last, tasks)
