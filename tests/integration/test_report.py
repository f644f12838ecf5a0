"""`berth report compliance` against a real berth holding scanned, signed, unsigned and vulnerable
images (pushed and pulled with skopeo, scanned by berth's scanner against the OSV samples, signed with
`berth sign`) and a known pull history: every number of the report checked."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import BERTH, Server, start_berth

from .helpers import (
    OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, OS_RELEASE, Image, canonical_json, descriptor, file_layer,
    write_oci_layout,
)
from .test_scan_jobs import import_osv, wait_for
from .test_skopeo import copy
from .test_webhooks import FAST_JOBS

PROD, DEV = "comp-prod", "comp-dev"
PASSWORD = "report key"
DAY = 86400
#: skopeo pulls app:v1 twice, app:v2 and web:raw once; `berth sign` reads app:v2's manifest once
PULLS = 5
CRITICAL = "CVE-2020-36242"  # cryptography 3.2.1 (GHSA-rhm9-p9w5-fwm7; fixed in 3.3.2)


def image(marker: str, *, fixed: bool) -> Image:
    """An Alpine 3.16 image with mariadb and Python's cryptography: vulnerable versions, or fixed ones."""
    apk = (f"P:musl\nV:1.2.3-r0\nA:x86_64\no:musl\n\nP:mariadb\nV:{'10.6.8-r0' if fixed else '10.6.7-r0'}\n"
           "A:x86_64\no:mariadb\n\n").encode()
    metadata = f"Metadata-Version: 2.1\nName: cryptography\nVersion: {'3.3.2' if fixed else '3.2.1'}\n".encode()
    base, base_diff = file_layer({"etc/os-release": OS_RELEASE, "lib/apk/db/installed": apk})
    app, app_diff = file_layer({"usr/lib/python3.10/site-packages/cryptography-x.dist-info/METADATA": metadata,
                                "etc/hostname": marker.encode()})
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]}})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                               "layers": [descriptor(OCI_LAYER_GZIP, base), descriptor(OCI_LAYER_GZIP, app)]})
    return Image(manifest, OCI_MANIFEST, [config, base, app])


def berth_run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    return subprocess.run([BERTH, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
                          stdin=subprocess.DEVNULL, env={**full, "HOME": str(cwd or "/nonexistent"), **(env or {})})


class Registry:
    """The module's berth, what was put in it, and the report runs."""

    def __init__(self, server: Server, api: httpx.Client) -> None:
        self.server, self.api = server, api
        self.digests: dict[str, str] = {}

    def artifact(self, repository: str, reference: str, **params: str) -> dict[str, Any]:
        project, _, inner = repository.partition("/")
        response = self.api.get(f"/api/v2.0/projects/{project}/repositories/{inner}/artifacts/{reference}",
                                params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def env(self, **extra: str) -> dict[str, str]:
        user, password = self.server.auth
        return {"BERTH_URL": self.server.url, "BERTH_USERNAME": user, "BERTH_PASSWORD": password, **extra}

    def report(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The berth program (what the JSON numbers are checked on)."""
        return berth_run("report", "compliance", *args, env=self.env(**env))

    def report_here(self, *args: str, **env: str) -> Result:
        """The same command run in this process (no interpreter start: the other formats, bad input)."""
        from berth.cli.main import app

        return CliRunner().invoke(app, ["report", "compliance", *args], env=self.env(**env))


@pytest.fixture(scope="module")
def registry(tmp_path_factory, skopeo) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("report")
    server = start_berth(root / "data", FAST_JOBS, projects=())
    import_osv(server.data_dir)
    keys = root / "keys"
    keys.mkdir()
    assert berth_run("sign", "generate-key-pair", cwd=keys, env={"COSIGN_PASSWORD": PASSWORD}).returncode == 0
    with server.client() as api:
        reg = Registry(server, api)
        for name in (PROD, DEV):
            assert api.post("/api/v2.0/projects", json={"project_name": name}).status_code == 201
        # pushed one after the other: app:v1 (vulnerable), tool:v1 (vulnerable), app:v2 (fixed), then dev's
        pushes = [(f"{PROD}/app", "v1", False), (f"{PROD}/tool", "v1", False), (f"{PROD}/app", "v2", True),
                  (f"{DEV}/web", "scanned", False), (f"{DEV}/web", "raw", True)]
        for repository, tag, fixed in pushes:
            built = image(f"{repository}:{tag}", fixed=fixed)
            layout = write_oci_layout(root / "layouts" / repository / tag, {tag: built})
            copy(skopeo, f"oci:{layout}:{tag}", f"docker://{server.host}/{repository}:{tag}", root)
            reg.digests[f"{repository}:{tag}"] = built.digest
        for reference in (f"{PROD}/app:v1", f"{PROD}/tool:v1", f"{PROD}/app:v2", f"{DEV}/web:scanned"):
            repository, _, tag = reference.partition(":")
            path = f"/api/v2.0/projects/{repository.replace('/', '/repositories/', 1)}/artifacts/{tag}/scan"
            assert api.post(path).status_code == 202
        for reference in (f"{PROD}/app:v1", f"{PROD}/tool:v1", f"{PROD}/app:v2", f"{DEV}/web:scanned"):
            repository, _, tag = reference.partition(":")
            wait_for(lambda: (reg.artifact(repository, tag, with_scan_overview="true").get("scan_overview") or {})
                     and all(r.get("scan_status") == "Success"
                             for r in reg.artifact(repository, tag, with_scan_overview="true")["scan_overview"]
                             .values()), message=f"scan of {reference}")
        # app:v2 signed with berth sign; a trust policy in audit mode gives its signature a verdict
        signed = berth_run("sign", f"{server.host}/{PROD}/app:v2", "--key", str(keys / "cosign.key"),
                           "--creds", ":".join(server.auth), "--plain-http", cwd=keys,
                           env={"COSIGN_PASSWORD": PASSWORD})
        assert signed.returncode == 0, signed.stderr
        policy = {"mode": "audit", "cosign_public_keys": [(keys / "cosign.pub").read_text()]}
        assert api.put(f"/api/v2.0/projects/{PROD}/trust-policy", json=policy).status_code == 200
        # the known pull history: app:v1 twice, app:v2 once, web:raw once
        for reference in (f"{PROD}/app:v1", f"{PROD}/app:v1", f"{PROD}/app:v2", f"{DEV}/web:raw"):
            copy(skopeo, f"docker://{server.host}/{reference}", f"oci:{root / 'pulled'}:x", root)
        # then the policies: prod blocks critical findings (with the system allowlist), dev has its own list
        now = int(time.time())
        changed = api.put(f"/api/v2.0/projects/{PROD}",
                          json={"metadata": {"prevent_vul": "true", "severity": "critical"}})
        assert changed.status_code == 200, changed.text
        changed = api.put(f"/api/v2.0/projects/{DEV}", json={
            "metadata": {"reuse_sys_cve_allowlist": "false"},
            "cve_allowlist": {"items": [{"cve_id": "CVE-2099-0003"}], "expires_at": now + 20 * DAY}})
        assert changed.status_code == 200, changed.text
        allowlist = {"items": [{"cve_id": "CVE-2099-0002"}, {"cve_id": "CVE-2099-0001"}], "expires_at": now + 3 * DAY}
        assert api.put("/api/v2.0/system/CVEAllowlist", json=allowlist).status_code == 200
        for name, duration in (("comp-short", 5), ("comp-forever", -1)):
            created = api.post("/api/v2.0/robots", json={
                "name": name, "level": "system", "duration": duration, "permissions": [
                    {"kind": "project", "namespace": DEV, "access": [{"resource": "repository", "action": "pull"}]}]})
            assert created.status_code == 201, created.text
        yield reg
    server.stop()


@pytest.fixture(scope="module")
def report(registry: Registry) -> dict[str, Any]:
    def verdict_given() -> bool:
        accessories = registry.artifact(f"{PROD}/app", "v2", with_accessory="true").get("accessories") or []
        return any(a.get("verification") for a in accessories)

    def pulls_recorded() -> bool:  # the audit log is written after the pull, from the event
        listed = registry.api.get("/api/v2.0/audit-logs", params={"q": "operation=pull", "page_size": 50})
        return len(listed.json()) == PULLS

    wait_for(verdict_given, message="the signature's verdict")
    wait_for(pulls_recorded, message=f"{PULLS} pulls in the audit log")
    ran = registry.report("--format", "json", "--since", "1d")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def seconds_between(earlier: str, later: str) -> float:
    from datetime import datetime

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parse(later) - parse(earlier)).total_seconds()


def test_coverage_and_pass_rate_per_project(report):
    assert report["projects"][2] == {
        "project": "library", "artifacts": 0, "signed": 0, "signature_coverage": None, "verified": None,
        "images": 0, "scanned": 0, "scan_coverage": None, "policy": None, "passed": None, "pass_rate": None,
        "open_critical": 0, "open_high": 0}
    assert report["projects"][:2] == [
        {"project": DEV, "artifacts": 2, "signed": 0, "signature_coverage": 0.0, "verified": None, "images": 2,
         "scanned": 1, "scan_coverage": 0.5, "policy": None, "passed": None, "pass_rate": None,
         "open_critical": 1, "open_high": 0},
        # app:v1 and tool:v1 have a critical finding the system allowlist does not name; app:v2 passes
        {"project": PROD, "artifacts": 3, "signed": 1, "signature_coverage": 0.3333, "verified": 1, "images": 3,
         "scanned": 3, "scan_coverage": 1.0, "policy": "prevent critical and above", "passed": 1,
         "pass_rate": 0.3333, "open_critical": 1, "open_high": 0},
    ]
    assert report["totals"] == {
        "projects": 3, "artifacts": 5, "signed": 1, "signature_coverage": 0.2, "verified": 1, "images": 5,
        "scanned": 4, "scan_coverage": 0.8, "policy_projects": 1, "policy_scanned": 3, "policy_passed": 1,
        "pass_rate": 0.3333, "open_critical": 2, "open_high": 0}
    assert report["unavailable"] == {}


def test_open_findings_by_age_and_time_to_remediate(registry, report):
    assert report["open_findings_by_age"] == {"Critical": {"0-7d": 2, "8-30d": 0, "31-90d": 0, ">90d": 0},
                                              "High": {"0-7d": 0, "8-30d": 0, "31-90d": 0, ">90d": 0}}
    tool = registry.artifact(f"{PROD}/tool", "v1")["push_time"]
    web = registry.artifact(f"{DEV}/web", "scanned")["push_time"]
    assert [(f["repository"], f["id"], f["package"], f["severity"], f["first_seen"], f["age_days"])
            for f in report["open_findings"]] == [
        (f"{PROD}/tool", CRITICAL, "cryptography", "Critical", tool[:19] + "Z", 0),
        (f"{DEV}/web", CRITICAL, "cryptography", "Critical", web[:19] + "Z", 0)]
    # app:v2 dropped both of app:v1's findings: remediated at v2's push, v2 - v1 after they appeared
    v1, v2 = (registry.artifact(f"{PROD}/app", tag)["push_time"] for tag in ("v1", "v2"))
    elapsed = seconds_between(v1, v2)
    assert sorted((r["repository"], r["id"], r["severity"]) for r in report["remediations"]) == [
        (f"{PROD}/app", CRITICAL, "Critical"), (f"{PROD}/app", "CVE-2022-27449", "Unknown")]
    assert report["mttr"]["Critical"] == {"remediated": 1, "mean_days": round(elapsed / DAY, 2),
                                          "mean_seconds": round(elapsed, 3)}
    assert report["mttr"]["Unknown"]["remediated"] == 1
    assert report["mttr"]["Unknown"]["mean_seconds"] == round(elapsed, 3)
    assert all(report["mttr"][s] == {"remediated": 0, "mean_days": None, "mean_seconds": None}
               for s in ("High", "Medium", "Low", "Negligible"))


def test_expiring_allowlist_entries_and_robot_credentials(report):
    # the system list expires in 3 days (both entries listed); dev's own list in 20 days (not listed)
    assert [(a["scope"], a["cve_id"], a["days_left"]) for a in report["allowlists_expiring"]] == [
        ("system", "CVE-2099-0001", 3.0), ("system", "CVE-2099-0002", 3.0)]
    robots = report["robots"]
    assert robots["total"] == 2
    assert robots["by_age"] == {"0-30d": 2, "31-90d": 0, "91-365d": 0, ">365d": 0}
    assert robots["by_expiry"] == {"expired": 0, "within_7d": 1, "within_30d": 0, "later": 0, "never": 1}
    assert sorted((r["name"], r["expiry"], r["expires_at"] is None) for r in robots["robots"]) == [
        ("robot$comp-forever", "never", True), ("robot$comp-short", "within_7d", False)]


def test_unsigned_and_critical_artifacts_pulled_in_the_period(registry, report):
    pulls = report["pulls"]
    assert {k: v for k, v in pulls.items() if k != "artifacts"} == {
        "pulls": PULLS, "artifact_pulls": PULLS, "accessory_pulls": 0, "unresolved_pulls": 0, "unsigned_pulls": 3,
        "critical_pulls": 2}
    assert [(a["repository"], a["digest"], a["tags"], a["pulls"], a["signed"], a["critical"])
            for a in pulls["artifacts"]] == [
        (f"{PROD}/app", registry.digests[f"{PROD}/app:v1"], ["v1"], 2, False, 1),
        (f"{DEV}/web", registry.digests[f"{DEV}/web:raw"], ["raw"], 1, False, None)]


def test_markdown_html_and_csv_show_the_same_numbers(registry, report, tmp_path):
    written = tmp_path / "report.md"
    ran = registry.report_here("--format", "md", "--since", "1d", "--output", str(written))
    assert ran.exit_code == 0 and ran.stdout == "", ran.output
    markdown = written.read_text()
    assert markdown.startswith("# Compliance report\n")
    assert ("| comp-prod | 3 | 1 | 33.3% | 1 | 3 | 3 | 100.0% | prevent critical and above | 1 | 33.3% | 1 | 0 |"
            in markdown.splitlines())
    assert "| Signature coverage | 1 of 5 (20.0%) |" in markdown.splitlines()

    html = registry.report_here("--format", "html", "--since", "1d")
    assert html.exit_code == 0, html.output
    page = html.stdout
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    # self-contained: no script, no stylesheet or image fetched from anywhere
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page)
    assert "<td>comp-prod</td><td>3</td><td>1</td><td>33.3%</td>" in page

    rows = registry.report_here("--format", "csv", "--since", "1d")
    assert rows.exit_code == 0, rows.output
    parsed = list(csv.DictReader(io.StringIO(rows.stdout)))
    assert [(r["project"], r["artifacts"], r["signed"], r["scan_coverage"], r["pass_rate"], r["open_critical"])
            for r in parsed] == [(DEV, "2", "0", "0.5", "", "1"), (PROD, "3", "1", "1.0", "0.3333", "1"),
                                 ("library", "0", "0", "", "", "0")]


def test_what_a_user_may_not_read_is_marked_not_available(registry):
    created = registry.api.post("/api/v2.0/users", json={
        "username": "auditor", "email": "auditor@example.org", "realname": "Auditor", "password": "Auditor-pw1"})
    assert created.status_code == 201, created.text
    member = registry.api.post(f"/api/v2.0/projects/{PROD}/members",
                               json={"role_id": 3, "member_user": {"username": "auditor"}})
    assert member.status_code == 201, member.text
    ran = registry.report_here("--format", "json", BERTH_USERNAME="auditor", BERTH_PASSWORD="Auditor-pw1")
    assert ran.exit_code == 0, ran.output
    seen = json.loads(ran.stdout)
    assert [p["project"] for p in seen["projects"]] == [PROD, "library"]  # library is public
    assert seen["robots"] is None and seen["unavailable"]["robots"].startswith("the registry answered 403")


def test_bad_input_is_one_line(registry):
    bad_period = registry.report_here("--since", "soon")
    assert bad_period.exit_code == 2 and "invalid period 'soon'" in bad_period.stderr
    refused = registry.report_here(BERTH_PASSWORD="wrong")
    assert refused.exit_code == 1 and refused.stderr.startswith("berth: ") and "401" in refused.stderr, refused.output
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.exception is None or isinstance(
        refused.exception, SystemExit)
    unwritable = registry.report_here("--output", "/nonexistent/report.md")
    assert unwritable.exit_code == 1 and unwritable.stderr.startswith("berth: cannot write /nonexistent/report.md")
