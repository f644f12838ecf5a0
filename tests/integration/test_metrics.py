"""The Prometheus endpoint read directly: Harbor's exporter names and labels, berth's /v2 counters,
and the values agreeing with what the Harbor API says about the same registry."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BERTH, Server, _fresh_postgres_database, free_port, start_berth
from tests.integration.helpers import V2, build_image, unique

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metered(database, database_urls, tmp_path_factory) -> Iterator[Server]:
    """berth with metrics on (on its own port), snapshots never older than a scrape, quick pull counts."""
    env = {"BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_REFRESH_SECONDS": "0", "BERTH_PULL_COUNT_FLUSH_SECONDS": "0.2"}
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_metrics")
    server = start_berth(tmp_path_factory.mktemp(f"metered-{database}") / "data", env, projects=())
    yield server
    server.stop()


def test_a_push_and_a_pull_show_in_harbors_and_berths_series(metered: Server) -> None:
    project = unique("metrics")
    image = build_image(seed=41)
    with V2(metered.url, auth=metered.auth) as v2:
        v2.create_project(project)
        before = scrape(f"{metered.url}/metrics")
        v2.push_image(f"{project}/app", image, "1")
        for _ in range(2):
            assert v2.get_manifest(f"{project}/app", "1").status_code == 200
    with metered.client() as api:
        statistic = api.get("/api/v2.0/statistics").json()
        project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        quota = api.get("/api/v2.0/quotas", params={"reference": "project", "reference_id": project_id}).json()[0]
    after = scrape(f"{metered.url}/metrics")

    # Harbor's exporter series, equal to what the Harbor API reports
    assert value(after, "harbor_project_total", public="false") == statistic["private_project_count"]
    assert value(after, "harbor_project_total", public="true") == statistic["public_project_count"]
    assert value(after, "harbor_project_repo_total", project_name=project, public="false") == 1
    assert value(after, "harbor_project_member_total", project_name=project) == 1
    assert value(after, "harbor_project_quota_usage_byte", project_name=project) == quota["used"]["storage"] > 0
    assert value(after, "harbor_project_quota_byte", project_name=project) == quota["hard"]["storage"]
    assert value(after, "harbor_health") == 1
    assert value(after, "harbor_system_info", auth_mode="db_auth", harbor_version="v0.1.0-berth",
                 self_registration="false") == 1

    # requests by operation: the push's one manifest PUT, its blob uploads with their bytes
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("berth_v2_requests_total", operation="manifest", method="PUT", status="201") == 1
    assert delta("berth_v2_requests_total", operation="blob_upload", method="PUT", status="201") == len(image.blobs)
    assert delta("berth_v2_received_bytes_total", operation="blob_upload", method="PUT", status="201") == sum(
        len(blob) for blob in image.blobs)
    assert delta("berth_v2_sent_bytes_total", operation="manifest", method="GET", status="200") == 2 * len(image.manifest)
    assert delta("harbor_core_http_request_total", method="PUT", code="201", operation="manifest") == 1
    assert delta("harbor_core_http_request_duration_seconds_count", method="PUT", operation="manifest") == 1
    assert value(after, "harbor_core_http_request_total", method="POST", code="201", operation="createProject") >= 1
    # the second GET by tag came from the manifest cache
    assert delta("berth_cache_hits_total", cache="manifests") >= 1
    assert value(after, "berth_storage_total_bytes") >= value(after, "berth_storage_free_bytes") > 0

    # pulls are counted in memory and written every 0.2 s here: the gauge follows the stored count
    deadline = time.monotonic() + 20
    while value(scrape(f"{metered.url}/metrics"), "harbor_artifact_pulled", project_name=project) < 2:
        assert time.monotonic() < deadline, "pull count never reached 2"
        time.sleep(0.2)
    with metered.client() as api:
        assert api.get(f"/api/v2.0/projects/{project}/repositories/app").json()["pull_count"] == 2


def test_open_upload_sessions_and_pending_jobs_are_gauged(metered: Server) -> None:
    project = unique("uploads")
    with V2(metered.url, auth=metered.auth) as v2:
        v2.create_project(project)
        opened = scrape(f"{metered.url}/metrics")
        started = v2.start_upload(f"{project}/app")
        assert started.status_code == 202
        during = scrape(f"{metered.url}/metrics")
        assert v2.request("DELETE", started.headers["Location"]).status_code == 204
        after = scrape(f"{metered.url}/metrics")
    assert value(during, "berth_upload_sessions_open") == value(opened, "berth_upload_sessions_open") + 1
    assert value(after, "berth_upload_sessions_open") == value(opened, "berth_upload_sessions_open")

    with metered.client() as api:
        assert api.put("/api/v2.0/jobservice/queues/PURGE_AUDIT_LOG", json={"action": "pause"}).status_code == 200
        try:
            body = {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 24, "include_event_types": "", "dry_run": True}}
            assert api.post("/api/v2.0/system/purgeaudit/schedule", json=body).status_code == 201
            queues = {q["job_type"]: q for q in api.get("/api/v2.0/jobservice/queues").json()}
            paused = scrape(f"{metered.url}/metrics")
        finally:
            api.put("/api/v2.0/jobservice/queues/PURGE_AUDIT_LOG", json={"action": "resume"})
    assert value(paused, "harbor_task_queue_size", type="PURGE_AUDIT_LOG") == queues["PURGE_AUDIT_LOG"]["count"] >= 1
    assert value(paused, "harbor_task_queue_latency", type="PURGE_AUDIT_LOG") >= 0
    assert value(paused, "harbor_task_scheduled_total") >= 1  # the daily execution sweep at least


def test_metrics_are_off_unless_enabled(berth: Server) -> None:
    response = httpx.get(f"{berth.url}/metrics")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_a_metric_port_serves_the_metric_path_there_only(tmp_path) -> None:
    metric_port = free_port()
    server = start_berth(tmp_path / "data", {"BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_PORT": str(metric_port),
                                            "BERTH_METRIC_PATH": "/internal/metrics"}, projects=())
    try:
        samples = scrape(f"http://127.0.0.1:{metric_port}/internal/metrics")
        assert value(samples, "harbor_project_total", public="true") == 1  # library
        assert httpx.get(f"http://127.0.0.1:{metric_port}/metrics").status_code == 404
        assert httpx.post(f"http://127.0.0.1:{metric_port}/internal/metrics").status_code == 405
        assert httpx.get(f"{server.url}/internal/metrics").status_code == 404
        assert httpx.get(f"{server.url}/v2/").status_code == 401  # the registry itself is unchanged
    finally:
        server.stop()
    assert "berth stopped: in-flight requests finished" in server.log()  # the side listener let it stop


@pytest.mark.parametrize(("env", "message"), [
    ({"BERTH_METRIC_PATH": "/v2/metrics"}, "invalid setting metric_path"),
    ({"BERTH_METRIC_PATH": "metrics"}, "invalid setting metric_path"),
    ({"BERTH_METRIC_PORT": "70000"}, "invalid setting metric_port"),
])
def test_bad_metric_settings_stop_berth_with_one_line(tmp_path, env: dict[str, str], message: str) -> None:
    result = subprocess.run([BERTH, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
                            env={**_environ(), "BERTH_METRIC_ENABLED": "true", **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_taken_metric_port_fails_startup_clearly(tmp_path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [BERTH, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
            env={**_environ(), "BERTH_ADMIN_PASSWORD": "Harbor12345", "BERTH_METRIC_ENABLED": "true",
                 "BERTH_METRIC_PORT": str(port)},
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode != 0
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in result.stdout + result.stderr


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}


def test_an_outbox_backlog_shows_until_a_worker_drains_it(tmp_path) -> None:
    """berth serve --no-jobs leaves change events in the outbox; the gauge shows them until a worker
    (here: the same data folder served again with jobs on) hands them to the audit log."""
    env = {"BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_REFRESH_SECONDS": "0", "BERTH_JOBS": "false"}
    data = tmp_path / "data"
    server = start_berth(data, env, projects=())
    try:
        before = value(scrape(f"{server.url}/metrics"), "berth_event_outbox_pending")
        with V2(server.url, auth=server.auth) as v2:
            for _ in range(3):
                v2.create_project(unique("backlog"))
        samples = scrape(f"{server.url}/metrics")
        assert value(samples, "berth_event_outbox_pending") == before + 3
        assert ("berth_events_dropped_total", frozenset()) in samples
    finally:
        server.stop()
    server = start_berth(data, {**env, "BERTH_JOBS": "true"}, projects=())
    try:
        deadline = time.monotonic() + 20
        while value(scrape(f"{server.url}/metrics"), "berth_event_outbox_pending") > 0:
            assert time.monotonic() < deadline, "the outbox was never drained"
            time.sleep(0.2)
    finally:
        server.stop()
