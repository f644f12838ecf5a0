"""The vulnerability pull policy (berth.scan.policy): Harbor's verdicts and messages, and berth's grace."""

from __future__ import annotations

import pytest

from berth.scan.model import Severity
from berth.scan.policy import (
    POLICY_VIOLATION,
    Allowed,
    Allowlist,
    ArtifactState,
    ProjectPolicy,
    Refused,
    Report,
    effective_allowlist,
    pull_verdict,
    threshold,
)

NOW = 1_800_000_000.0
POLICY = "'Prevent images with vulnerability severity of \"High\" or higher from running.'"
HIGH = ProjectPolicy(prevent_vul=True, severity="high", has_scanner=True)
FINDINGS = (("CVE-2024-0001", Severity.CRITICAL), ("CVE-2024-0002", Severity.LOW))


def image(report: Report | None = None, **fields: object) -> ArtifactState:
    values: dict[str, object] = {"type": "IMAGE", "is_index": False, "pushed_at": NOW - 3600, "report": report}
    return ArtifactState(**{**values, **fields})  # type: ignore[arg-type]


def scanned(*findings: tuple[str, Severity], status: str = "Success", started: float = NOW - 60) -> Report:
    return Report(status=status, started_at=started, findings=tuple(findings))


def test_policy_off_allows_everything() -> None:
    verdict = pull_verdict(ProjectPolicy(prevent_vul=False, severity="low"), image(scanned(*FINDINGS)), Allowlist(), NOW)
    assert verdict == Allowed("policy off")


def test_finding_at_the_threshold_is_refused_with_harbors_message() -> None:
    verdict = pull_verdict(HIGH, image(scanned(("CVE-2024-0003", Severity.HIGH))), Allowlist(), NOW)
    assert verdict == Refused(
        POLICY_VIOLATION,
        f"current image with 1 vulnerability cannot be pulled due to configured policy in {POLICY} To continue "
        "with pull, please contact your project administrator to exempt matched vulnerabilities through "
        "configuring the CVE allowlist.",
    )
    assert verdict.status == 412


def test_count_is_every_finding_not_allowlisted_and_plural() -> None:
    verdict = pull_verdict(HIGH, image(scanned(*FINDINGS)), Allowlist(), NOW)
    assert isinstance(verdict, Refused)
    assert verdict.message.startswith("current image with 2 vulnerabilities cannot be pulled")


def test_findings_below_the_threshold_are_allowed() -> None:
    verdict = pull_verdict(HIGH, image(scanned(("CVE-2024-0002", Severity.MEDIUM))), Allowlist(), NOW)
    assert verdict == Allowed("clean")


def test_a_clean_report_is_allowed_even_with_the_lowest_threshold() -> None:
    project = ProjectPolicy(prevent_vul=True, severity="", has_scanner=True)
    assert pull_verdict(project, image(scanned()), Allowlist(), NOW) == Allowed("clean")


def test_empty_severity_blocks_any_finding_even_unknown() -> None:
    project = ProjectPolicy(prevent_vul=True, severity="", has_scanner=True)
    verdict = pull_verdict(project, image(scanned(("CVE-2024-0009", Severity.UNKNOWN))), Allowlist(), NOW)
    assert isinstance(verdict, Refused) and 'severity of "Unknown"' in verdict.message


@pytest.mark.parametrize(("stored", "name", "code"), [
    ("critical", "Critical", 5), ("High", "High", 4), ("medium", "Medium", 3), ("low", "Low", 2),
    ("negligible", "None", 0), ("none", "None", 0), ("unknown", "Unknown", 0), ("", "Unknown", 0),
    ("bogus", "Unknown", 0),
])
def test_threshold_reads_severity_as_harbor_does(stored: str, name: str, code: int) -> None:
    assert threshold(stored) == (name, code)


def test_system_allowlist_exempts_its_cves_when_the_project_reuses_it() -> None:
    system = Allowlist(frozenset({"CVE-2024-0001"}))
    assert pull_verdict(HIGH, image(scanned(*FINDINGS)), system, NOW) == Allowed("clean")


def test_project_allowlist_applies_when_the_project_does_not_reuse_the_systems() -> None:
    own = ProjectPolicy(prevent_vul=True, severity="high", has_scanner=True, reuse_system_allowlist=False,
                        allowlist=Allowlist(frozenset({"CVE-2024-0001"})))
    system = Allowlist(frozenset())
    assert pull_verdict(own, image(scanned(*FINDINGS)), system, NOW) == Allowed("clean")
    # ... and the system's list no longer counts
    ignoring = ProjectPolicy(prevent_vul=True, severity="high", has_scanner=True, reuse_system_allowlist=False)
    assert isinstance(pull_verdict(ignoring, image(scanned(*FINDINGS)), Allowlist(frozenset({"CVE-2024-0001"})), NOW),
                      Refused)
    assert effective_allowlist(own, system) is own.allowlist


def test_expired_allowlist_is_ignored_as_a_whole() -> None:
    expired = Allowlist(frozenset({"CVE-2024-0001"}), expires_at=int(NOW))
    assert isinstance(pull_verdict(HIGH, image(scanned(*FINDINGS)), expired, NOW), Refused)
    current = Allowlist(frozenset({"CVE-2024-0001"}), expires_at=int(NOW) + 1)
    assert pull_verdict(HIGH, image(scanned(*FINDINGS)), current, NOW) == Allowed("clean")


def test_unscanned_image_is_refused_when_a_scanner_could_scan_it() -> None:
    verdict = pull_verdict(HIGH, image(), Allowlist(), NOW)
    assert verdict == Refused(
        POLICY_VIOLATION,
        f"current image without vulnerability scanning cannot be pulled due to configured policy in {POLICY} "
        "To continue with pull, please contact your project administrator for help.",
    )


def test_unscanned_image_is_allowed_without_a_scanner() -> None:
    project = ProjectPolicy(prevent_vul=True, severity="high", has_scanner=False)
    assert pull_verdict(project, image(), Allowlist(), NOW) == Allowed("not scannable")


def test_unscanned_artifact_that_is_not_an_image_is_allowed() -> None:
    assert pull_verdict(HIGH, image(type="CHART"), Allowlist(), NOW) == Allowed("not scannable")


def test_signatures_are_never_blocked() -> None:
    signature = image(scanned(*FINDINGS), is_signature=True)
    assert pull_verdict(HIGH, signature, Allowlist(), NOW) == Allowed("signature")


@pytest.mark.parametrize("status", ["Pending", "Running", "Error", "Stopped"])
def test_unfinished_or_failed_scan_is_refused_with_its_status(status: str) -> None:
    verdict = pull_verdict(HIGH, image(scanned(status=status)), Allowlist(), NOW)
    assert verdict == Refused(
        POLICY_VIOLATION,
        f'current image with "{status}" status of vulnerability scanning cannot be pulled due to configured '
        f"policy in {POLICY} To continue with pull, please contact your project administrator for help.",
    )


def test_index_with_a_report_is_left_to_its_children() -> None:
    index = image(scanned(*FINDINGS), is_index=True)
    assert pull_verdict(HIGH, index, Allowlist(), NOW) == Allowed("index")


def test_grace_lets_an_unscanned_image_through_once_it_has_passed_since_the_push() -> None:
    pushed_long_ago = image(pushed_at=NOW - 600)
    assert pull_verdict(HIGH, pushed_long_ago, Allowlist(), NOW, grace=600) == Allowed("grace")
    assert isinstance(pull_verdict(HIGH, image(pushed_at=NOW - 599), Allowlist(), NOW, grace=600), Refused)


def test_grace_counts_from_the_start_of_a_pending_or_failed_scan() -> None:
    old_image = dict(pushed_at=NOW - 86_400)
    rescanning = image(scanned(status="Running", started=NOW - 30), **old_image)
    assert isinstance(pull_verdict(HIGH, rescanning, Allowlist(), NOW, grace=60), Refused)
    failed_long_ago = image(scanned(status="Error", started=NOW - 61), **old_image)
    assert pull_verdict(HIGH, failed_long_ago, Allowlist(), NOW, grace=60) == Allowed("grace")


def test_without_grace_an_unscanned_image_stays_refused_as_in_harbor() -> None:
    ancient = image(pushed_at=0.0)
    assert isinstance(pull_verdict(HIGH, ancient, Allowlist(), NOW, grace=None), Refused)


def test_grace_never_lets_a_vulnerable_image_through() -> None:
    vulnerable = image(scanned(*FINDINGS, started=0.0), pushed_at=0.0)
    assert isinstance(pull_verdict(HIGH, vulnerable, Allowlist(), NOW, grace=1), Refused)
