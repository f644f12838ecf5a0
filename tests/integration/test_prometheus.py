"""A real Prometheus server (Debian's `prometheus`) scrapes berth; the values come back through its
HTTP query API, as a dashboard or an alert would read them."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port, start_berth, wait_http
from tests.integration.helpers import V2, build_image, unique


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """berth with metrics on its own port, and a Prometheus scraping it every second: (berth, Prometheus URL)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (scripts/install-test-tools installs it)")
    metric_port = free_port()
    berth = start_berth(tmp_path / "data", {"BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_PORT": str(metric_port),
                                            "BERTH_METRIC_REFRESH_SECONDS": "1"}, projects=())
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: berth\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metric_port}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/-/ready", prometheus, timeout=60)
        yield berth, url
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        log.close()
        berth.stop()


def query(prometheus: str, expression: str) -> list[dict]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def eventually(prometheus: str, expression: str, expected: float, timeout: float = 60.0) -> None:
    """Wait until the expression's single value is `expected` (scrapes are 1 s apart)."""
    deadline = time.monotonic() + timeout
    result: list[dict] = []
    while time.monotonic() < deadline:
        result = query(prometheus, expression)
        if len(result) == 1 and float(result[0]["value"][1]) == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"{expression} never became {expected}: {result}")


def test_prometheus_scrapes_harbors_and_berths_series_after_a_push(scraped) -> None:
    berth, prometheus = scraped
    eventually(prometheus, 'up{job="berth"}', 1)
    eventually(prometheus, 'harbor_project_total{public="true"}', 1)  # library
    eventually(prometheus, 'harbor_project_total{public="false"}', 0)

    project = unique("scraped")
    image = build_image(seed=43)
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "1")

    eventually(prometheus, 'harbor_project_total{public="false"}', 1)
    eventually(prometheus, f'harbor_project_repo_total{{project_name="{project}"}}', 1)
    eventually(prometheus, 'berth_v2_requests_total{operation="manifest",method="PUT",status="201"}', 1)
    eventually(prometheus, 'sum(berth_v2_received_bytes_total{operation="blob_upload",method="PUT"})',
               sum(len(blob) for blob in image.blobs))
    eventually(prometheus, 'harbor_core_http_request_total{operation="createProject",method="POST",code="201"}', 1)
    eventually(prometheus, "harbor_health", 1)
    assert query(prometheus, "berth_storage_free_bytes > 0"), "no free-space gauge for the filesystem store"
