"""The registry's side of scanning on a real server: scanner registrations (CRUD, default, a project's
choice), the system CVE allowlist, stored reports through the Harbor API and the security hub, and the
prevent_vul policy refusing pulls with 412 (skopeo, and raw /v2 requests).

Reports are stored as the scan job stores them, through services.scans.record_report, here from the
test process on the server's own database: the server sees them once its cache trusts them no more.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.db.session import Database
from berth.services.pull_policy import POLICY_CACHE_SECONDS
from berth.services.scans import REPORT_V11, ScannerInfo, ScanReportService
from tests.conftest import AUTH_FILE, Server

from .helpers import build_image, unique, write_oci_layout
from .test_audit_log import wait_audit

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "harbor-examples"
REPORT = EXAMPLES / "vulnerability-report-v1.1.json"
METADATA = EXAMPLES / "metadata-response.json"
CVE = "CVE-2022-27449"  # the report's one finding, High
PASSWORD = "Scan-Pass-123"
HARBOR_POLICY = "'Prevent images with vulnerability severity of \"High\" or higher from running.'"


def database_url(server: Server) -> str:
    return server.env.get("BERTH_DATABASE_URL") or f"sqlite+aiosqlite:///{(server.data_dir / 'berth.db').resolve()}"


def record_report(server: Server, digest: str, registration: str, status: str = "Success") -> str:
    """Store a report on the server's database the way the scan job does."""
    report = json.loads(REPORT.read_text())
    report["artifact"]["digest"] = digest

    async def store() -> str:
        db = Database(database_url(server))
        try:
            now = datetime.now(UTC)
            return await ScanReportService(db).record_report(
                digest=digest, registration_uuid=registration, mime_type=REPORT_V11, status=status,
                report=report if status == "Success" else None, scanner=ScannerInfo("ExampleScanner", "Example", "0.1.0"),
                start_time=now, end_time=now if status == "Success" else None, job_id="test")
        finally:
            await db.close()

    return asyncio.run(store())


def create_scanner(api: httpx.Client, **fields: Any) -> str:
    name = unique("scanner")
    body = {"name": name, "url": f"http://127.0.0.1:1/{name}", **fields}
    response = api.post("/api/v2.0/scanners", json=body)
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/scanners/")
    return location.rsplit("/", 1)[1]


def create_user(api: httpx.Client, project: str | None = None, role_id: int = 2) -> tuple[str, str]:
    name = f"scan-{uuid.uuid4().hex[:8]}"
    response = api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                  "password": PASSWORD, "realname": name})
    assert response.status_code == 201, response.text
    if project:
        response = api.post(f"/api/v2.0/projects/{project}/members",
                            json={"role_id": role_id, "member_user": {"username": name}})
        assert response.status_code == 201, response.text
    return name, PASSWORD


@pytest.fixture
def api(berth: Server) -> Iterator[httpx.Client]:
    with berth.client() as client:
        yield client


# --- scanner registrations ---------------------------------------------------------------------------


def test_scanner_registration_is_created_read_listed_updated_and_deleted(api):
    uid = create_scanner(api, description="first", auth="Bearer", access_credential="s3cret")
    body = api.get(f"/api/v2.0/scanners/{uid}").json()
    assert body["uuid"] == uid and body["description"] == "first" and body["auth"] == "Bearer"
    assert body["access_credential"] == "", "the stored credential is never shown"
    assert body["skip_certVerify"] is False and body["use_internal_addr"] is False and body["disabled"] is False
    assert body["create_time"].endswith("Z")

    listed = api.get("/api/v2.0/scanners", params={"q": f"name={body['name']}"})
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    assert [s["uuid"] for s in listed.json()] == [uid]

    changed = {"name": body["name"], "url": body["url"] + "-moved", "description": "second", "auth": "Bearer",
               "disabled": True}
    assert api.put(f"/api/v2.0/scanners/{uid}", json=changed).status_code == 200
    body = api.get(f"/api/v2.0/scanners/{uid}").json()
    assert body["url"].endswith("-moved") and body["description"] == "second" and body["disabled"] is True

    deleted = api.delete(f"/api/v2.0/scanners/{uid}")
    assert deleted.status_code == 200 and deleted.json()["uuid"] == uid
    assert api.get(f"/api/v2.0/scanners/{uid}").status_code == 404
    assert api.delete(f"/api/v2.0/scanners/{uid}").status_code == 404

    events = wait_audit(api, f"resource={body['name']},resource_type=scanner", 3)
    assert {e["operation"] for e in events if e["resource_type"] == "scanner"} == {"create", "update", "delete"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "", "url": "http://127.0.0.1:1"}, "missing registration name"),
    ({"url": "ftp://127.0.0.1/x"}, "invalid scheme"),
    ({"url": "not a url"}, "invalid scheme"),
    ({"auth": "Digest"}, "auth scheme Digest is not supported"),
])
def test_invalid_registration_is_refused_with_harbors_reason(api, fields, message):
    body = {"name": unique("bad"), "url": "http://127.0.0.1:1/bad", **fields}
    response = api.post("/api/v2.0/scanners", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"][0]["message"]


def test_registration_name_and_url_are_unique(api):
    uid = create_scanner(api)
    taken = api.get(f"/api/v2.0/scanners/{uid}").json()
    again = api.post("/api/v2.0/scanners", json={"name": taken["name"], "url": "http://127.0.0.1:1/other"})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"
    same_url = api.post("/api/v2.0/scanners", json={"name": unique("other"), "url": taken["url"]})
    assert same_url.status_code == 409


def test_one_registration_is_the_system_default(api):
    first, second = create_scanner(api), create_scanner(api)
    assert api.patch(f"/api/v2.0/scanners/{first}", json={"is_default": True}).status_code == 200
    assert api.patch(f"/api/v2.0/scanners/{second}", json={"is_default": True}).status_code == 200
    assert api.get(f"/api/v2.0/scanners/{second}").json()["is_default"] is True
    assert api.get(f"/api/v2.0/scanners/{first}").json()["is_default"] is False
    defaults = api.get("/api/v2.0/scanners", params={"q": "is_default=true"}).json()
    assert [s["uuid"] for s in defaults] == [second]
    assert api.patch(f"/api/v2.0/scanners/{uuid.uuid4()}", json={"is_default": True}).status_code == 404


def test_project_uses_its_chosen_scanner_else_the_default(api):
    default, chosen = create_scanner(api), create_scanner(api)
    api.patch(f"/api/v2.0/scanners/{default}", json={"is_default": True})
    project = unique("scanproj")
    assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201

    assert api.get(f"/api/v2.0/projects/{project}/scanner").json()["uuid"] == default
    assert api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": chosen}).status_code == 200
    assert api.get(f"/api/v2.0/projects/{project}/scanner").json()["uuid"] == chosen

    missing = api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": str(uuid.uuid4())})
    assert missing.status_code == 400
    candidates = api.get(f"/api/v2.0/projects/{project}/scanner/candidates", params={"page_size": 100})
    assert candidates.status_code == 200 and {default, chosen} <= {s["uuid"] for s in candidates.json()}

    api.delete(f"/api/v2.0/scanners/{chosen}")
    assert api.get(f"/api/v2.0/projects/{project}/scanner").json()["uuid"] == default


def test_scanners_are_for_system_admins_and_a_project_scanner_for_its_members(berth, api):
    project = unique("scanperm")
    api.post("/api/v2.0/projects", json={"project_name": project})
    guest = create_user(api, project, role_id=3)
    admin_of_project = create_user(api, project, role_id=1)
    uid, other = create_scanner(api), create_scanner(api)
    assert api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": uid}).status_code == 200
    with berth.client(auth=guest) as client:
        assert client.get("/api/v2.0/scanners").status_code == 403
        assert client.post("/api/v2.0/scanners", json={"name": unique("x"), "url": "http://127.0.0.1:1/x"}).status_code == 403
        assert client.get(f"/api/v2.0/projects/{project}/scanner").json()["uuid"] == uid  # scanner:read
        assert client.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": other}).status_code == 403
        assert client.get(f"/api/v2.0/projects/{project}/scanner/candidates").status_code == 403
    with berth.client(auth=admin_of_project) as client:
        assert client.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": other}).status_code == 200
        assert client.get(f"/api/v2.0/projects/{project}/scanner").json()["uuid"] == other
    with berth.client(auth=None) as anonymous:
        assert anonymous.get("/api/v2.0/scanners").status_code == 401


class _Adapter(BaseHTTPRequestHandler):
    """An adapter's metadata endpoint serving the spec's example (what Harbor's ping and metadata read)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/api/v1/metadata" or self.headers.get("Authorization") != "Bearer adapter-secret":
            self.send_error(401 if self.path == "/api/v1/metadata" else 404)
            return
        body = METADATA.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.scanner.adapter.metadata+json; version=1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def adapter() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Adapter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ping_and_metadata_ask_the_adapter(api, adapter):
    pytest.importorskip("berth.scan.client")
    settings = {"name": unique("ping"), "url": adapter, "auth": "Bearer", "access_credential": "adapter-secret"}
    assert api.post("/api/v2.0/scanners/ping", json=settings).status_code == 200
    wrong = api.post("/api/v2.0/scanners/ping", json={**settings, "access_credential": "wrong"})
    assert wrong.status_code == 400
    closed = api.post("/api/v2.0/scanners/ping", json={**settings, "url": "http://127.0.0.1:1"})
    assert closed.status_code == 400

    uid = create_scanner(api, url=adapter, auth="Bearer", access_credential="adapter-secret")
    metadata = api.get(f"/api/v2.0/scanners/{uid}/metadata")
    assert metadata.status_code == 200, metadata.text
    expected = json.loads(METADATA.read_text())
    assert metadata.json()["scanner"] == expected["scanner"]
    assert metadata.json()["properties"] == expected["properties"]
    assert [c["produces_mime_types"] for c in metadata.json()["capabilities"]] == \
        [c["produces_mime_types"] for c in expected["capabilities"]]
    # the stored credential is kept when an update leaves it empty
    body = api.get(f"/api/v2.0/scanners/{uid}").json()
    api.put(f"/api/v2.0/scanners/{uid}", json={"name": body["name"], "url": adapter, "auth": "Bearer"})
    assert api.get(f"/api/v2.0/scanners/{uid}/metadata").status_code == 200


# --- the system CVE allowlist ------------------------------------------------------------------------


def test_system_allowlist_is_read_by_users_and_replaced_by_admins(berth, api):
    expires = int(time.time()) + 86_400
    body = {"items": [{"cve_id": "CVE-2020-0001"}, {"cve_id": "CVE-2020-0002"}], "expires_at": expires}
    assert api.put("/api/v2.0/system/CVEAllowlist", json=body).status_code == 200
    current = api.get("/api/v2.0/system/CVEAllowlist").json()
    assert current.get("project_id", 0) == 0 and current["expires_at"] == expires  # 0 is omitted, as by Harbor
    assert [i["cve_id"] for i in current["items"]] == ["CVE-2020-0001", "CVE-2020-0002"]

    bad = api.put("/api/v2.0/system/CVEAllowlist", json={"items": [{"cve_id": "not a cve!"}]})
    assert bad.status_code == 400

    user = create_user(api)
    with berth.client(auth=user) as client:
        assert client.get("/api/v2.0/system/CVEAllowlist").json()["id"] == current["id"]
        assert client.put("/api/v2.0/system/CVEAllowlist", json={"items": []}).status_code == 403
    with berth.client(auth=None) as anonymous:
        assert anonymous.get("/api/v2.0/system/CVEAllowlist").status_code == 401

    assert api.put("/api/v2.0/system/CVEAllowlist", json={"items": []}).status_code == 200
    cleared = api.get("/api/v2.0/system/CVEAllowlist").json()
    assert cleared.get("items", []) == [] and cleared.get("expires_at") is None


# --- reports through the API, and the pull policy ----------------------------------------------------


def skopeo_inspect(skopeo: str, ref: str, creds: tuple[str, str] | None, tmp: Path) -> subprocess.CompletedProcess:
    command = [skopeo, "--insecure-policy", "--tmpdir", str(tmp), "inspect", "--raw", "--tls-verify=false"]
    if creds:
        command += ["--creds", f"{creds[0]}:{creds[1]}"]
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}
    return subprocess.run([*command, ref], capture_output=True, text=True, timeout=120, env=env)


def push(skopeo: str, berth: Server, repository: str, tmp: Path) -> str:
    image = build_image(seed=int(uuid.uuid4().int % 10_000), layers=1)
    layout = write_oci_layout(tmp / "layout", {"v1": image})
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}
    subprocess.run([skopeo, "--insecure-policy", "--tmpdir", str(tmp), "copy", "--quiet", "--dest-tls-verify=false",
                    f"oci:{layout}:v1", f"docker://{berth.host}/{repository}:v1"],
                   check=True, capture_output=True, timeout=120, env=env)
    return image.digest


def wait_for(check: Any, what: str, timeout: float = POLICY_CACHE_SECONDS * 3) -> Any:
    """The server trusts its cached policy inputs for POLICY_CACHE_SECONDS: poll past that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"timed out waiting for {what}"
            return result
        time.sleep(0.25)


def test_vulnerable_image_is_refused_until_allowlisted_and_again_once_the_entry_expires(
    berth, api, skopeo, tmp_path,
):
    project = unique("prevent")
    metadata = {"prevent_vul": "true", "severity": "high"}
    assert api.post("/api/v2.0/projects", json={"project_name": project, "metadata": metadata}).status_code == 201
    scanner = create_scanner(api)
    api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": scanner})
    developer = create_user(api, project, role_id=2)
    repository = f"{project}/app"
    digest = push(skopeo, berth, repository, tmp_path)
    manifest = f"{berth.url}/v2/{repository}/manifests/v1"

    def pull(method: str = "GET") -> httpx.Response:
        return httpx.request(method, manifest, auth=developer, timeout=30)

    # no report yet: a scanner could scan it, so Harbor refuses it
    refused = pull()
    assert refused.status_code == 412
    assert refused.json() == {"errors": [{"code": "PROJECTPOLICYVIOLATION", "message": (
        f"current image without vulnerability scanning cannot be pulled due to configured policy in {HARBOR_POLICY} "
        "To continue with pull, please contact your project administrator for help.")}]}

    record_report(berth, digest, scanner)
    vulnerable = (f"current image with 1 vulnerability cannot be pulled due to configured policy in {HARBOR_POLICY} "
                  "To continue with pull, please contact your project administrator to exempt matched "
                  "vulnerabilities through configuring the CVE allowlist.")
    wait_for(lambda: pull().json().get("errors", [{}])[0].get("message") == vulnerable, "the report to count")
    assert pull("HEAD").status_code == 412
    failed = skopeo_inspect(skopeo, f"docker://{berth.host}/{repository}:v1", developer, tmp_path)
    assert failed.returncode != 0 and "current image with 1 vulnerability cannot be pulled" in failed.stderr
    # the scanner's pull (a token with scanner-pull: system admins' tokens carry it) goes through
    admin = skopeo_inspect(skopeo, f"docker://{berth.host}/{repository}:v1", None, tmp_path)
    assert admin.returncode == 0, admin.stderr

    expires = int(time.time()) + 4
    allowlist = {"items": [{"cve_id": CVE}], "expires_at": expires}
    assert api.put("/api/v2.0/system/CVEAllowlist", json=allowlist).status_code == 200
    try:
        allowed = pull()
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["Docker-Content-Digest"] == digest
        assert skopeo_inspect(skopeo, f"docker://{berth.host}/{repository}:v1", developer, tmp_path).returncode == 0

        time.sleep(max(0.0, expires - time.time()) + 0.1)
        expired = pull()
        assert expired.status_code == 412 and expired.json()["errors"][0]["message"] == vulnerable
    finally:
        api.put("/api/v2.0/system/CVEAllowlist", json={"items": []})

    # the project's own allowlist counts once it stops reusing the system's
    own = {"metadata": {"reuse_sys_cve_allowlist": "false"}, "cve_allowlist": {"items": [{"cve_id": CVE}]}}
    assert api.put(f"/api/v2.0/projects/{project}", json=own).status_code == 200
    assert pull().status_code == 200
    assert api.put(f"/api/v2.0/projects/{project}", json={"metadata": {"prevent_vul": "false"}}).status_code == 200


def test_failed_scan_is_refused_with_its_status(berth, api, skopeo, tmp_path):
    project = unique("failedscan")
    api.post("/api/v2.0/projects", json={"project_name": project, "metadata": {"prevent_vul": "true", "severity": "low"}})
    scanner = create_scanner(api)
    api.put(f"/api/v2.0/projects/{project}/scanner", json={"uuid": scanner})
    developer = create_user(api, project)
    digest = push(skopeo, berth, f"{project}/app", tmp_path)
    record_report(berth, digest, scanner, status="Error")
    url = f"{berth.url}/v2/{project}/app/manifests/{digest}"
    message = wait_for(lambda: httpx.get(url, auth=developer).json().get("errors", [{}])[0].get("message", ""),
                       "the refusal")
    assert message.startswith('current image with "Error" status of vulnerability scanning cannot be pulled')


def test_reports_show_in_artifacts_additions_and_the_security_hub(berth, api, skopeo, tmp_path):
    project = unique("hub")
    api.post("/api/v2.0/projects", json={"project_name": project})
    scanner = create_scanner(api)
    assert api.patch(f"/api/v2.0/scanners/{scanner}", json={"is_default": True}).status_code == 200
    digest = push(skopeo, berth, f"{project}/app", tmp_path)
    report_id = record_report(berth, digest, scanner)
    base = f"/api/v2.0/projects/{project}/repositories/app/artifacts"

    artifact = api.get(f"{base}/v1", params={"with_scan_overview": "true"}).json()
    overview = artifact["scan_overview"][REPORT_V11]
    assert overview["report_id"] == report_id and overview["scan_status"] == "Success"
    assert overview["severity"] == "High" and overview["complete_percent"] == 100
    assert overview["summary"] == {"total": 1, "fixable": 1, "summary": {"High": 1}}
    assert overview["scanner"] == {"name": "ExampleScanner", "vendor": "Example", "version": "0.1.0"}
    assert "vulnerabilities" in artifact["addition_links"]
    listed = api.get(base, params={"with_scan_overview": "true"}).json()
    assert listed[0]["scan_overview"][REPORT_V11]["report_id"] == report_id
    assert "scan_overview" not in api.get(f"{base}/v1").json()

    addition = api.get(f"{base}/v1/additions/vulnerabilities")
    assert addition.status_code == 200 and addition.headers["content-type"].startswith("application/json")
    report = addition.json()[REPORT_V11]
    assert report["vulnerabilities"][0]["id"] == CVE and report["artifact"]["digest"] == digest

    summary = api.get("/api/v2.0/security/summary",
                      params={"with_dangerous_cve": "true", "with_dangerous_artifact": "true"}).json()
    assert summary["high_cnt"] == 1 and summary["total_vuls"] == 1 and summary["scanned_cnt"] == 1
    assert summary["fixable_cnt"] == 1 and summary["critical_cnt"] == 0 and summary["total_artifact"] >= 1
    assert summary["dangerous_artifacts"] == [{"project_id": artifact["project_id"], "repository_name": f"{project}/app",
                                               "digest": digest, "critical_cnt": 0, "high_cnt": 1, "medium_cnt": 0}]

    found = api.get("/api/v2.0/security/vul", params={"q": f"cve_id={CVE},repository_name={project}/app",
                                                      "with_tag": "true"})
    assert found.status_code == 200 and found.headers["X-Total-Count"] == "1"
    item = found.json()[0]
    assert item["digest"] == digest and item["tags"] == ["v1"] and item["package"] == "mariadb"
    assert item["severity"] == "High" and item["cvss_v3_score"] == 7.5 and item["fixed_version"] == "10.6.8-r0"
    ranged = api.get("/api/v2.0/security/vul", params={"q": "cvss_score_v3=[9~10]", "tune_count": "true"})
    assert ranged.status_code == 200 and ranged.json() == []
    by_tag = api.get("/api/v2.0/security/vul", params={"q": f"tag=v1,digest={digest}"}).json()
    assert [i["cve_id"] for i in by_tag] == [CVE]
