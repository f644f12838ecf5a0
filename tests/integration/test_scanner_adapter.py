"""`berth scanner serve` as a real process, driven exactly as Harbor drives a scanner adapter: 1.0
Accept headers, a Bearer credential, no redirect following, polling by Refresh-After; every answer
checked against the pluggable scanner API's v1.2 schemas. The adapter shares the registry's data folder."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.scan.client import (
    AdapterAuth,
    ReportTimeout,
    ScanFailed,
    ScannerClient,
    ScannerUnauthorized,
    ScanRejected,
    ScanUnknown,
)
from berth.scan.mimes import (
    CYCLONEDX_JSON,
    ERROR,
    METADATA_1_0,
    SBOM_REPORT,
    SCAN_RESPONSE,
    SPDX_JSON,
    VULNERABILITY_1_0,
    VULNERABILITY_1_1,
)
from tests.conftest import BERTH, Server, free_port, start_adapter, start_berth, wait_http
from tests.scanner_api import example, validate

from .helpers import OCI_MANIFEST, V2, canonical_json, tiny_alpine_image, unique

API_KEY = "harbor-registration-secret"
OSV_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "osv"
HARBOR_HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[Server]:
    """A berth of this module's own, SQLite: the adapter shares its data folder."""
    server = start_berth(tmp_path_factory.mktemp("scanner") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def adapter(registry: Server) -> Iterator[Server]:
    """The adapter on the registry's own data folder and database, with a credential and 1 s polls."""
    server = start_adapter(registry.data_dir, API_KEY)
    yield server
    server.stop()


def harbor(adapter: Server, **kwargs: Any) -> ScannerClient:
    return ScannerClient(adapter.url, AdapterAuth("Bearer", API_KEY), **kwargs)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def pull_token(server: Server, repository: str) -> str:
    """What Harbor puts in registry.authorization: a pull-scoped token from the registry's token service."""
    response = httpx.get(f"{server.url}/service/token", auth=server.auth,
                         params={"service": "harbor-registry", "scope": f"repository:{repository}:pull"})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_adapter_refuses_to_start_without_a_credential(tmp_path):
    result = subprocess.run([BERTH, "scanner", "serve", "--data-dir", str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs a credential" in result.stderr and "--insecure-no-auth" in result.stderr


def test_adapter_told_it_is_on_a_trusted_network_serves_without_a_credential(tmp_path):
    port = free_port()
    process = subprocess.Popen([BERTH, "scanner", "serve", "--insecure-no-auth", "--port", str(port),
                                "--data-dir", str(tmp_path / "data")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/probe/ready", process)
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/metadata")
        assert response.status_code == 200
        validate("ScannerAdapterMetadata", response.json())
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "NO credential check" in output


def test_metadata_as_harbor_fetches_it(adapter):
    response = httpx.get(f"{adapter.url}/api/v1/metadata", headers={**HARBOR_HEADERS, "Accept": METADATA_1_0})
    assert response.status_code == 200 and response.headers["content-type"] == METADATA_1_0
    metadata = response.json()
    validate("ScannerAdapterMetadata", metadata)
    assert metadata == run(harbor(adapter).metadata())
    capabilities = {c["type"]: c for c in metadata["capabilities"]}
    assert set(capabilities["vulnerability"]["produces_mime_types"]) == {VULNERABILITY_1_1, VULNERABILITY_1_0}
    assert capabilities["sbom"]["produces_mime_types"] == [SBOM_REPORT]
    assert capabilities["sbom"]["additional_attributes"] == {"sbom_media_types": [SPDX_JSON, CYCLONEDX_JSON]}
    assert metadata["properties"]["harbor.scanner-adapter/scanner-type"] == "os-package-vulnerability"
    # no vulnerability database imported in this data folder: no update time to tell
    assert "harbor.scanner-adapter/vulnerability-database-updated-at" not in metadata["properties"]


@pytest.mark.parametrize("headers, status", [
    ({"Authorization": f"Bearer {API_KEY}"}, 200),
    (AdapterAuth("Basic", API_KEY).headers(), 200),  # base64 of the credential, as Harbor sends it
    ({"Authorization": f"Basic {API_KEY}"}, 401),
    ({"X-ScannerAdapter-API-Key": API_KEY}, 200),
    ({}, 401),
    ({"Authorization": "Bearer not-the-key"}, 401),
    ({"X-ScannerAdapter-API-Key": API_KEY[:-1]}, 401),
])
def test_each_of_harbors_credential_forms_is_accepted(adapter, headers, status):
    response = httpx.get(f"{adapter.url}/api/v1/metadata", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["content-type"] == ERROR
        validate("ErrorResponse", response.json())


def _request(**changes: Any) -> dict[str, Any]:
    doc = example("scan-request-bearer.json")
    for path, value in changes.items():
        section, _, key = path.partition("__")
        if key:
            doc[section][key] = value
        else:
            doc[section] = value
    return doc


@pytest.mark.parametrize("body, status", [
    (b"{", 400),
    (b'{"registry": [], "artifact": {}}', 400),
    (_request(artifact__digest="sha256:short"), 422),
    (_request(registry__url="/relative"), 422),
    (_request(enabled_capabilities=[{"type": "vulnerability",
                                     "produces_mime_types": ["application/vnd.scanner.adapter.vuln.report.raw"]}]), 501),
])
def test_scan_requests_that_are_wrong_are_refused_with_the_specs_status(adapter, body, status):
    content = body if isinstance(body, bytes) else canonical_json(body)
    response = httpx.post(f"{adapter.url}/api/v1/scan", content=content, headers=HARBOR_HEADERS)
    assert response.status_code == status and response.headers["content-type"] == ERROR
    validate("ErrorResponse", response.json())
    if not isinstance(body, bytes):
        with pytest.raises(ScanRejected) as rejected:
            run(harbor(adapter).submit(body))
        assert rejected.value.status == status and rejected.value.message == response.json()["error"]["message"]


def test_report_of_an_unknown_scan_is_404(adapter):
    response = httpx.get(f"{adapter.url}/api/v1/scan/nope/report", headers={**HARBOR_HEADERS, "Accept": VULNERABILITY_1_0})
    assert response.status_code == 404
    validate("ErrorResponse", response.json())
    with pytest.raises(ScanUnknown):
        run(harbor(adapter).report("nope", VULNERABILITY_1_0))


def test_client_with_a_wrong_credential_gets_its_own_error(adapter):
    async def metadata() -> None:
        async with ScannerClient(adapter.url, AdapterAuth("X-ScannerAdapter-API-Key", "wrong")) as client:
            await client.metadata()

    with pytest.raises(ScannerUnauthorized) as refused:
        run(metadata())
    assert refused.value.status == 401 and "wrong" not in repr(AdapterAuth("Basic", "wrong"))


def test_failed_scan_is_polled_by_refresh_after_until_500_and_the_credential_is_kept_nowhere(adapter, registry):
    repository = f"artifacts/{unique('gone')}"
    token = pull_token(registry, repository)
    request = {"registry": {"url": f"http://127.0.0.1:{free_port()}", "authorization": f"Bearer {token}"},
               "artifact": {"repository": repository, "digest": "sha256:" + "e3" * 32,
                            "mime_type": OCI_MANIFEST}}
    validate("ScanRequest", request)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async def scan() -> tuple[str, ScanFailed]:
        async with harbor(adapter, sleep=record) as client:
            scan_id = await client.submit(request)
            with pytest.raises(ScanFailed) as failed:
                await client.report(scan_id, VULNERABILITY_1_0, deadline_seconds=120)
            return scan_id, failed.value

    scan_id, failure = run(scan())
    assert failure.status == 500 and failure.message
    assert waits and set(waits) == {1}  # the scan process takes longer to start than a poll: 302s came first
    # the same answer, raw: Harbor's status and body
    response = httpx.get(f"{adapter.url}/api/v1/scan/{scan_id}/report", headers={**HARBOR_HEADERS,
                                                                                "Accept": VULNERABILITY_1_0})
    assert response.status_code == 500 and response.headers["content-type"] == ERROR
    validate("ErrorResponse", response.json())
    assert token not in _database_dump(adapter.data_dir / "berth.db")
    assert token not in adapter.log() and token not in registry.log()
    assert token.split(".")[1] not in adapter.log()  # not even the JWT's payload


def test_accepted_scan_answers_202_with_an_id_at_once(adapter):
    response = httpx.post(f"{adapter.url}/api/v1/scan", content=canonical_json(_request()),
                          headers={**HARBOR_HEADERS, "Content-Type": "application/vnd.scanner.adapter.scan.request"
                                   "+json; version=1.0", "Accept": SCAN_RESPONSE}, timeout=5)
    assert response.status_code == 202 and response.headers["content-type"] == SCAN_RESPONSE
    validate("ScanResponse", response.json())
    first = httpx.get(f"{adapter.url}/api/v1/scan/{response.json()['id']}/report", headers=HARBOR_HEADERS,
                      follow_redirects=False)
    assert first.status_code in (302, 500)  # not ready yet, or already failed (harbor-core:8080 is no registry here)
    if first.status_code == 302:
        assert first.headers["Refresh-After"] == "1"


def _database_dump(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


# -- the full scan ------------------------------------------------------------------------------------------

def test_image_pushed_to_berth_is_scanned_over_the_registry_api(adapter, registry):
    repository = f"artifacts/{unique('alpine')}"
    image = tiny_alpine_image()
    with V2(registry.url, auth=registry.auth) as v2:
        v2.push_image(repository, image, "3.16")
    base_layer = image.doc["layers"][0]["digest"]
    artifact = {"repository": repository, "digest": image.digest, "tag": "3.16", "mime_type": OCI_MANIFEST}
    source = {"url": registry.url, "authorization": f"Bearer {pull_token(registry, repository)}"}
    sbom_request = {"registry": source, "artifact": artifact, "enabled_capabilities": [
        {"type": "sbom", "produces_mime_types": [SBOM_REPORT],
         "parameters": {"sbom_media_types": [SPDX_JSON, CYCLONEDX_JSON]}}]}
    vulnerability_request = {"registry": source, "artifact": artifact, "enabled_capabilities": [
        {"type": "vulnerability", "produces_mime_types": [VULNERABILITY_1_1]}]}

    async def scan() -> tuple[Any, Any, ScanFailed]:
        async with harbor(adapter) as client:
            sbom_id = await client.submit(sbom_request)
            spdx = await client.report(sbom_id, SBOM_REPORT, SPDX_JSON, deadline_seconds=300)
            cyclonedx = await client.report(sbom_id, SBOM_REPORT, CYCLONEDX_JSON, deadline_seconds=300)
            vulnerability_id = await client.submit(vulnerability_request)
            with pytest.raises(ScanFailed) as failed:
                await client.report(vulnerability_id, VULNERABILITY_1_0, deadline_seconds=300)
            return spdx, cyclonedx, failed.value

    try:
        spdx, cyclonedx, no_database = run(scan())
    except ReportTimeout:
        pytest.fail(f"the scan did not finish:\n{adapter.log()}")
    for report, media_type in ((spdx, SPDX_JSON), (cyclonedx, CYCLONEDX_JSON)):
        assert report.media_type == SBOM_REPORT
        doc = report.json()
        validate("HarborSbomReport", doc)
        assert doc["media_type"] == media_type and doc["artifact"] == artifact
    spdx_names = {p["name"]: p for p in spdx.json()["sbom"]["packages"]}
    assert {"alpine", "musl", "mariadb", "cryptography"} <= set(spdx_names)
    assert spdx_names["mariadb"]["versionInfo"] == "10.6.7-r0"
    components = {c["name"]: c for c in cyclonedx.json()["sbom"]["components"]}
    assert components["cryptography"]["version"] == "3.2.1"
    layers = {p["name"]: p["value"] for p in components["mariadb"].get("properties", [])}
    assert layers.get("aquasecurity:trivy:LayerDigest") == base_layer
    # vulnerabilities need a database, and none was imported into this data folder
    assert no_database.status == 500 and "vulnerability database" in no_database.message

    # `berth vulndb import` into the same data folder: the next scan finds what OSV says
    imported = subprocess.run(
        [BERTH, "vulndb", "import", str(OSV_SAMPLES / "alpine"), str(OSV_SAMPLES / "pypi"),
         "--data-dir", str(registry.data_dir)], capture_output=True, text=True, timeout=120,
    )
    assert imported.returncode == 0, imported.stderr

    async def scan_again() -> Any:
        async with harbor(adapter) as client:
            scan_id = await client.submit(vulnerability_request)
            return await client.report(scan_id, VULNERABILITY_1_1, deadline_seconds=300)

    report = run(scan_again()).json()
    validate("HarborVulnerabilityReport", report)
    found = {(item["package"], item["id"]): item for item in report["vulnerabilities"]}
    mariadb = found[("mariadb", "CVE-2022-27449")]
    assert mariadb["version"] == "10.6.7-r0" and mariadb["fix_version"] == "10.6.8-r0"
    assert mariadb["layer"]["digest"] == base_layer
    assert any(package == "cryptography" for package, _ in found)
    assert not any(package == "musl" for package, _ in found)
    assert report["severity"] in ("Low", "Medium", "High", "Critical")
