"""Request counters for the hot path: plain ints in a dict keyed by (front, method, operation, status),
bumped once per request and turned into Prometheus samples only when /metrics is scraped. (A labelled
prometheus_client Counter costs a lock and a label lookup per call; see bench/run.py's metrics row.)"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

#: the front of a counted request: "v2" requests also get berth's own /v2 series
V2 = "v2"


def v2_operation(path: str) -> str:
    """The /v2 operation a path names, from its last segments (repository names may hold any of them)."""
    if path in ("/v2", "/v2/"):
        return "base"
    if path == "/v2/_catalog":
        return "catalog"
    parts = path.split("/")
    if len(parts) < 4:
        return "unknown"
    kind, last = parts[-2], parts[-1]
    if kind == "manifests":
        return "manifest"
    if kind == "blobs":
        return "blob_upload" if last == "uploads" else "blob"
    if kind == "uploads" and parts[-3] == "blobs":
        return "blob_upload"
    if kind == "tags" and last == "list":
        return "tags"
    if kind == "referrers":
        return "referrers"
    return "unknown"


class Traffic:
    """What berth served since it started. One instance per process, written by the root app only."""

    def __init__(self) -> None:
        #: (front, method, operation, status) -> [requests, bytes received, bytes sent, seconds]
        self._counts: dict[tuple[str, str, str, int], list[float]] = {}
        self.in_flight = 0

    def record(self, front: str, method: str, operation: str, status: int,
               received: int, sent: int, seconds: float) -> None:
        key = (front, method, operation, status)
        row = self._counts.get(key)
        if row is None:
            self._counts[key] = [1, received, sent, seconds]
        else:
            row[0] += 1
            row[1] += received
            row[2] += sent
            row[3] += seconds

    def collect(self) -> Iterator[Metric]:
        counts = list(self._counts.items())  # a copy: requests keep counting while this runs
        total = CounterMetricFamily("harbor_core_http_request", "The total number of requests",
                                    labels=["method", "code", "operation"])
        duration = SummaryMetricFamily("harbor_core_http_request_duration_seconds", "The time duration of the requests",
                                       labels=["method", "operation"])
        v2_requests = CounterMetricFamily("berth_v2_requests", "Requests on /v2 by operation, method and status",
                                          labels=["operation", "method", "status"])
        v2_received = CounterMetricFamily("berth_v2_received_bytes", "Request body bytes received on /v2",
                                          labels=["operation", "method", "status"])
        v2_sent = CounterMetricFamily("berth_v2_sent_bytes", "Response body bytes sent on /v2",
                                      labels=["operation", "method", "status"])
        by_operation: dict[tuple[str, str], list[float]] = {}
        for (front, method, operation, status), (requests, received, sent, seconds) in counts:
            total.add_metric([method, str(status), operation], requests)
            summed = by_operation.setdefault((method, operation), [0, 0.0])
            summed[0] += requests
            summed[1] += seconds
            if front == V2:
                labels = [operation, method, str(status)]
                v2_requests.add_metric(labels, requests)
                v2_received.add_metric(labels, received)
                v2_sent.add_metric(labels, sent)
        for (method, operation), (requests, seconds) in by_operation.items():
            duration.add_metric([method, operation], count_value=requests, sum_value=seconds)
        yield total
        yield duration
        yield GaugeMetricFamily("harbor_core_http_inflight_requests", "The requests being served",
                                value=self.in_flight)
        yield v2_requests
        yield v2_received
        yield v2_sent
