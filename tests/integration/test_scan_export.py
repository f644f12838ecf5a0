"""Harbor's scan data export on a real server (SQLite and PostgreSQL): POST /export/cve queues a job
that writes the selected findings as Harbor's CSV; its user follows it, lists their own exports and
downloads the file once; others are refused. Findings are stored as the scan job stores them
(services.scans.record_report), from the test process on the server's own database."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from berth.db.session import Database
from berth.services.scans import REPORT_V10, REPORT_V11, ScannerInfo, ScanReportService
from tests.conftest import Server

from .helpers import V2, build_image, build_index, unique
from .test_scanning_registry import create_scanner, create_user, database_url

DATA_TYPE = {"X-Scan-Data-Type": "application/vnd.security.vulnerability.report; version=1.1"}
HEADER = ("Repository,Artifact Digest,CVE,Package,Current Version,Fixed in version,Severity,CWE Ids,"
          "Additional Data,Scanner")


def finding(cve: str, package: str, severity: str = "High", **extra: Any) -> dict[str, Any]:
    return {"id": cve, "package": package, "version": "1.0", "fix_version": "1.1", "severity": severity, **extra}


def store_findings(server: Server, digest: str, registration: str, findings: list[dict[str, Any]],
                   mime_type: str = REPORT_V11) -> None:
    report = {"generated_at": "2026-12-02T00:00:00Z", "artifact": {"digest": digest},
              "scanner": {"name": "ExampleScanner", "vendor": "Example", "version": "0.1.0"},
              "vulnerabilities": findings}

    async def store() -> None:
        db = Database(database_url(server))
        try:
            now = datetime.now(UTC)
            await ScanReportService(db).record_report(
                digest=digest, registration_uuid=registration, mime_type=mime_type, status="Success", report=report,
                scanner=ScannerInfo("ExampleScanner", "Example", "0.1.0"), start_time=now, end_time=now, job_id="t")
        finally:
            await db.close()

    asyncio.run(store())


@pytest.fixture
def api(berth: Server) -> Iterator[httpx.Client]:
    with berth.client() as client:
        yield client


@pytest.fixture
def scanned(berth: Server, api: httpx.Client) -> dict[str, Any]:
    """A project with two repositories of scanned images: app (v1.0, v2.0, one untagged, a multi-platform
    index tagged multi) and lib (v1.0, labelled), each with findings of one scanner."""
    project = unique("export")
    assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    scanner = create_scanner(api)
    scanner_name = api.get(f"/api/v2.0/scanners/{scanner}").json()["name"]
    seed = uuid.uuid4().int % 10_000
    images = {name: build_image(seed * 10 + i, layers=1) for i, name in enumerate(
        ("v1", "v2", "untagged", "lib", "child"))}
    index = build_index([images["child"]], [("linux", "arm64")])
    with V2(berth.url, auth=berth.auth) as v2:
        v2.push_image(f"{project}/app", images["v1"], "v1.0")
        v2.push_image(f"{project}/app", images["v2"], "v2.0")
        v2.push_image(f"{project}/app", images["untagged"])
        v2.push_image(f"{project}/app", index, "multi")
        v2.push_image(f"{project}/lib", images["lib"], "v1.0")
    store_findings(berth, images["v1"].digest, scanner, [
        finding("CVE-2024-0001", "openssl", cwe_ids=["CWE-79", "CWE-80"],
                vendor_attributes={"CVSS": {"nvd": {"V3Score": 7.5}}}),
        finding("CVE-2024-0002", "@evil/pkg", "Low", fix_version="=cmd|'/c calc'!A1")])
    # the same scanner's 1.0 report repeats a finding: the 1.1 report is the one exported
    store_findings(berth, images["v1"].digest, scanner, [finding("CVE-2024-0001", "openssl")], REPORT_V10)
    store_findings(berth, images["v2"].digest, scanner, [finding("CVE-2024-0003", "zlib", "Critical")])
    store_findings(berth, images["untagged"].digest, scanner, [finding("CVE-2024-0004", "curl", "Medium")])
    store_findings(berth, images["child"].digest, scanner, [finding("CVE-2024-0005", "glibc")])
    store_findings(berth, images["lib"].digest, scanner, [finding("CVE-2024-0001", "openssl")])
    label = api.post("/api/v2.0/labels", json={"name": unique("lbl"), "scope": "p", "project_id": project_id})
    assert label.status_code == 201, label.text
    label_id = int(label.headers["Location"].rsplit("/", 1)[1])
    labelled = api.post(f"/api/v2.0/projects/{project}/repositories/lib/artifacts/v1.0/labels", json={"id": label_id})
    assert labelled.status_code == 200, labelled.text
    return {"project": project, "project_id": project_id, "scanner": scanner_name, "label": label_id,
            "digests": {name: image.digest for name, image in images.items()}}


def export(client: httpx.Client, project_id: int, **criteria: Any) -> int:
    response = client.post("/api/v2.0/export/cve", headers=DATA_TYPE, json={"projects": [project_id], **criteria})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def finished(client: httpx.Client, execution_id: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v2.0/export/cve/execution/{execution_id}").json()
        if body.get("status") not in (None, "Running") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def download(client: httpx.Client, execution_id: int) -> list[list[str]]:
    response = client.get(f"/api/v2.0/export/cve/download/{execution_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="scandata_export_{execution_id}.csv"'
    assert response.text.splitlines()[0] == HEADER
    return list(csv.reader(io.StringIO(response.text)))[1:]


def test_export_writes_harbors_csv_of_the_filtered_findings_and_downloads_once(api, scanned):
    digests, project = scanned["digests"], scanned["project"]
    execution_id = export(api, scanned["project_id"], job_name="weekly", repositories="app", tags="v1*",
                          cveIds="{CVE-2024-0001,CVE-2024-0002,CVE-2024-0004}")
    body = finished(api, execution_id)
    assert body["status"] == "Success" and body["file_present"] is True, body
    assert body["user_name"] == "admin" and body["user_id"] == 1 and body["trigger"] == "MANUAL"
    assert body["start_time"].endswith("Z") and body["end_time"].endswith("Z")

    rows = download(api, execution_id)
    # v1.0 matches the tag pattern, the untagged artifact passes it as in Harbor; v2.0 and lib do not
    assert rows == [
        [f"{project}/app", digests["v1"], "CVE-2024-0001", "openssl", "1.0", "1.1", "High", "CWE-79,CWE-80",
         '{"CVSS": {"nvd": {"V3Score": 7.5}}}', scanned["scanner"]],
        [f"{project}/app", digests["v1"], "CVE-2024-0002", "'@evil/pkg", "1.0", "'=cmd|'/c calc'!A1", "Low", "", "",
         scanned["scanner"]],
        [f"{project}/app", digests["untagged"], "CVE-2024-0004", "curl", "1.0", "1.1", "Medium", "", "",
         scanned["scanner"]],
    ]
    # Harbor deletes the file and its execution once downloaded
    assert api.get(f"/api/v2.0/export/cve/download/{execution_id}").status_code == 404
    assert api.get(f"/api/v2.0/export/cve/execution/{execution_id}").status_code == 404


def test_export_of_a_whole_project_and_by_label(api, scanned):
    digests, project = scanned["digests"], scanned["project"]
    everything = download(api, finished(api, export(api, scanned["project_id"]))["id"])
    assert sorted((row[0], row[1], row[2]) for row in everything) == sorted([
        (f"{project}/app", digests["v1"], "CVE-2024-0001"), (f"{project}/app", digests["v1"], "CVE-2024-0002"),
        (f"{project}/app", digests["v2"], "CVE-2024-0003"), (f"{project}/app", digests["untagged"], "CVE-2024-0004"),
        (f"{project}/app", digests["child"], "CVE-2024-0005"), (f"{project}/lib", digests["lib"], "CVE-2024-0001"),
    ])
    labelled = download(api, finished(api, export(api, scanned["project_id"], labels=[scanned["label"]]))["id"])
    assert [(row[0], row[2]) for row in labelled] == [(f"{project}/lib", "CVE-2024-0001")]
    # an index's children go with it: the tag "multi" selects the child's findings (and untagged ones)
    multi = download(api, finished(api, export(api, scanned["project_id"], repositories="app", tags="multi"))["id"])
    assert {row[2] for row in multi} == {"CVE-2024-0004", "CVE-2024-0005"}


def test_an_export_that_matches_nothing_succeeds_without_a_file(api, scanned):
    body = finished(api, export(api, scanned["project_id"], cveIds="CVE-1999-*"))
    assert body["status"] == "Success" and body["file_present"] is False
    assert body["status_text"] == "No vulnerabilities found or matched"
    assert api.get(f"/api/v2.0/export/cve/download/{body['id']}").status_code == 404


def test_users_see_and_download_only_their_own_exports(berth, api, scanned):
    developer = create_user(api, scanned["project"], role_id=2)
    with berth.client(auth=developer) as client:
        mine = export(client, scanned["project_id"], repositories="lib")
        assert finished(client, mine)["status"] == "Success"
        listed = client.get("/api/v2.0/export/cve/executions")
        assert listed.status_code == 200 and [item["id"] for item in listed.json()["items"]] == [mine]
        assert listed.json()["items"][0]["user_name"] == developer[0]
    admins = export(api, scanned["project_id"])
    assert mine not in [item["id"] for item in api.get("/api/v2.0/export/cve/executions").json()["items"]]
    # not even a system administrator reads or downloads another user's export (Harbor's owner check)
    assert api.get(f"/api/v2.0/export/cve/execution/{mine}").status_code == 403
    assert api.get(f"/api/v2.0/export/cve/download/{mine}").status_code == 403
    with berth.client(auth=developer) as client:
        assert client.get(f"/api/v2.0/export/cve/execution/{admins}").status_code == 403
        assert [(row[0], row[2]) for row in download(client, mine)] == [(f"{scanned['project']}/lib", "CVE-2024-0001")]


def test_export_is_refused_without_the_export_cve_permission(berth, api, scanned):
    guest = create_user(api, scanned["project"], role_id=3)
    outsider = create_user(api)
    body = {"projects": [scanned["project_id"]]}
    for user in (guest, outsider):
        with berth.client(auth=user) as client:
            refused = client.post("/api/v2.0/export/cve", headers=DATA_TYPE, json=body)
            assert refused.status_code == 403, refused.text
            assert refused.json()["errors"][0]["code"] == "FORBIDDEN"
            # no exports: Harbor leaves the empty list out (omitempty)
            assert client.get("/api/v2.0/export/cve/executions").json().get("items", []) == []
    admins = export(api, scanned["project_id"])
    with berth.client(auth=outsider) as client:
        assert client.get(f"/api/v2.0/export/cve/execution/{admins}").status_code == 403
    with berth.client(auth=None) as anonymous:
        assert anonymous.post("/api/v2.0/export/cve", headers=DATA_TYPE, json=body).status_code == 401
        assert anonymous.get("/api/v2.0/export/cve/executions").status_code == 401
        assert anonymous.get(f"/api/v2.0/export/cve/download/{admins}").status_code == 401


@pytest.mark.parametrize(("headers", "body", "message"), [
    ({"X-Scan-Data-Type": "application/json"}, {}, "Unsupported MIME type : application/json"),
    (DATA_TYPE, {"projects": []}, "only support export single project"),
    (DATA_TYPE, {"tags": "v1, v2"}, "please remove additional spaces"),
    (DATA_TYPE, {"repositories": "[app"}, "invalid pattern"),
])
def test_malformed_requests_are_refused_with_harbors_messages(api, scanned, headers, body, message):
    response = api.post("/api/v2.0/export/cve", headers=headers, json={"projects": [scanned["project_id"]], **body})
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"][0]["message"]


def test_unknown_exports_and_projects_are_not_found(api):
    assert api.get("/api/v2.0/export/cve/execution/987654321").status_code == 404
    assert api.get("/api/v2.0/export/cve/download/987654321").status_code == 404
    missing = api.post("/api/v2.0/export/cve", headers=DATA_TYPE, json={"projects": [987654321]})
    assert missing.status_code == 404


async def test_harborapi_client_drives_an_export(berth, scanned):
    """The PyPI harborapi client, written against Harbor, reads berth's answers with its models."""
    from harborapi import HarborAsyncClient
    from harborapi.models import ScanDataExportRequest

    client = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    # harborapi sends its cve_ids field under that name, not Harbor's cveIds: berth reads both
    job = await client.export_scan_data(ScanDataExportRequest(
        job_name="hapi", projects=[scanned["project_id"]], cve_ids="CVE-2024-0003"))
    deadline = time.monotonic() + 30
    execution = await client.get_scan_export(job.id)
    while execution.status == "Running" and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        execution = await client.get_scan_export(job.id)
    assert (execution.status, execution.file_present, execution.user_name) == ("Success", True, "admin")
    assert job.id in [item.id for item in (await client.get_scan_exports()).items or []]
    csv_file = await client.download_scan_export(job.id)
    lines = csv_file.content.decode().splitlines()
    assert lines[0] == HEADER and len(lines) == 2 and ",CVE-2024-0003,zlib," in lines[1]
