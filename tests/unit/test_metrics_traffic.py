"""The hot-path request counters: /v2 operations named by path shape, and their Prometheus samples."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from berth.metrics.traffic import V2, Traffic, v2_operation


@pytest.mark.parametrize(("path", "operation"), [
    ("/v2", "base"), ("/v2/", "base"), ("/v2/_catalog", "catalog"),
    ("/v2/library/app/manifests/latest", "manifest"),
    ("/v2/team/manifests/app/manifests/sha256:abc", "manifest"),  # a repository named like a resource
    ("/v2/team/blobs/app/blobs/sha256:abc", "blob"),
    ("/v2/library/app/blobs/uploads/", "blob_upload"),
    ("/v2/library/app/blobs/uploads", "blob_upload"),
    ("/v2/library/app/blobs/uploads/0b1c-uuid", "blob_upload"),
    ("/v2/library/app/tags/list", "tags"),
    ("/v2/library/app/referrers/sha256:abc", "referrers"),
    ("/v2/library/app/unknown/thing", "unknown"),
    ("/v2/x", "unknown"),
])
def test_v2_operations_come_from_the_paths_last_segments(path: str, operation: str) -> None:
    assert v2_operation(path) == operation


def test_counts_become_harbors_and_berths_samples() -> None:
    traffic = Traffic()
    traffic.record(V2, "GET", "manifest", 200, 0, 500, 0.25)
    traffic.record(V2, "GET", "manifest", 200, 0, 500, 0.75)
    traffic.record(V2, "GET", "manifest", 404, 0, 90, 0.5)
    traffic.record("api", "POST", "createProject", 201, 40, 0, 1.0)

    class _Source:
        collect = traffic.collect

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Source())  # type: ignore[arg-type]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}
    assert samples[("harbor_core_http_request_total", (("code", "200"), ("method", "GET"), ("operation", "manifest")))] == 2
    assert samples[("harbor_core_http_request_duration_seconds_count", (("method", "GET"), ("operation", "manifest")))] == 3
    assert samples[("harbor_core_http_request_duration_seconds_sum", (("method", "GET"), ("operation", "manifest")))] == 1.5
    assert samples[("berth_v2_sent_bytes_total", (("method", "GET"), ("operation", "manifest"), ("status", "200")))] == 1000
    assert ("berth_v2_requests_total", (("method", "POST"), ("operation", "createProject"), ("status", "201"))) \
        not in samples  # the Harbor API is not /v2
    assert samples[("harbor_core_http_request_total", (("code", "201"), ("method", "POST"), ("operation", "createProject")))] == 1
