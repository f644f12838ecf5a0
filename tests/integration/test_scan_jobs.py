"""Scans run from the registry, on a real server: scan on push into an `auto_scan` project and the
412 that follows, manual scans and their stop, scan-all with its metrics, the SCANNING_COMPLETED
webhook, a scan that outlives a SIGKILLed server, an external adapter (`berth scanner serve`) driven
as Harbor drives one, and SBOMs stored as accessories. The OSV samples are imported with the real
`berth vulndb import` into each server's data folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import BERTH, Server, start_adapter, start_berth

from .helpers import (
    APK_INSTALLED, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, OS_RELEASE, V2, Image, build_artifact, build_index,
    canonical_json, descriptor, file_layer, tiny_alpine_image, unique, write_oci_layout,
)
from .test_metrics import scrape, value
from .test_webhooks import FAST_JOBS, Receiver

OSV_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "osv"
REPORT_V11 = "application/vnd.security.vulnerability.report; version=1.1"
CVE = "CVE-2022-27449"  # mariadb 10.6.7-r0 in the Alpine 3.16 samples
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
ADAPTER_KEY = "external-adapter-secret"


def import_osv(data_dir: Path) -> None:
    imported = subprocess.run(
        [BERTH, "vulndb", "import", str(OSV_SAMPLES / "alpine"), str(OSV_SAMPLES / "pypi"),
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=180)
    assert imported.returncode == 0, imported.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """A berth of this module's own with the OSV samples imported."""
    data_dir = tmp_path_factory.mktemp("scan-jobs") / "data"
    env = {**FAST_JOBS, "BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_REFRESH_SECONDS": "0"}
    berth = start_berth(data_dir, env, projects=())
    import_osv(data_dir)
    yield berth
    berth.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def create_project(api: httpx.Client, **metadata: str) -> str:
    name = unique("scan")
    response = api.post("/api/v2.0/projects", json={"project_name": name, "metadata": metadata})
    assert response.status_code == 201, response.text
    return name


def push(server: Server, repository: str, tag: str = "3.16", padding: int = 0) -> str:
    """Push an image of its own digest (reports are kept per digest, whatever the repository)."""
    image = tiny_alpine_image(repository, padding)
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(repository, image, tag)
    return image.digest


def artifact_path(repository: str, reference: str) -> str:
    project, _, inner = repository.partition("/")
    return f"/api/v2.0/projects/{project}/repositories/{quote(inner, safe='')}/artifacts/{reference}"


def wait_for(what: Callable[[], Any], timeout: float = 90.0, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting: {message}"
        time.sleep(0.2)


def overview(api: httpx.Client, repository: str, reference: str) -> dict[str, Any]:
    response = api.get(artifact_path(repository, reference), params={"with_scan_overview": "true"})
    assert response.status_code == 200, response.text
    return (response.json().get("scan_overview") or {}).get(REPORT_V11) or {}


def scan_status(api: httpx.Client, repository: str, reference: str, *statuses: str) -> dict[str, Any]:
    """The overview once its status is one of `statuses`."""
    return wait_for(lambda: (lambda o: o if o.get("scan_status") in statuses else None)(
        overview(api, repository, reference)), message=f"{repository}:{reference} reaching {statuses}")


def findings(api: httpx.Client, repository: str, reference: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = api.get(artifact_path(repository, reference) + "/additions/vulnerabilities")
    assert response.status_code == 200, response.text
    report = response.json()[REPORT_V11]
    return {(item["package"], item["id"]): item for item in report["vulnerabilities"]}


# --- scan on push and the pull policy -------------------------------------------------------------


def test_push_into_an_auto_scan_project_is_scanned_and_a_vulnerable_image_is_then_refused(
    server, api, skopeo, tmp_path,
):
    project = create_project(api, auto_scan="true")
    repository = f"{project}/alpine"
    layout = write_oci_layout(tmp_path / "layout", {"3.16": tiny_alpine_image(repository)})
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    subprocess.run([skopeo, "login", "--tls-verify=false", "-u", server.auth[0], "-p", server.auth[1], server.host],
                   check=True, capture_output=True, env=env, timeout=60)
    copied = subprocess.run(
        [skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:3.16",
         f"docker://{server.host}/{repository}:3.16"], capture_output=True, text=True, env=env, timeout=120)
    assert copied.returncode == 0, copied.stderr

    done = scan_status(api, repository, "3.16", "Success", "Error")
    assert done["scan_status"] == "Success", server.log()[-3000:]
    assert done["scanner"]["name"] == "berth"
    assert done["summary"]["total"] >= 1 and done["severity"] in ("Low", "Medium", "High", "Critical")
    mariadb = findings(api, repository, "3.16")[("mariadb", CVE)]
    assert mariadb["fix_version"] == "10.6.8-r0"

    # prevent_vul: the manifest is refused as Harbor refuses it
    changed = api.put(f"/api/v2.0/projects/{project}", json={"metadata": {"prevent_vul": "true", "severity": "low"}})
    assert changed.status_code == 200, changed.text
    with V2(server.url, auth=server.auth) as v2:
        refused = wait_for(lambda: (lambda r: r if r.status_code == 412 else None)(
            v2.get_manifest(repository, "3.16")), timeout=30, message="412 on pull")
    error = refused.json()["errors"][0]
    assert error["code"] == "PROJECTPOLICYVIOLATION" and "cannot be pulled" in error["message"]


def test_builtin_scanner_is_the_default_and_its_adapter_is_mounted_with_a_credential(server, api):
    scanners = api.get("/api/v2.0/scanners").json()
    builtin = next(s for s in scanners if s["name"] == "berth")
    assert builtin["is_default"] is True and builtin["url"] == f"{server.url}/scanner"
    assert httpx.get(f"{server.url}/scanner/api/v1/metadata").status_code == 401
    credential = subprocess.run([BERTH, "scanner", "credential", "--data-dir", str(server.data_dir)],
                                capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    metadata = httpx.get(f"{server.url}/scanner/api/v1/metadata", headers={"Authorization": f"Bearer {credential}"})
    assert metadata.status_code == 200 and metadata.json()["scanner"]["name"] == "berth"
    # berth's API reads the same metadata through the registration (with its sealed credential)
    through_api = api.get(f"/api/v2.0/scanners/{builtin['uuid']}/metadata")
    assert through_api.status_code == 200 and through_api.json()["scanner"]["name"] == "berth"


# --- manual scans ---------------------------------------------------------------------------------


def test_manual_scan_can_be_stopped_while_pending_and_then_run(server, api):
    project = create_project(api)
    repository = f"{project}/alpine"
    push(server, repository)
    path = artifact_path(repository, "3.16")
    assert overview(api, repository, "3.16") == {}, "no auto_scan: not scanned on push"
    assert api.post(path + "/scan/stop", json={"scan_type": "vulnerability"}).status_code == 404

    assert api.put("/api/v2.0/jobservice/queues/IMAGE_SCAN", json={"action": "pause"}).status_code == 200
    try:
        assert api.post(path + "/scan").status_code == 202
        again = api.post(path + "/scan")  # Harbor's answer while a scan of the digest is pending
        assert again.status_code == 409 and again.json()["errors"][0] == {
            "code": "CONFLICT", "message": "a previous scan process is Pending"}, again.text
        # the jobs' Prometheus metrics count scans like any job
        assert value(scrape(f"{server.url}/metrics"), "harbor_task_queue_size", type="IMAGE_SCAN") >= 1
        stopped = api.post(path + "/scan/stop", json={"scan_type": "vulnerability"})
        assert stopped.status_code == 202, stopped.text
        assert overview(api, repository, "3.16")["scan_status"] == "Stopped"
    finally:
        api.put("/api/v2.0/jobservice/queues/IMAGE_SCAN", json={"action": "resume"})

    assert api.post(path + "/scan", json={"scan_type": "vulnerability"}).status_code == 202
    assert scan_status(api, repository, "3.16", "Success")["summary"]["total"] >= 1
    assert api.post(path + "/scan", json={"scan_type": "secrets"}).status_code == 400
    assert api.post(artifact_path(repository, "nope") + "/scan").status_code == 404


#: zero bytes in a layer that make a scan take a few seconds (read, never kept)
SLOW = 500 << 20


def test_a_running_scan_is_stopped_by_its_worker_and_its_process_killed(start_server, tmp_path):
    # a server of its own with heartbeats every half second: the stop reaches the worker quickly
    server = start_server(data_dir=tmp_path / "stopping" / "data", env={**FAST_JOBS, "BERTH_JOB_LEASE_SECONDS": "1.5"})
    with server.client() as api:
        repository = f"{create_project(api)}/alpine"
        push(server, repository, padding=SLOW)
        path = artifact_path(repository, "3.16")
        assert api.post(path + "/scan").status_code == 202
        scan_status(api, repository, "3.16", "Running")
        stopped = api.post(path + "/scan/stop", json={"scan_type": "vulnerability"})
        assert stopped.status_code == 202, stopped.text
        assert scan_status(api, repository, "3.16", "Stopped", "Success", "Error")["scan_status"] == "Stopped"
        executions = api.get("/api/v2.0/jobservice/queues").json()
        assert {q["job_type"]: q.get("count", 0) for q in executions}.get("IMAGE_SCAN", 0) == 0


def test_scanning_an_index_scans_it_and_each_of_its_platforms(server, api):
    repository = f"{create_project(api)}/multi"
    amd64, arm64 = tiny_alpine_image(repository + "/amd64"), tiny_alpine_image(repository + "/arm64")
    index = build_index([amd64, arm64], [("linux", "amd64"), ("linux", "arm64")])
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(repository, index, "both")
    assert api.post(artifact_path(repository, "both") + "/scan").status_code == 202
    for digest in (index.digest, amd64.digest, arm64.digest):
        assert scan_status(api, repository, digest, "Success", "Error")["scan_status"] == "Success"
        assert ("mariadb", CVE) in findings(api, repository, digest)


def test_a_corrupt_layer_is_skipped_and_the_report_log_says_so(server, api):
    """The walk goes on past a layer that is not gzip: the scan succeeds with what it read, and the
    report's log (Harbor's getReportLog) names the layer it skipped. The stored image is untouched."""
    repository = f"{create_project(api)}/broken"
    base, base_diff = file_layer({"etc/os-release": OS_RELEASE, "lib/apk/db/installed": APK_INSTALLED})
    garbage = b"\x1f\x8b\x08\x00not a gzip stream at all" + os.urandom(64)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [base_diff, "sha256:" + "0" * 64]}})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                               "layers": [descriptor(OCI_LAYER_GZIP, base), descriptor(OCI_LAYER_GZIP, garbage)]})
    image = Image(manifest, OCI_MANIFEST, [config, base, garbage])
    garbage_digest = "sha256:" + hashlib.sha256(garbage).hexdigest()
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(repository, image, "1")
    assert api.post(artifact_path(repository, "1") + "/scan").status_code == 202
    done = scan_status(api, repository, "1", "Success", "Error")
    assert done["scan_status"] == "Success"
    assert ("mariadb", CVE) in findings(api, repository, "1")
    log = api.get(artifact_path(repository, "1") + f"/scan/{done['report_id']}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    skipped = [line for line in log.text.splitlines() if "skipped:" in line]
    assert len(skipped) == 1 and garbage_digest in skipped[0], log.text
    unknown = api.get(artifact_path(repository, "1") + "/scan/no-such-report/log")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "NOT_FOUND"
    with V2(server.url, auth=server.auth) as v2:  # the stored layer is as pushed
        assert v2.request("GET", f"/v2/{repository}/blobs/{garbage_digest}").content == garbage


def test_an_artifact_that_is_not_an_image_is_not_scanned(server, api):
    repository = f"{create_project(api)}/things"
    artifact = build_artifact(b'{"not": "an image"}')
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(repository, artifact, "1")
    answer = api.post(artifact_path(repository, "1") + "/scan")
    assert answer.status_code == 422 and answer.json()["errors"][0]["code"] == "UNPROCESSABLE_ENTITY"


# --- scan all -------------------------------------------------------------------------------------


def test_scan_all_scans_every_project_and_reports_its_metrics(server, api):
    repositories = [f"{create_project(api)}/alpine" for _ in range(2)]
    for repository in repositories:
        push(server, repository)
    started = api.post("/api/v2.0/system/scanAll/schedule", json={"schedule": {"type": "Manual"}})
    assert started.status_code == 201, started.text

    def finished() -> dict[str, Any] | None:
        stats = api.get("/api/v2.0/scans/all/metrics").json()
        return stats if stats["total"] and not stats["ongoing"] else None

    stats = wait_for(finished, timeout=180, message="scan all")
    assert stats["trigger"] == "Manual" and stats["completed"] == stats["total"] >= 2
    assert stats["metrics"].get("Success", 0) >= 2
    for repository in repositories:
        assert overview(api, repository, "3.16")["scan_status"] == "Success"
    scheduled = api.get("/api/v2.0/scans/schedule/metrics").json()
    assert scheduled == {"total": 0, "completed": 0, "ongoing": False, "trigger": "Manual"}

    # the cron schedule: created, shown, changed, removed
    assert api.get("/api/v2.0/system/scanAll/schedule").json() == {}
    daily = api.post("/api/v2.0/system/scanAll/schedule", json={"schedule": {"type": "Daily"}})
    assert daily.status_code == 201
    body = api.get("/api/v2.0/system/scanAll/schedule").json()
    assert body["schedule"]["type"] == "Daily" and body["schedule"]["cron"] == "0 0 0 * * *"
    assert api.post("/api/v2.0/system/scanAll/schedule",
                    json={"schedule": {"type": "Daily"}}).status_code == 409
    custom = api.put("/api/v2.0/system/scanAll/schedule", json={"schedule": {"type": "Custom", "cron": "0 30 2 * * *"}})
    assert custom.status_code == 200
    assert api.get("/api/v2.0/system/scanAll/schedule").json()["schedule"]["cron"] == "0 30 2 * * *"
    assert api.put("/api/v2.0/system/scanAll/schedule", json={"schedule": {"type": "Manual"}}).status_code == 400
    assert api.put("/api/v2.0/system/scanAll/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    assert api.get("/api/v2.0/system/scanAll/schedule").json() == {}
    assert any(s["vendor_type"] == "SCAN_ALL" for s in api.get("/api/v2.0/schedules").json()) is False


def test_scan_all_needs_the_system_admin(server):
    with server.client(auth=None) as anonymous:
        assert anonymous.get("/api/v2.0/scans/all/metrics").status_code == 401
        assert anonymous.post("/api/v2.0/system/scanAll/schedule",
                              json={"schedule": {"type": "Manual"}}).status_code == 401


# --- webhooks -------------------------------------------------------------------------------------


def test_scanning_completed_webhook_carries_the_scan_overview(server, api):
    receiver = Receiver()
    try:
        project = create_project(api, auto_scan="true")
        policy = {"name": "scans", "enabled": True, "event_types": ["SCANNING_COMPLETED", "SCANNING_FAILED"],
                  "targets": [{"type": "http", "address": receiver.url("/scans")}]}
        created = api.post(f"/api/v2.0/projects/{project}/webhook/policies", json=policy)
        assert created.status_code == 201, created.text
        repository = f"{project}/alpine"
        digest = push(server, repository)
        payload = receiver.wait("/scans", 1, timeout=90)[0].json()
    finally:
        receiver.close()
    assert payload["type"] == "SCANNING_COMPLETED"
    resource = payload["event_data"]["resources"][0]
    assert resource["digest"] == digest and resource["tag"] == "3.16"
    assert resource["resource_url"] == f"{server.host}/{repository}:3.16"
    summary = resource["scan_overview"][REPORT_V11]
    assert summary["scan_status"] == "Success" and summary["scanner"]["name"] == "berth"
    assert summary["summary"]["total"] >= 1 and summary["report_id"]
    assert payload["event_data"]["repository"]["repo_full_name"] == repository
    assert payload["event_data"]["scan"] == {"scan_type": "vulnerability"}


def test_a_scan_the_adapter_cannot_run_fails_with_scanning_failed(server, api):
    receiver = Receiver()
    try:
        registered = api.post("/api/v2.0/scanners", json={"name": unique("gone"), "url": "http://127.0.0.1:1"})
        assert registered.status_code == 201, registered.text
        project = create_project(api)
        uuid = registered.headers["Location"].rsplit("/", 1)[1]
        assert api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": uuid}).status_code == 200
        policy = {"name": "failures", "enabled": True, "event_types": ["SCANNING_FAILED"],
                  "targets": [{"type": "http", "address": receiver.url("/failed")}]}
        assert api.post(f"/api/v2.0/projects/{project}/webhook/policies", json=policy).status_code == 201
        repository = f"{project}/alpine"
        push(server, repository)
        assert api.post(artifact_path(repository, "3.16") + "/scan").status_code == 202
        assert scan_status(api, repository, "3.16", "Error", "Success")["scan_status"] == "Error"
        payload = receiver.wait("/failed", 1, timeout=60)[0].json()
    finally:
        receiver.close()
    assert payload["type"] == "SCANNING_FAILED"
    assert payload["event_data"]["resources"][0]["scan_overview"][REPORT_V11]["scan_status"] == "Error"


# --- durability -----------------------------------------------------------------------------------


def _task_rows(data_dir: Path) -> list[tuple[str, int, str]]:
    connection = sqlite3.connect(f"file:{data_dir / 'berth.db'}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT t.status, t.run_count, group_concat(l.line, '\n') FROM tasks t LEFT JOIN task_logs l "
            "ON l.task_id = t.id WHERE t.kind = 'IMAGE_SCAN' GROUP BY t.id").fetchall()
    finally:
        connection.close()


def test_a_scan_running_when_the_server_is_killed_runs_again_after_restart(start_server, tmp_path):
    data_dir = tmp_path / "killed" / "data"
    env = {**FAST_JOBS, "BERTH_JOB_LEASE_SECONDS": "2"}
    first = start_server(data_dir=data_dir, env=env)
    import_osv(data_dir)
    with first.client() as api:
        project = create_project(api, auto_scan="true")
        repository = f"{project}/alpine"
        push(first, repository, padding=SLOW)
        scan_status(api, repository, "3.16", "Running")
    first.stop(signal.SIGKILL)
    assert _task_rows(data_dir)[0][0] == "Running"

    second = start_server(data_dir=data_dir, env=env, port=first.port)
    with second.client() as api:
        assert scan_status(api, repository, "3.16", "Success")["summary"]["total"] >= 1
    status, runs, log = wait_for(lambda: next((row for row in _task_rows(data_dir) if row[0] != "Running"), None),
                                 message="the task's end")
    assert (status, runs) == ("Success", 2)
    assert "re-run: the worker running it stopped renewing its lease" in log


def test_scans_run_in_berth_worker_when_the_server_runs_no_jobs(start_server, tmp_path):
    data_dir = tmp_path / "workers" / "data"
    server = start_server(data_dir=data_dir, env={**FAST_JOBS, "BERTH_JOBS": "false"})
    import_osv(data_dir)
    log_path = data_dir.parent / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([BERTH, "worker", "--data-dir", str(data_dir)], stdout=log,
                                  stderr=subprocess.STDOUT, env={**os.environ, **FAST_JOBS})
    try:
        with server.client() as api:
            repository = f"{create_project(api, auto_scan='true')}/alpine"
            push(server, repository)
            done = scan_status(api, repository, "3.16", "Success", "Error")
            assert done["scan_status"] == "Success", log_path.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    assert "IMAGE_SCAN" in log_path.read_text()


# --- an external adapter --------------------------------------------------------------------------


@pytest.fixture
def adapter(server: Server) -> Iterator[Server]:
    """`berth scanner serve` as a second process on the server's data folder."""
    started = start_adapter(server.data_dir, ADAPTER_KEY)
    yield started
    started.stop()


def test_an_external_adapter_registered_for_a_project_scans_it_as_harbor_drives_one(server, api, adapter):
    registered = api.post("/api/v2.0/scanners", json={
        "name": unique("external"), "url": adapter.url, "auth": "Bearer", "access_credential": ADAPTER_KEY})
    assert registered.status_code == 201, registered.text
    uuid = registered.headers["Location"].rsplit("/", 1)[1]
    project = create_project(api)
    assert api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": uuid}).status_code == 200
    repository = f"{project}/alpine"
    push(server, repository)

    assert api.post(artifact_path(repository, "3.16") + "/scan").status_code == 202
    done = scan_status(api, repository, "3.16", "Success", "Error")
    assert done["scan_status"] == "Success", adapter.log()[-3000:] + server.log()[-3000:]
    assert ("mariadb", CVE) in findings(api, repository, "3.16")
    # the adapter pulled the image from berth over /v2 with the job's scanner-pull token
    assert "/api/v1/scan" in adapter.log()
    assert f"/v2/{repository}/manifests/" in server.log()


# --- SBOMs ----------------------------------------------------------------------------------------


def test_sbom_generation_stores_an_accessory_visible_as_accessory_and_referrer(server, api):
    project = create_project(api)
    repository = f"{project}/alpine"
    digest = push(server, repository)
    path = artifact_path(repository, "3.16")
    assert api.post(path + "/scan", json={"scan_type": "sbom"}).status_code == 202

    def accessory() -> dict[str, Any] | None:
        body = api.get(path, params={"with_accessory": "true"}).json()
        return next((a for a in body.get("accessories") or [] if a["type"] == "sbom.harbor"), None)

    found = wait_for(accessory, message="the SBOM accessory")
    sbom_overview = wait_for(lambda: (lambda o: o if o.get("scan_status") == "Success" else None)(
        api.get(path, params={"with_sbom_overview": "true"}).json().get("sbom_overview") or {}),
        timeout=30, message="the SBOM overview")
    assert sbom_overview["sbom_digest"] == found["digest"] and sbom_overview["scanner"]["name"] == "berth"

    with V2(server.url, auth=server.auth) as v2:
        referrers = v2.request("GET", f"/v2/{repository}/referrers/{digest}").json()["manifests"]
        assert [r["digest"] for r in referrers if r.get("artifactType") == HARBOR_SBOM] == [found["digest"]]
        manifest = v2.get_manifest(repository, found["digest"]).json()
        assert manifest["subject"]["digest"] == digest and manifest["artifactType"] == HARBOR_SBOM
        layer = manifest["layers"][0]
        assert layer["mediaType"] == "application/spdx+json"
        document = json.loads(v2.request("GET", f"/v2/{repository}/blobs/{layer['digest']}").content)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert {"mariadb", "musl", "cryptography"} <= {p["name"] for p in document["packages"]}

    # generated again: the new SBOM replaces the old one, as in Harbor
    assert api.post(path + "/scan", json={"scan_type": "sbom"}).status_code == 202
    replaced = wait_for(lambda: (lambda a: a if a and a["digest"] != found["digest"] else None)(accessory()),
                        message="the second SBOM")
    accessories = api.get(path, params={"with_accessory": "true"}).json()["accessories"]
    assert [a["digest"] for a in accessories if a["type"] == "sbom.harbor"] == [replaced["digest"]]
    assert api.get(artifact_path(repository, found["digest"])).status_code == 404


def test_auto_sbom_generation_makes_the_sbom_on_push(server, api):
    project = create_project(api, auto_sbom_generation="true")
    repository = f"{project}/alpine"
    push(server, repository)
    path = artifact_path(repository, "3.16")
    wait_for(lambda: any(a["type"] == "sbom.harbor" for a in
                         api.get(path, params={"with_accessory": "true"}).json().get("accessories") or []),
             message="the SBOM accessory after push")
    assert overview(api, repository, "3.16") == {}, "auto_scan is off: no vulnerability scan"
