"""The security side of the web UI in a real browser: an image with a known vulnerable package is
scanned through the list's Scan button (the built-in scanner, with the OSV samples imported by the real
`berth vulndb import`), its severity bar, signature verdict and labels show in the list, its
vulnerability table filters and sorts on the server (filters in the address), its SBOM is generated
and downloaded, labels are added and removed, it is copied and retagged; the project's and the
registry's security overviews draw their trend as SVG. A guest sees none of the controls, and the
server refuses their forms anyway."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Server, start_berth

from .helpers import V2, tiny_alpine_image
from .test_content_trust import cosign_signature, public_pem, put_policy, sig_tag
from .test_scan_jobs import CVE, import_osv, wait_for
from .test_ui import log_in
from .test_webhooks import FAST_JOBS
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PASSWORD = "Ui-sec-pass1"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ui-security") / "data"
    berth = start_berth(data_dir, FAST_JOBS, projects=())
    import_osv(data_dir)
    yield berth
    berth.stop()


@pytest.fixture(scope="module")
def world(server: Server) -> dict[str, str]:
    """A private project with a vulnerable image signed with cosign by a key its trust policy trusts
    (audit mode), a project label, and a user who is a guest there."""
    project, guest = f"sec-{uuid.uuid4().hex[:6]}", f"guest-{uuid.uuid4().hex[:6]}"
    image, key = tiny_alpine_image(project), ec.generate_private_key(ec.SECP256R1())
    with server.client() as api:
        for name in (project, f"{project}-copies"):
            assert api.post("/api/v2.0/projects", json={"project_name": name}).status_code == 201
        project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        assert api.post("/api/v2.0/users", json={"username": guest, "email": f"{guest}@example.test",
                                                 "realname": guest, "password": PASSWORD}).status_code == 201
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 3, "member_user": {"username": guest}}).status_code == 201
        assert api.post("/api/v2.0/labels", json={"name": "reviewed", "color": "#2e7d32", "scope": "p",
                                                  "project_id": project_id}).status_code == 201
        assert put_policy(api, project, {"mode": "audit", "cosign_public_keys": [public_pem(key)]}).status_code == 200
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(f"{project}/alpine", image, "3.16")
        v2.push_image(f"{project}/alpine", cosign_signature(image, f"{project}/alpine", key), sig_tag(image))
    return {"project": project, "guest": guest, "digest": image.digest}


def test_scan_from_the_list_then_the_vulnerability_table_sbom_labels_and_copy(server, browser, world, tmp_path):
    project, digest = world["project"], world["digest"]
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page
    listing = f"/projects/{project}/repositories/alpine"
    admin.arrive(listing, "admin", server.admin_password)
    row = page.get_by_role("row", name=re.compile("3.16"))
    assert "Not scanned" in row.inner_text() and "Verified" in row.inner_text()  # the trust service's verdict

    row.get_by_role("button", name=f"Scan {digest[:19]}").click()
    page.wait_for_url(re.compile(re.escape(listing) + r"\?page=1$"))

    def scanned() -> bool:
        page.reload()
        return page.locator("svg.sevbar").count() > 0
    wait_for(scanned, message="the scan's severity bar")
    bar = page.locator("svg.sevbar").first
    assert bar.get_attribute("aria-label") == "Vulnerabilities: 1 critical, 1 unknown"
    assert bar.locator("rect").count() >= 2  # a segment per severity found
    admin.check("artifacts-scanned")

    page.get_by_role("link", name=digest[:19]).click()
    page.wait_for_url(re.compile(rf"/artifacts/{digest}$"))
    table = page.locator("table.vulnerabilities")
    assert table.get_by_role("row", name=re.compile(CVE)).count() == 1
    everything = table.locator("tbody tr").count()
    assert everything == 2  # cryptography's critical CVE and mariadb's (of unknown severity here)
    admin.check("artifact-vulnerabilities")

    # filters go to the server and stay in the address (a permalink)
    page.get_by_label("Severity").select_option("Critical")
    page.get_by_label("Package").fill("crypto")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"severity=Critical"))
    assert parse_qs(urlsplit(page.url).query) == {"severity": ["Critical"], "package": ["crypto"]}
    rows = table.locator("tbody tr")
    assert rows.count() == 1 and "CVE-2020-36242" in rows.first.inner_text()
    assert rows.first.get_by_role("link", name=re.compile("nvd.nist.gov")).get_attribute("href") == \
        "https://nvd.nist.gov/vuln/detail/CVE-2020-36242"  # the CVE's links
    page.get_by_label("Fix").select_option("no")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"fixable=no"))
    page.get_by_text("0 vulnerabilities match the filters").wait_for()  # both have a fixed version
    page.goto(f"/projects/{project}/repositories/alpine/artifacts/{digest}?sort=package")
    packages = [table.locator("tbody tr").nth(i).locator("td").nth(2).inner_text()
                for i in range(table.locator("tbody tr").count())]
    assert packages == sorted(packages) and len(packages) == everything
    assert page.get_by_role("columnheader", name="Package").get_attribute("aria-sort") == "ascending"

    # the SBOM: generated through the button, then downloaded (the stored accessory's document)
    page.get_by_role("button", name="Generate SBOM").click()
    page.wait_for_url(re.compile(rf"/artifacts/{digest}$"))

    def sbom_ready() -> bool:
        page.reload()
        return page.get_by_role("link", name="Download SBOM").count() > 0
    wait_for(sbom_ready, message="the SBOM accessory")
    assert page.get_by_role("cell", name="SBOM", exact=True).is_visible()  # listed among the accessories
    with page.expect_download() as download:
        page.get_by_role("link", name="Download SBOM").click()
    document = json.loads(download.value.path().read_bytes())
    assert document["spdxVersion"] == "SPDX-2.3" and "mariadb" in {p["name"] for p in document["packages"]}
    assert download.value.suggested_filename.endswith(".spdx.json")

    # a label added and removed
    page.get_by_label("Add a label").select_option(label="reviewed")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("button", name="Remove the label reviewed").wait_for()
    admin.check("artifact-labelled")
    page.goto(listing)
    assert "reviewed" in page.get_by_role("row", name=re.compile("3.16")).inner_text()
    page.go_back()
    page.get_by_role("button", name="Remove the label reviewed").click()
    page.get_by_text("No labels.").wait_for()

    # copy with a new tag into another project
    page.get_by_label("Target repository (project/repository)").fill(f"{project}-copies/alpine")
    page.get_by_label("New tag (optional in another repository)").fill("kept")
    page.get_by_role("button", name="Copy artifact").click()
    page.wait_for_url(re.compile(rf"/projects/{project}-copies/repositories/alpine/artifacts/{digest}$"))
    facts = page.locator(".facts").inner_text()
    assert "kept" in facts and "Signed" in facts  # its cosign signature came along, still its accessory

    # the project's security overview: the trend as the server's SVG, the common CVEs, coverage
    page.goto(f"/projects/{project}")
    page.get_by_role("link", name="Security", exact=True).last.click()
    page.wait_for_url(re.compile(rf"/projects/{project}/security$"))
    trend = page.locator("figure.trend svg")
    assert trend.get_attribute("role") == "img" and trend.locator("polyline").count() == 3
    assert trend.locator("circle").count() >= 1  # today's snapshot
    assert page.get_by_role("row", name=re.compile(CVE)).count() == 1
    coverage = page.locator("article", has_text="Signature coverage").inner_text()
    assert "1 signed · 0 unsigned" in coverage, coverage
    admin.check("project-security")
    page.goto("/security")
    assert page.locator("figure.trend svg polyline").count() == 3
    coverage = page.locator("article", has_text="Signature coverage").inner_text()
    assert "2 signed · 0 unsigned" in coverage, coverage  # the image and its copy
    admin.check("system-security")
    admin.close()


def test_a_guest_sees_no_security_controls_and_the_server_refuses_them(server, browser, world, tmp_path):
    project, digest = world["project"], world["digest"]
    guest = Visitor(browser, server, tmp_path, "guest", scheme="dark")
    page = guest.page
    guest.arrive(f"/projects/{project}/repositories/alpine", world["guest"], PASSWORD)
    assert page.get_by_role("button", name=re.compile("Scan")).count() == 0
    guest.check("artifacts")
    page.get_by_role("link", name=digest[:19]).click()
    page.wait_for_url(re.compile(rf"/artifacts/{digest}$"))
    for control in ("Scan", "Generate SBOM", "Add", "Copy artifact"):
        assert page.get_by_role("button", name=control, exact=True).count() == 0
    assert page.get_by_label("Add a label").count() == 0
    guest.check("artifact")
    page.goto(f"/projects/{project}/security")  # a guest may read scans: the overview is theirs too
    guest.check("security")
    guest.close()

    base = f"/projects/{project}/repositories/alpine/artifacts/{digest}"
    with httpx.Client(base_url=server.url) as client:
        log_in(client, world["guest"], PASSWORD)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(base).text).group(1)  # type: ignore[union-attr]
        for action, form in (("/scan", {}), ("/scan", {"scan_type": "sbom"}), ("/labels", {"label_id": "1"}),
                             ("/labels/1/remove", {}), ("/copy", {"target": f"{project}/other", "tag": "x"})):
            refused = client.post(base + action, data={**form, "csrftoken": token})
            assert refused.status_code == 403, (action, refused.status_code)
            assert "does not allow" in refused.text and "Traceback" not in refused.text
        assert client.get("/security").status_code == 403  # the registry's overview: system admins only
        assert client.post(base + "/scan", data={}).status_code == 403  # and no token: refused before anything
    with server.client() as api:
        tags = api.get(f"/api/v2.0/projects/{project}/repositories/other/artifacts").status_code
        assert tags == 404


def test_the_copy_and_label_forms_show_the_services_refusals_next_to_their_fields(server, world):
    base = f"/projects/{world['project']}/repositories/alpine/artifacts/{world['digest']}"
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(base).text).group(1)  # type: ignore[union-attr]
        bad = client.post(base + "/copy", data={"target": "No Such/Thing", "tag": "x", "csrftoken": token})
        assert bad.status_code == 400 and 'aria-describedby="copy-target-error"' in bad.text
        assert "project/repository, in lower case" in bad.text and 'value="No Such/Thing"' in bad.text
        missing = client.post(base + "/copy", data={"target": "no-such-project/x", "csrftoken": token})
        assert missing.status_code == 404 and "project no-such-project not found" in missing.text
        label = client.post(base + "/labels", data={"label_id": "999999", "csrftoken": token})
        assert label.status_code == 404 and 'id="label_id-error"' in label.text
        assert "Traceback" not in bad.text + missing.text + label.text
        assert client.get(base + "?severity=Bogus&fixable=maybe&sort=nonsense").status_code == 200
        # htmx's pager asks for the table alone
        fragment = client.get(base + "?severity=Critical&page=1", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<section id="vulnerabilities"') and "CVE-2020-36242" in fragment.text
        assert client.get(base + "/sbom").headers["content-disposition"].startswith("attachment;")
        assert client.get(base + "/scan").status_code == 404 
        assert client.post(base + "/sbom", data={"csrftoken": token}).status_code == 405
