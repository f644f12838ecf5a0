"""The matcher follows OSV's evaluation: real records with verdicts checked by hand, and small
synthetic records for each rule (last_affected, limit, several ranges, withdrawn...)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from berth.scan.match import evaluate, match, match_package
from berth.scan.model import Package, Severity
from berth.scan.osv import Record
from tests.unit.scan.osv_fixtures import valid_records, load, INVALID_SAMPLE


def package(name: str, version: str, ecosystem: str, source: str | None = None) -> Package:
    kind = "os" if ":" in ecosystem else "lang"
    return Package(name=name, version=version, ecosystem=ecosystem, purl=f"pkg:generic/{name}@{version}", kind=kind,
                   source_name=source)


RECORDS = valid_records()


def ids(pkg: Package, records: Sequence[Record] = RECORDS) -> list[str]:
    return [f.id for f in match_package(pkg, records)]


@pytest.mark.parametrize(
    ("pkg", "expected"),
    [
        (package("lodash", "4.17.20", "npm"), ["CVE-2021-23337"]),
        (package("lodash", "4.17.21", "npm"), []),
        (package("lodash-es", "4.17.20", "npm"), ["CVE-2021-23337"]),
        (package("cryptography", "3.2.1", "PyPI"), ["CVE-2020-36242"]),
        (package("cryptography", "3.0", "PyPI"), []),
        (package("cryptography", "3.3.2", "PyPI"), []),
        (package("nginx-full", "1.2.1-2.2+wheezy2", "Debian:7", source="nginx"), ["CVE-2014-3616"]),
        (package("nginx", "1.2.1-2.2+wheezy3", "Debian:7"), []),
        (package("nginx", "1.2.1-2.2+wheezy2", "Debian:8"), []),
        (package("mariadb", "10.6.7-r0", "Alpine:v3.16"), ["CVE-2022-27449"]),
        (package("mariadb", "10.6.8-r0", "Alpine:v3.16"), []),
        (package("linux", "3.13.0-44.73", "Ubuntu:Pro:14.04:LTS"), ["CVE-2025-38094"]),
        (package("aiohttp", "3.7.3", "PyPI"), ["CVE-2021-21330"]),
        (package("aiohttp", "3.7.4", "PyPI"), []),
    ],
    ids=lambda v: f"{v.name}@{v.version}@{v.ecosystem}" if isinstance(v, Package) else None,
)
def test_real_records_give_the_verdicts_checked_by_hand(pkg: Package, expected: list[str]) -> None:
    assert ids(pkg) == expected


def test_debian_finding_reports_binary_package_and_fix_from_source_range() -> None:
    [finding] = match_package(package("nginx-full", "1.2.1-2.2+wheezy2", "Debian:7", source="nginx"), RECORDS)
    assert (finding.package.name, finding.osv_id, finding.fix_version) == ("nginx-full", "DSA-3029-1", "1.2.1-2.2+wheezy3")
    assert finding.links[0] == "https://www.debian.org/security/2014/dsa-3029"


def test_ghsa_and_pysec_on_one_cve_make_one_finding_with_ghsa_severity_and_cwes() -> None:
    [finding] = match_package(package("cryptography", "3.2.1", "PyPI"), RECORDS)
    assert finding.severity is Severity.CRITICAL
    assert finding.cwe_ids == ("CWE-190", "CWE-787")
    assert finding.fix_version == "3.3.2"
    assert {"PYSEC-2021-63", "GHSA-rhm9-p9w5-fwm7"} <= {finding.osv_id, *finding.aliases}
    assert [c.source for c in finding.cvss] == ["ghsa"]
    assert finding.cvss[0].v3_score == 9.1


def test_links_put_advisories_first() -> None:
    [finding] = match_package(package("lodash", "4.17.20", "npm"), RECORDS)
    record = next(r for r in RECORDS if r["id"] == "GHSA-35jh-r3h4-6jhm")
    advisories = [r["url"] for r in record["references"] if r["type"] == "ADVISORY"]
    assert list(finding.links[: len(advisories)]) == advisories
    assert len(finding.links) == len({r["url"] for r in record["references"]})


def test_pypi_names_match_in_normalised_form() -> None:
    assert ids(package("Cryptography", "3.2.1", "PyPI")) == ["CVE-2020-36242"]


def test_upstream_cve_becomes_the_id_and_distro_urgency_the_severity() -> None:
    [finding] = match_package(package("libexample1", "1.4-2", "Debian:12", source="libexample"), RECORDS)
    assert (finding.id, finding.osv_id, finding.severity) == ("CVE-2099-0001", "DEBIAN-CVE-2099-0001", Severity.MEDIUM)
    assert finding.fix_version == "1.4-2+deb12u1"
    assert finding.links[0].startswith("https://security-tracker.debian.org/")
    assert ids(package("libexample1", "1.4-2+deb12u1", "Debian:12", source="libexample")) == []
    # unfixed in Debian 13: affected, no fix version
    [unfixed] = match_package(package("libexample1", "9.9-1", "Debian:13", source="libexample"), RECORDS)
    assert unfixed.fix_version == ""


def test_alpine_record_matches_by_origin_with_its_upstream_cve() -> None:
    [finding] = match_package(package("example-libs", "2.1.3-r0", "Alpine:v3.19", source="example"), RECORDS)
    assert (finding.id, finding.severity) == ("CVE-2099-0002", Severity.UNKNOWN)
    assert ids(package("example-libs", "2.1.3-r1", "Alpine:v3.19", source="example")) == []


# --- synthetic records, one rule each ---------------------------------------------------------


def record(*affected: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "TEST-1", "modified": "2026-01-01T00:00:00Z", "affected": list(affected), **fields}


def npm(*events: dict[str, str], kind: str = "SEMVER", versions: Any = None, name: str = "pkg") -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": "npm", "name": name}, "ranges": [{"type": kind, "events": list(events)}]}
    if versions is not None:
        entry["versions"] = versions
    return entry


def affected_versions(entry: dict[str, Any], candidates: Sequence[str], ecosystem: str = "npm") -> list[str]:
    return [v for v in candidates if evaluate(entry, ecosystem, v).affected]


CANDIDATES = ["0.9.0", "1.0.0", "1.5.0", "2.0.0", "2.5.0", "3.0.0", "3.1.0"]


def test_introduced_zero_without_fix_affects_every_version() -> None:
    assert affected_versions(npm({"introduced": "0"}), CANDIDATES) == CANDIDATES


def test_fixed_ends_the_range_at_the_fix() -> None:
    entry = npm({"introduced": "1.0.0"}, {"fixed": "2.0.0"})
    assert affected_versions(entry, CANDIDATES) == ["1.0.0", "1.5.0"]


def test_last_affected_includes_that_version() -> None:
    entry = npm({"introduced": "1.0.0"}, {"last_affected": "2.0.0"})
    assert affected_versions(entry, CANDIDATES) == ["1.0.0", "1.5.0", "2.0.0"]
    assert evaluate(entry, "npm", "1.5.0").fix_version == ""


def test_limit_cuts_the_range_whatever_its_events_say() -> None:
    entry = npm({"introduced": "0"}, {"limit": "2.5.0"})
    assert affected_versions(entry, CANDIDATES) == ["0.9.0", "1.0.0", "1.5.0", "2.0.0"]
    star = npm({"introduced": "1.0.0"}, {"limit": "*"})
    assert affected_versions(star, CANDIDATES) == CANDIDATES[1:]


def test_several_introduced_fixed_pairs_in_one_range() -> None:
    entry = npm({"introduced": "1.0.0"}, {"fixed": "1.5.0"}, {"introduced": "2.0.0"}, {"fixed": "3.0.0"})
    assert affected_versions(entry, CANDIDATES) == ["1.0.0", "2.0.0", "2.5.0"]
    # the fix reported is the lowest fixed event above the installed version
    assert evaluate(entry, "npm", "2.5.0").fix_version == "3.0.0"
    assert evaluate(entry, "npm", "1.0.0").fix_version == "1.5.0"


def test_events_are_evaluated_in_version_order_not_record_order() -> None:
    entry = npm({"fixed": "2.0.0"}, {"introduced": "1.0.0"})
    assert affected_versions(entry, CANDIDATES) == ["1.0.0", "1.5.0"]


def test_several_ranges_any_of_them_affects() -> None:
    entry = npm({"introduced": "1.0.0"}, {"fixed": "1.5.0"})
    entry["ranges"].append({"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.1.0"}]})
    assert affected_versions(entry, CANDIDATES) == ["1.0.0", "3.0.0"]


def test_explicit_versions_list_affects_even_outside_ranges() -> None:
    entry = npm({"introduced": "3.0.0"}, versions=["1.5.0"])
    assert affected_versions(entry, CANDIDATES) == ["1.5.0", "3.0.0", "3.1.0"]


def test_versions_null_is_read_as_no_list() -> None:
    entry = npm({"introduced": "2.0.0"}, {"fixed": "3.0.0"}, versions=None)
    entry["versions"] = None
    assert affected_versions(entry, CANDIDATES) == ["2.0.0", "2.5.0"]


def test_real_record_with_versions_null_still_matches_by_range() -> None:
    libexif = load(INVALID_SAMPLE)  # refused by the importer; the matcher copes all the same
    branch = next(a for a in libexif["affected"] if a["package"]["ecosystem"].startswith("Alpine"))
    fixed = next(e["fixed"] for r in branch["ranges"] for e in r["events"] if "fixed" in e)
    pkg = package("libexif", "0.0.1-r0", branch["package"]["ecosystem"])
    assert ids(pkg, [libexif]) == ["CVE-2012-2812"]
    assert ids(package("libexif", fixed, branch["package"]["ecosystem"]), [libexif]) == []


def test_git_ranges_are_skipped() -> None:
    entry = npm({"introduced": "0"}, kind="GIT")
    entry["ranges"][0]["repo"] = "https://example.invalid/repo"
    assert affected_versions(entry, CANDIDATES) == []


def test_withdrawn_records_find_nothing() -> None:
    pkg = package("pkg", "1.0.0", "npm")
    assert ids(pkg, [record(npm({"introduced": "0"}))]) == ["TEST-1"]
    assert ids(pkg, [record(npm({"introduced": "0"}), withdrawn="2026-02-01T00:00:00Z")]) == []


def test_unknown_ecosystem_matches_only_listed_versions() -> None:
    entry = {"package": {"ecosystem": "Hackage", "name": "text"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}], "versions": ["1.2.3"]}
    assert affected_versions(entry, ["1.2.3", "1.2.4"], ecosystem="Hackage") == ["1.2.3"]


def test_unparseable_installed_version_matches_only_listed_versions() -> None:
    entry = npm({"introduced": "0"}, versions=["not.a.version"])
    assert affected_versions(entry, ["not.a.version", "also-not-one"]) == ["not.a.version"]


def test_range_of_unparseable_events_is_skipped_not_fatal() -> None:
    entry = npm({"introduced": "garbage!"}, {"fixed": "2.0.0"})
    assert affected_versions(entry, CANDIDATES) == []


def test_records_of_other_releases_and_other_names_do_not_match() -> None:
    debian11 = record({"package": {"ecosystem": "Debian:11", "name": "zlib"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]})
    assert ids(package("zlib1g", "1.2.13.dfsg-1", "Debian:12", source="zlib"), [debian11]) == []
    assert ids(package("zlib1g", "1.2.13.dfsg-1", "Debian:11", source="zlib"), [debian11]) == ["TEST-1"]
    assert ids(package("zlib1g", "1.2.13.dfsg-1", "Debian:11"), [debian11]) == []


def test_go_versions_match_without_their_v() -> None:
    go = record({"package": {"ecosystem": "Go", "name": "golang.org/x/net"},
                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.17.0"}]}]})
    assert ids(package("golang.org/x/net", "v0.16.0", "Go"), [go]) == ["TEST-1"]
    assert ids(package("golang.org/x/net", "v0.17.0", "Go"), [go]) == []


def test_two_records_on_one_cve_make_one_finding() -> None:
    dsa = record({"package": {"ecosystem": "Debian:12", "name": "zlib"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.3-1"}]}]},
                 id="DSA-9999-1", aliases=["CVE-2099-9999"])
    tracker = record({"package": {"ecosystem": "Debian:12", "name": "zlib"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.3-1"}]}],
                      "ecosystem_specific": {"urgency": "high"}},
                     id="DEBIAN-CVE-2099-9999", upstream=["CVE-2099-9999"])
    [finding] = match_package(package("zlib1g", "1:1.2-1", "Debian:12", source="zlib"), [dsa, tracker])
    assert (finding.id, finding.osv_id, finding.severity) == ("CVE-2099-9999", "DSA-9999-1", Severity.HIGH)
    assert "DEBIAN-CVE-2099-9999" in finding.aliases


class _ListSource:
    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        self.asked: list[tuple[str, str]] = []

    async def records_for(self, ecosystem: str, name: str) -> Sequence[Record]:
        self.asked.append((ecosystem, name))
        return self.records


def test_match_looks_each_package_up_by_its_lookup_name() -> None:
    source = _ListSource(RECORDS)
    pkgs = [package("nginx-full", "1.2.1-2.2+wheezy2", "Debian:7", source="nginx"), package("lodash", "4.17.21", "npm")]
    findings = asyncio.run(match(pkgs, source))
    assert [f.id for f in findings] == ["CVE-2014-3616"]
    assert source.asked == [("Debian:7", "nginx"), ("npm", "lodash")]
