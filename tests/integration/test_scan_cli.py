"""`berth scan` as the real program: an OCI layout built here and the same image pushed to berth by skopeo,
matched against OSV samples loaded by `berth vulndb import`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BERTH
from tests.scanimages import LAYER_GZIP, LayerBlob, Layout, gzip_layer, tar_of
from tests.unit.scan.osv_fixtures import FIXTURES

from .helpers import unique
from .test_skopeo import copy

DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DPKG_STATUS = (
    # libexample1 is built from libexample: DEBIAN-CVE-2099-0001 (osv-synthetic) is keyed by the source
    "Package: libexample1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.4-2\nSource: libexample\n\n"
    "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n"
)
APP_FILES = {
    # PYSEC-2021-63 / GHSA-rhm9-p9w5-fwm7 (CVE-2020-36242) and GHSA-35jh-r3h4-6jhm (CVE-2021-23337)
    "usr/lib/python3/dist-packages/cryptography-3.1.1.dist-info/METADATA":
        "Metadata-Version: 2.1\nName: cryptography\nVersion: 3.1.1\n",
    "app/node_modules/lodash/package.json": '{"name": "lodash", "version": "4.17.20"}',
}
EXPECTED = {  # id -> (package, installed, fixed, severity)
    "CVE-2020-36242": ("cryptography", "3.1.1", "3.3.2", "Critical"),
    "CVE-2021-23337": ("lodash", "4.17.20", "4.17.21", "High"),
    "CVE-2099-0001": ("libexample1", "1.4-2", "1.4-2+deb12u1", "Medium"),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A berth data folder holding the OSV samples, loaded by the real `berth vulndb import`."""
    data = tmp_path_factory.mktemp("scan-cli") / "data"
    imported = subprocess.run(
        [BERTH, "vulndb", "import", str(FIXTURES / "osv"), str(FIXTURES / "osv-synthetic"), "--data-dir", str(data)],
        capture_output=True, text=True, timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    return data


@pytest.fixture
def layout(tmp_path) -> tuple[Layout, dict]:
    """An image: Debian 12 with dpkg packages, then a layer of Python and npm packages."""
    layout = Layout(tmp_path / "layout")
    base = gzip_layer(tar_of({"etc/os-release": DEBIAN_12, "var/lib/dpkg/status": DPKG_STATUS}))
    app = gzip_layer(tar_of(APP_FILES))
    image = layout.image([base, app])
    layout.tag(image, "v1")
    return layout, image


def berth_scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BERTH, "scan", *args], capture_output=True, text=True, timeout=120)


def layer_digests(layout: Layout, image: dict) -> list[str]:
    manifest = json.loads(layout.blobs[image["digest"]])
    return [layer["digest"] for layer in manifest["layers"]]


def test_table_lists_each_finding_with_the_layer_that_added_the_package(data_dir, layout) -> None:
    built, image = layout
    base, app = layer_digests(built, image)
    result = berth_scan(f"oci:{built.root}:v1", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[2].strip(): [cell.strip() for cell in line.split("│")[1:-1]]
            for line in result.stdout.splitlines() if line.startswith("│")}
    assert set(rows) == set(EXPECTED)
    for vuln_id, (package, installed, fixed, severity) in EXPECTED.items():
        layer = base if package == "libexample1" else app
        assert rows[vuln_id] == [severity, vuln_id, package, installed, fixed, layer[:19]]
    assert f"{image['digest']} (linux/amd64, debian 12): 4 packages, 3 vulnerabilities" in result.stdout
    assert result.stderr == ""


def test_json_is_harbors_vulnerability_report(data_dir, layout) -> None:
    built, image = layout
    _, app = layer_digests(built, image)
    result = berth_scan(f"oci:{built.root}:v1", "--format", "json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["artifact"] == {"repository": str(built.root.resolve()), "digest": image["digest"], "tag": "v1"}
    assert report["scanner"]["name"] == "berth" and report["severity"] == "Critical"
    items = {item["id"]: item for item in report["vulnerabilities"]}
    assert {i: (v["package"], v["version"], v["fix_version"], v["severity"]) for i, v in items.items()} == EXPECTED
    assert items["CVE-2021-23337"]["layer"]["digest"] == app
    assert items["CVE-2021-23337"]["vendor_attributes"]["osv_id"] == "GHSA-35jh-r3h4-6jhm"


def test_exit_code_counts_only_findings_at_or_above_the_severity(data_dir, layout) -> None:
    built, _ = layout
    image = f"oci:{built.root}:v1"
    critical = berth_scan(image, "--severity", "critical", "--exit-code", "5", "-f", "json", "--data-dir", str(data_dir))
    assert critical.returncode == 5
    assert [v["id"] for v in json.loads(critical.stdout)["vulnerabilities"]] == ["CVE-2020-36242"]
    # no finding is reported without the flag; with it, only when one is at or above the threshold
    assert berth_scan(image, "--severity", "critical", "--data-dir", str(data_dir)).returncode == 0
    medium = berth_scan(image, "--severity", "medium", "--exit-code", "5", "--data-dir", str(data_dir))
    assert medium.returncode == 5 and "CVE-2099-0001" in medium.stdout


def test_a_clean_image_passes_the_gate(data_dir, tmp_path) -> None:
    layout = Layout(tmp_path / "clean")
    layout.tag(layout.image([gzip_layer(tar_of({"etc/os-release": DEBIAN_12,
                                                "var/lib/dpkg/status": DPKG_STATUS.split("\n\n")[1]}))]), "v1")
    result = berth_scan(f"oci:{layout.root}:v1", "--exit-code", "1", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "1 packages, 0 vulnerabilities" in result.stdout


def test_sboms_are_written_without_a_vulnerability_database(layout, tmp_path) -> None:
    built, image = layout
    empty = tmp_path / "no-data"
    spdx = berth_scan(f"oci:{built.root}:v1", "--format", "spdx", "--data-dir", str(empty))
    assert spdx.returncode == 0, spdx.stderr
    document = json.loads(spdx.stdout)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert {p["name"] for p in document["packages"]} >= {"libexample1", "bash", "cryptography", "lodash"}
    cyclonedx = berth_scan(f"oci:{built.root}:v1", "--format", "cyclonedx", "--data-dir", str(empty))
    assert cyclonedx.returncode == 0, cyclonedx.stderr
    bom = json.loads(cyclonedx.stdout)
    assert bom["specVersion"] == "1.6" and bom["metadata"]["component"]["version"] == image["digest"]
    assert not empty.exists(), "an SBOM needs no database: none is created"


def test_what_the_walk_skipped_is_said_on_stderr(data_dir, tmp_path) -> None:
    layout = Layout(tmp_path / "damaged")
    good = gzip_layer(tar_of({"etc/os-release": DEBIAN_12, "var/lib/dpkg/status": DPKG_STATUS}))
    broken = LayerBlob(b"this is not gzip at all", tar_of({}), LAYER_GZIP)
    image = layout.image([good, broken])
    layout.tag(image, "v1")
    result = berth_scan(f"oci:{layout.root}:v1", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "CVE-2099-0001" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped: layer 2 (")]
    assert len(skipped) == 1 and "unreadable" in skipped[0]


@pytest.mark.parametrize("image, message", [
    ("oci:{root}:v9", "no manifest tagged 'v9'"),
    ("oci:{root}/missing", "is not an OCI image layout"),
    ("docker://127.0.0.1:1/library/app:1", "Connection refused"),
])
def test_failures_are_one_line_without_a_traceback(data_dir, layout, image, message) -> None:
    built, _ = layout
    result = berth_scan(image.format(root=built.root), "--no-tls-verify", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("berth: scan of ")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_scan_without_an_imported_database_says_how_to_import(layout, tmp_path) -> None:
    built, _ = layout
    result = berth_scan(f"oci:{built.root}:v1", "--data-dir", str(tmp_path / "fresh"))
    assert result.returncode == 1
    assert "berth vulndb import" in result.stderr and "Traceback" not in result.stderr


def test_image_pushed_to_berth_is_scanned_over_the_registry_api(data_dir, layout, berth, skopeo, tmp_path) -> None:
    built, image = layout
    name = unique("library/scanned")
    copy(skopeo, f"oci:{built.root}:v1", f"docker://{berth.host}/{name}:1", tmp_path)
    user, password = berth.auth
    by_tag = berth_scan(f"docker://{berth.host}/{name}:1", "--no-tls-verify", "--creds", f"{user}:{password}",
                        "--format", "json", "--data-dir", str(data_dir))
    assert by_tag.returncode == 0, by_tag.stderr
    report = json.loads(by_tag.stdout)
    assert report["artifact"] == {"repository": f"{berth.host}/{name}", "digest": image["digest"], "tag": "1"}
    assert {v["id"] for v in report["vulnerabilities"]} == set(EXPECTED)
    by_digest = berth_scan(f"docker://{berth.host}/{name}@{image['digest']}", "--no-tls-verify", "--creds",
                           f"{user}:{password}", "--severity", "high", "--exit-code", "4", "--data-dir", str(data_dir))
    assert by_digest.returncode == 4, by_digest.stderr
    assert "CVE-2021-23337" in by_digest.stdout and "CVE-2099-0001" not in by_digest.stdout
    refused = berth_scan(f"docker://{berth.host}/{name}:1", "--no-tls-verify", "--creds", f"{user}:wrong",
                         "--data-dir", str(data_dir))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr


def test_platform_picks_one_image_of_an_index(data_dir, tmp_path) -> None:
    layout = Layout(tmp_path / "multi")
    amd64 = layout.image([gzip_layer(tar_of({"etc/os-release": DEBIAN_12, "var/lib/dpkg/status": DPKG_STATUS}))])
    arm64 = layout.image([gzip_layer(tar_of(APP_FILES))], architecture="arm64")
    layout.tag(layout.index([(amd64, "linux/amd64"), (arm64, "linux/arm64")]), "v1")
    arm = berth_scan(f"oci:{layout.root}:v1", "--platform", "linux/arm64", "-f", "json", "--data-dir", str(data_dir))
    assert arm.returncode == 0, arm.stderr
    assert {v["id"] for v in json.loads(arm.stdout)["vulnerabilities"]} == {"CVE-2020-36242", "CVE-2021-23337"}
    default = berth_scan(f"oci:{layout.root}:v1", "-f", "json", "--data-dir", str(data_dir))
    assert [v["id"] for v in json.loads(default.stdout)["vulnerabilities"]] == ["CVE-2099-0001"]
    missing = berth_scan(f"oci:{layout.root}:v1", "--platform", "linux/s390x", "--data-dir", str(data_dir))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
