"""Reading Harbor vulnerability reports into stored findings and summary counts (services/scans.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.scan.model import Severity
from berth.services.errors import BadRequest
from berth.services.scans import findings_of, summarize

REPORT = Path(__file__).resolve().parents[1] / "fixtures" / "scanning" / "harbor-examples" / "vulnerability-report-v1.1.json"


def test_findings_of_the_spec_example_report() -> None:
    [finding] = findings_of(json.loads(REPORT.read_text()))
    assert (finding.cve_id, finding.package, finding.version, finding.fixed_version) == (
        "CVE-2022-27449", "mariadb", "10.6.7-r0", "10.6.8-r0")
    assert finding.severity is Severity.HIGH and finding.cvss_v3_score == 7.5
    assert finding.links == ("https://jira.mariadb.org/browse/MDEV-28089",)


def test_cvss_falls_back_to_nvds_score_in_vendor_attributes() -> None:
    item = {"id": "CVE-1", "severity": "Critical", "vendor_attributes": {"CVSS": {"nvd": {"V3Score": 9.8}}}}
    assert findings_of({"vulnerabilities": [item]})[0].cvss_v3_score == 9.8
    assert findings_of({"vulnerabilities": [{"id": "CVE-2"}]})[0].cvss_v3_score is None


def test_summary_counts_per_severity_fixable_and_highest() -> None:
    items = [{"id": "A", "severity": "Critical", "fix_version": "2"}, {"id": "B", "severity": "Low"},
             {"id": "C", "severity": "whatever"}]
    summary = summarize(findings_of({"vulnerabilities": items}))
    assert summary["critical_cnt"] == 1 and summary["low_cnt"] == 1 and summary["unknown_cnt"] == 1
    assert summary["total_cnt"] == 3 and summary["fixable_cnt"] == 1 and summary["severity"] == "Critical"


def test_a_clean_report_has_severity_none() -> None:
    assert summarize(findings_of({"vulnerabilities": []}))["severity"] == "None"


@pytest.mark.parametrize("report", [{"vulnerabilities": {"id": "x"}}, {"vulnerabilities": [{"package": "p"}]},
                                    {"vulnerabilities": ["CVE-1"]}])
def test_malformed_reports_are_refused(report) -> None:
    with pytest.raises(BadRequest):
        findings_of(report)
