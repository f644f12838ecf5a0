"""Severity precedence: distro rating, then GHSA's, then the CVSS base score from the vector, else Unknown."""

from __future__ import annotations

from typing import Any

import pytest

from berth.scan.model import Severity
from berth.scan.severity import rate, score_rating
from tests.unit.scan.osv_fixtures import valid_records

RECORDS = {r["id"]: r for r in valid_records()}
V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V3_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N"
V4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"
V2_HIGH = "AV:N/AC:L/Au:N/C:P/I:P/A:P"


def rating(record: dict[str, Any], index: int = 0) -> Severity:
    return rate(record, record["affected"][index])[0]


def test_ubuntu_priority_is_the_severity_of_ubuntu_records() -> None:
    assert rating(RECORDS["UBUNTU-CVE-2025-38094"]) is Severity.MEDIUM


def test_debian_urgency_is_the_severity_of_debian_records() -> None:
    assert rating(RECORDS["DEBIAN-CVE-2099-0001"]) is Severity.MEDIUM


@pytest.mark.parametrize(("ghsa", "severity"), [("LOW", Severity.LOW), ("MODERATE", Severity.MEDIUM),
                                                ("HIGH", Severity.HIGH), ("CRITICAL", Severity.CRITICAL)])
def test_ghsa_severity_wins_over_the_cvss_score(ghsa: str, severity: Severity) -> None:
    record = {"id": "GHSA-x", "severity": [{"type": "CVSS_V3", "score": V3_MEDIUM}],
              "database_specific": {"severity": ghsa}, "affected": [{}]}
    assert rating(record) is severity


def test_real_ghsa_records_keep_their_rating_and_vector_score() -> None:
    severity, [cvss] = rate(RECORDS["GHSA-35jh-r3h4-6jhm"], RECORDS["GHSA-35jh-r3h4-6jhm"]["affected"][0])
    assert severity is Severity.HIGH
    assert (cvss.source, cvss.v3_score) == ("ghsa", 7.2)
    assert rating(RECORDS["GHSA-v6wp-4m6f-gcjg"]) is Severity.LOW


def test_cvss_score_is_computed_from_the_vector_when_nothing_else_rates_it() -> None:
    record = {"id": "CVE-2099-1", "severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}], "affected": [{}]}
    severity, [cvss] = rate(record, record["affected"][0])
    assert (severity, cvss.source, cvss.v3_score, cvss.v3_vector) == (Severity.CRITICAL, "nvd", 9.8, V3_CRITICAL)


def test_cvss_v4_comes_before_v3_and_v2_only_when_alone() -> None:
    both = {"id": "CVE-2099-2", "severity": [{"type": "CVSS_V3", "score": V3_MEDIUM}, {"type": "CVSS_V4", "score": V4_HIGH}],
            "affected": [{}]}
    severity, [cvss] = rate(both, both["affected"][0])
    assert severity is score_rating(cvss.v4_score or 0)
    assert cvss.v3_score is not None and cvss.v4_score is not None
    v2 = {"id": "CVE-2099-3", "severity": [{"type": "CVSS_V2", "score": V2_HIGH}], "affected": [{}]}
    assert rating(v2) is Severity.HIGH


def test_per_package_severity_replaces_the_top_level_one() -> None:
    record = {"id": "CVE-2099-4", "affected": [{"severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}]}]}
    assert rating(record) is Severity.CRITICAL


def test_malformed_vector_and_no_rating_give_unknown() -> None:
    record = {"id": "CVE-2099-5", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}], "affected": [{}]}
    assert rate(record, record["affected"][0]) == (Severity.UNKNOWN, ())
    assert rating(RECORDS["DSA-3029-1"]) is Severity.UNKNOWN


@pytest.mark.parametrize(("urgency", "severity"), [("unimportant", Severity.NEGLIGIBLE), ("low*", Severity.LOW),
                                                   ("high", Severity.HIGH), ("not yet assigned", Severity.UNKNOWN)])
def test_debian_urgencies(urgency: str, severity: Severity) -> None:
    record = {"id": "DEBIAN-CVE-2099-6", "affected": [{"ecosystem_specific": {"urgency": urgency}}]}
    assert rating(record) is severity


@pytest.mark.parametrize(("score", "severity"), [(0.0, Severity.NEGLIGIBLE), (3.9, Severity.LOW), (4.0, Severity.MEDIUM),
                                                 (6.9, Severity.MEDIUM), (7.0, Severity.HIGH), (9.0, Severity.CRITICAL)])
def test_score_bands(score: float, severity: Severity) -> None:
    assert score_rating(score) is severity
