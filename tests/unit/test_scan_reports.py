"""Harbor's vulnerability report and the SBOM report rendered from hand-built inventories and findings,
checked against the scanner API's v1.2 schemas, CycloneDX's own JSON schema and SPDX 2.3's required fields."""

from __future__ import annotations

from datetime import UTC, datetime

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
import orjson
import pytest

from berth.scan.envelope import ArtifactRef, ScannerInfo
from berth.scan.mimes import CYCLONEDX_JSON, SPDX_JSON
from berth.scan.model import Cvss, Finding, ImageInventory, Layer, OSInfo, Package, Severity
from berth.scan.report import preferred_cvss, vulnerability_report
from berth.scan.sbom import sbom_report, spdx_license_expression
from tests.scanner_api import validate

NOW = datetime(2026, 12, 2, 18, 0, 0, 123456, tzinfo=UTC)
ARTIFACT = ArtifactRef("library/alpine", "sha256:" + "0a" * 32, "3.16", "application/vnd.oci.image.manifest.v1+json")
SCANNER = ScannerInfo("berth", "berth", "1.2.3")
BASE = Layer("sha256:" + "1b" * 32, "sha256:" + "2c" * 32)
APP = Layer("sha256:" + "3d" * 32, "sha256:" + "4e" * 32)

MARIADB = Package("mariadb", "10.6.7-r0", "Alpine:v3.16", "pkg:apk/alpine/mariadb@10.6.7-r0?distro=3.16",
                  "os", layer=BASE, path="lib/apk/db/installed", licenses=("GPL-2.0-only",))
LIBCRYPTO = Package("libcrypto1.1", "1.1.1n-r0", "Alpine:v3.16", "pkg:apk/alpine/libcrypto1.1@1.1.1n-r0",
                    "os", source_name="openssl", layer=BASE, licenses=("OpenSSL",))
LODASH = Package("lodash", "4.17.20", "npm", "pkg:npm/lodash@4.17.20", "lang", layer=APP,
                 path="app/node_modules/lodash/package.json", licenses=("MIT", "Apache-2.0 OR BSD-3-Clause"))
ODD = Package("odd", "1", "PyPI", "pkg:pypi/odd@1", "lang", licenses=("Some custom licence",))
INVENTORY = ImageInventory("sha256:" + "5f" * 32, "linux/amd64", [BASE, APP],
                           OSInfo("alpine", "3.16.2", "Alpine Linux v3.16", "Alpine:v3.16"),
                           [MARIADB, LIBCRYPTO, LODASH, ODD])

MARIADB_CVE = Finding(
    "CVE-2022-27449", "CVE-2022-27449", MARIADB, Severity.HIGH, "10.6.8-r0",
    "MariaDB Server v10.9 and below was discovered to contain a segmentation fault.",
    ("https://jira.mariadb.org/browse/MDEV-28089",),
    (Cvss("ghsa", v3_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", v3_score=5.3),
     Cvss("nvd", v3_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", v3_score=7.5,
          v2_vector="AV:N/AC:L/Au:N/C:N/I:N/A:P", v2_score=5.0)),
    ("CWE-476",),
)
LODASH_GHSA = Finding("CVE-2021-23337", "GHSA-35jh-r3h4-6jhm", LODASH, Severity.CRITICAL, "4.17.21",
                      "Command Injection in lodash", ("https://github.com/advisories/GHSA-35jh-r3h4-6jhm",),
                      (Cvss("ghsa", v3_score=7.2),), ("CWE-77", "CWE-94"), ("GHSA-35jh-r3h4-6jhm",))
UNRATED = Finding("CVE-2023-0001", "ALPINE-CVE-2023-0001", LIBCRYPTO, Severity.UNKNOWN)


def test_vulnerability_report_is_valid_and_its_severity_is_the_highest_items():
    report = vulnerability_report(INVENTORY, [MARIADB_CVE, UNRATED, LODASH_GHSA], ARTIFACT, SCANNER, NOW)
    validate("HarborVulnerabilityReport", report)
    assert report["generated_at"] == "2026-12-02T18:00:00.123456Z"
    assert report["artifact"] == {"repository": "library/alpine", "digest": ARTIFACT.digest, "tag": "3.16",
                                  "mime_type": "application/vnd.oci.image.manifest.v1+json"}
    assert report["scanner"] == {"name": "berth", "vendor": "berth", "version": "1.2.3"}
    assert report["severity"] == "Critical"
    assert [item["id"] for item in report["vulnerabilities"]] == ["CVE-2021-23337", "CVE-2022-27449", "CVE-2023-0001"]


def test_item_names_the_installed_package_and_the_layer_that_added_it():
    item = vulnerability_report(INVENTORY, [MARIADB_CVE], ARTIFACT, SCANNER, NOW)["vulnerabilities"][0]
    assert item["package"] == "mariadb" and item["version"] == "10.6.7-r0" and item["fix_version"] == "10.6.8-r0"
    assert item["severity"] == "High" and item["cwe_ids"] == ["CWE-476"]
    assert item["links"] == ["https://jira.mariadb.org/browse/MDEV-28089"]
    assert item["layer"] == {"digest": BASE.digest, "diff_id": BASE.diff_id}


def test_cvss_is_given_per_source_as_trivy_names_it_and_nvd_is_preferred():
    item = vulnerability_report(INVENTORY, [MARIADB_CVE], ARTIFACT, SCANNER, NOW)["vulnerabilities"][0]
    assert item["preferred_cvss"] == {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                                      "score_v2": 5.0, "vector_v2": "AV:N/AC:L/Au:N/C:N/I:N/A:P"}
    assert item["vendor_attributes"]["CVSS"] == {
        "ghsa": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "V3Score": 5.3},
        "nvd": {"V2Vector": "AV:N/AC:L/Au:N/C:N/I:N/A:P", "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                "V2Score": 5.0, "V3Score": 7.5},
    }


def test_without_nvd_the_first_rating_with_a_v3_score_is_preferred_and_none_gives_an_empty_object():
    assert preferred_cvss((Cvss("debian"), Cvss("ghsa", v3_score=7.2))) == {"score_v3": 7.2}
    assert preferred_cvss(()) == {}


def test_source_package_and_osv_record_are_vendor_attributes():
    report = vulnerability_report(INVENTORY, [UNRATED, LODASH_GHSA], ARTIFACT, SCANNER, NOW)
    lodash, libcrypto = report["vulnerabilities"]
    assert libcrypto["vendor_attributes"]["source_package"] == "openssl"
    assert libcrypto["vendor_attributes"]["osv_id"] == "ALPINE-CVE-2023-0001"
    assert "CVSS" not in libcrypto["vendor_attributes"] and libcrypto["preferred_cvss"] == {}
    assert lodash["vendor_attributes"]["osv_ecosystem"] == "npm"
    assert lodash["vendor_attributes"]["aliases"] == ["GHSA-35jh-r3h4-6jhm"]


def test_clean_image_has_an_empty_list_and_no_severity():
    report = vulnerability_report(INVENTORY, [], ARTIFACT, SCANNER, NOW)
    validate("HarborVulnerabilityReport", report)
    assert report["vulnerabilities"] == [] and "severity" not in report


def test_negligible_is_spelled_as_harbor_spells_it():
    finding = Finding("CVE-2020-1", "DEBIAN-CVE-2020-1", MARIADB, Severity.NEGLIGIBLE)
    report = vulnerability_report(INVENTORY, [finding], ARTIFACT, SCANNER, NOW)
    assert report["severity"] == "Negligible" and report["vulnerabilities"][0]["severity"] == "Negligible"


@pytest.mark.parametrize("media_type", [SPDX_JSON, CYCLONEDX_JSON])
def test_sbom_report_envelope_is_valid(media_type):
    report = sbom_report(media_type, INVENTORY, ARTIFACT, SCANNER, NOW)
    validate("HarborSbomReport", report)
    assert report["media_type"] == media_type
    assert report["vendor_attributes"]["manifest-digest"] == INVENTORY.manifest_digest
    assert report["vendor_attributes"]["create-by"] == "berth"


def test_cyclonedx_sbom_passes_the_cyclonedx_schema_and_lists_every_package():
    bom = sbom_report(CYCLONEDX_JSON, INVENTORY, ARTIFACT, SCANNER, NOW)["sbom"]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(orjson.dumps(bom).decode()) is None
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["type"] == "container"
    components = {c["name"]: c for c in bom["components"]}
    assert components["alpine"]["type"] == "operating-system" and components["alpine"]["version"] == "3.16.2"
    assert components["mariadb"]["purl"] == MARIADB.purl
    assert components["mariadb"]["licenses"] == [{"license": {"id": "GPL-2.0-only"}}]
    assert components["lodash"]["licenses"] == [{"expression": "MIT AND (Apache-2.0 OR BSD-3-Clause)"}]
    assert components["odd"]["licenses"] == [{"license": {"name": "Some custom licence"}}]
    layer = {p["name"]: p["value"] for p in components["lodash"]["properties"]}
    assert layer["aquasecurity:trivy:LayerDiffID"] == APP.diff_id
    dependencies = {d["ref"]: set(d.get("dependsOn", ())) for d in bom["dependencies"]}
    assert dependencies["os:alpine:3.16.2"] == {MARIADB.purl, LIBCRYPTO.purl}


def test_cyclonedx_refs_stay_unique_when_a_package_is_found_twice():
    twice = ImageInventory("sha256:" + "5f" * 32, packages=[LODASH, Package(**{
        **{f: getattr(LODASH, f) for f in LODASH.__slots__}, "path": "other/node_modules/lodash/package.json"})])
    bom = sbom_report(CYCLONEDX_JSON, twice, ARTIFACT, SCANNER, NOW)["sbom"]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(orjson.dumps(bom).decode()) is None
    assert len({c["bom-ref"] for c in bom["components"]}) == 2


SPDX_DOCUMENT_FIELDS = {"spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo"}
SPDX_PACKAGE_FIELDS = {"SPDXID", "name", "downloadLocation"}


def test_spdx_sbom_has_spdx_2_3_required_fields_and_relationships():
    doc = sbom_report(SPDX_JSON, INVENTORY, ARTIFACT, SCANNER, NOW)["sbom"]
    assert SPDX_DOCUMENT_FIELDS <= set(doc) and doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    assert doc["creationInfo"]["created"] == "2026-12-02T18:00:00Z" and doc["creationInfo"]["creators"]
    assert doc["documentNamespace"].startswith("https://")
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids)) == 2 + len(INVENTORY.packages)
    for package in doc["packages"]:
        assert SPDX_PACKAGE_FIELDS <= set(package), package
        assert all(c.isalnum() or c in ".-" for c in package["SPDXID"].removeprefix("SPDXRef-")), package
    by_name = {p["name"]: p for p in doc["packages"]}
    assert by_name["alpine"]["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    assert by_name["lodash"]["externalRefs"] == [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": LODASH.purl}]
    assert by_name["lodash"]["licenseDeclared"] == "MIT AND (Apache-2.0 OR BSD-3-Clause)"
    assert by_name["odd"]["licenseDeclared"] == "NOASSERTION"
    assert by_name["libcrypto1.1"]["sourceInfo"] == "built from source package openssl 1.1.1n-r0"
    relations = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]}
    image, os_ = by_name[f"{ARTIFACT.repository}:{ARTIFACT.tag}"]["SPDXID"], by_name["alpine"]["SPDXID"]
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", image) in relations
    assert (os_, "CONTAINS", by_name["mariadb"]["SPDXID"]) in relations
    assert (image, "CONTAINS", by_name["lodash"]["SPDXID"]) in relations
    assert all(r[0] in ids + ["SPDXRef-DOCUMENT"] and r[2] in ids for r in relations)


def test_license_expression_is_none_unless_every_licence_is_spdx():
    assert spdx_license_expression(("MIT",)) == "MIT"
    assert spdx_license_expression(("MIT", "Custom")) is None
    assert spdx_license_expression(()) is None
