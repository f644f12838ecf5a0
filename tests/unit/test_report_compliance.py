"""The compliance report's pure computations (MTTR from scan history, ages, pass rate, robots, pulls)
and its renderings, on fixed inputs."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from berth.ascode.report import (
    Allowlist, ArtifactFacts, Finding, Inventory, ProjectFacts, Pull, RobotFacts, build_report, expiring_allowlists,
    finding_history, mean_time_to_remediate, open_findings_by_age, parse_since, passes_policy, risky_pulls,
    robot_credentials,
)
from berth.ascode.report_render import CSV_COLUMNS, render

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
X = Finding("CVE-2026-0001", "openssl", "3.0.1", "Critical")
Y = Finding("CVE-2026-0002", "zlib", "1.2.11", "High")
Z = Finding("CVE-2026-0003", "musl", "1.2.3", "Low")


def artifact(repository: str, digest: str, pushed: datetime, findings: tuple[Finding, ...] | None = (),
             **extra) -> ArtifactFacts:
    return ArtifactFacts(project=repository.rsplit("/", 1)[0], repository=repository, digest=digest, type="IMAGE",
                         pushed_at=pushed, findings=findings, scan_status=None if findings is None else "Success",
                         **extra)


HISTORY = [
    artifact("p/app", "sha256:a1", T0, (X, Y)),
    artifact("p/app", "sha256:a2", T0 + 2 * DAY, (Y,)),
    artifact("p/app", "sha256:skipped", T0 + 3 * DAY, None),  # never scanned: says nothing
    artifact("p/app", "sha256:a3", T0 + 5 * DAY, ()),
    artifact("p/app", "sha256:a4", T0 + 6 * DAY, (X,)),          # X is back: open again
    artifact("q/other", "sha256:b1", T0 + 1 * DAY, (Y, Z)),       # another repository: never remediated
]


def test_a_finding_is_remediated_by_the_first_later_scanned_artifact_without_it():
    remediated, still_open = finding_history(reversed(HISTORY))  # push order comes from push times
    assert [(r["repository"], r["id"], r["first_seen"], r["remediated_at"], r["days"]) for r in remediated] == [
        ("p/app", X.id, T0, T0 + 2 * DAY, 2.0), ("p/app", Y.id, T0, T0 + 5 * DAY, 5.0)]
    assert sorted((f["repository"], f["id"], f["first_seen"]) for f in still_open) == [
        ("p/app", X.id, T0 + 6 * DAY), ("q/other", Y.id, T0 + DAY), ("q/other", Z.id, T0 + DAY)]


def test_mean_time_to_remediate_counts_the_remediations_in_the_period():
    remediated, _ = finding_history(HISTORY)
    remediated.append({**remediated[0], "days": 4.0, "remediated_at": T0 + 9 * DAY})
    mttr = mean_time_to_remediate(remediated, start=T0)
    assert mttr["Critical"] == {"remediated": 2, "mean_days": 3.0, "mean_seconds": 259200.0}
    assert mttr["High"] == {"remediated": 1, "mean_days": 5.0, "mean_seconds": 432000.0}
    assert mttr["Low"] == {"remediated": 0, "mean_days": None, "mean_seconds": None}
    later = mean_time_to_remediate(remediated, start=T0 + 3 * DAY)  # only what was remediated since
    assert later["Critical"]["remediated"] == 1 and later["Critical"]["mean_days"] == 4.0
    assert later["High"]["remediated"] == 1


def test_open_findings_are_bucketed_by_whole_days_since_first_seen():
    ages = (0, 7, 8, 30, 31, 90, 91)
    still_open = [{"severity": "Critical", "first_seen": NOW - timedelta(days=d, hours=1)} for d in ages]
    still_open += [{"severity": "High", "first_seen": NOW}, {"severity": "Low", "first_seen": NOW - 400 * DAY}]
    assert open_findings_by_age(still_open, NOW) == {
        "Critical": {"0-7d": 2, "8-30d": 2, "31-90d": 2, ">90d": 1},
        "High": {"0-7d": 1, "8-30d": 0, "31-90d": 0, ">90d": 0}}


@pytest.mark.parametrize(("project", "system", "findings", "passes"), [
    (ProjectFacts("p", prevent_vul=False, severity="high"), None, (X,), None),            # no policy
    (ProjectFacts("p", prevent_vul=True, severity="high"), None, None, None),             # not scanned
    (ProjectFacts("p", prevent_vul=True, severity="high"), None, (), True),
    (ProjectFacts("p", prevent_vul=True, severity="high"), None, (Y, Z), False),          # at the threshold
    (ProjectFacts("p", prevent_vul=True, severity="critical"), None, (Y, Z), True),       # below it
    (ProjectFacts("p", prevent_vul=True, severity="high"), Allowlist(frozenset({Y.id})), (Y, Z), True),
    (ProjectFacts("p", prevent_vul=True, severity="high"),                                # an expired list
     Allowlist(frozenset({Y.id}), int((NOW - DAY).timestamp())), (Y,), False),
    (ProjectFacts("p", prevent_vul=True, severity="high", reuse_system_allowlist=False,   # its own list
                  allowlist=Allowlist(frozenset({X.id}))), Allowlist(frozenset({Y.id})), (X, Y), False),
    (ProjectFacts("p", prevent_vul=True, severity="high", reuse_system_allowlist=False,
                  allowlist=Allowlist(frozenset({X.id, Y.id}))), None, (X, Y, Z), True),
    (ProjectFacts("p", prevent_vul=True, severity=""), None, (Z,), False),                # Harbor: unknown = any
])
def test_pass_verdict_follows_harbors_pull_policy(project, system, findings, passes):
    assert passes_policy(artifact("p/app", "sha256:a", T0, findings), project, system, NOW) is passes


def test_robots_by_age_and_expiry():
    def robot(name: str, age_days: int, expires_in_days: float | None, disabled: bool = False) -> RobotFacts:
        expires = -1 if expires_in_days is None else int((NOW + timedelta(days=expires_in_days)).timestamp())
        return RobotFacts(name, "project", NOW - timedelta(days=age_days), expires, disabled)

    robots = robot_credentials([robot("fresh", 1, 90), robot("old", 400, None), robot("gone", 120, -1),
                                robot("soon", 60, 6.5), robot("month", 31, 29, disabled=True)], NOW)
    assert robots["by_age"] == {"0-30d": 1, "31-90d": 2, "91-365d": 1, ">365d": 1}
    assert robots["by_expiry"] == {"expired": 1, "within_7d": 1, "within_30d": 1, "later": 1, "never": 1}
    assert [(r["name"], r["age_days"], r["expiry"], r["disabled"]) for r in robots["robots"]] == [
        ("old", 400, "never", False), ("gone", 120, "expired", False), ("soon", 60, "within_7d", False),
        ("month", 31, "within_30d", True), ("fresh", 1, "later", False)]


def test_pulls_resolve_by_digest_or_current_tag_and_keep_the_risky_ones():
    artifacts = [
        artifact("p/app", "sha256:bad", T0, (X,), tags=("v1",), signed=True),
        artifact("p/app", "sha256:good", T0, (Z,), tags=("v2",), signed=True, accessories=("sha256:sig",)),
        artifact("p/raw", "sha256:raw", T0, None, tags=("latest",)),
    ]
    pulls = [Pull(resource, NOW - timedelta(hours=h)) for h, resource in enumerate([
        "p/app:v1", "p/app@sha256:bad", "p/app:v2", "p/app@sha256:sig", "p/app:sha256-" + "a" * 64 + ".sig",
        "p/raw:latest", "p/gone:v0"])]
    found = risky_pulls(pulls, artifacts)
    assert {k: v for k, v in found.items() if k != "artifacts"} == {
        "pulls": 7, "artifact_pulls": 4, "accessory_pulls": 2, "unresolved_pulls": 1, "unsigned_pulls": 1,
        "critical_pulls": 2}
    assert [(a["repository"], a["digest"], a["pulls"], a["signed"], a["critical"], a["last_pull"])
            for a in found["artifacts"]] == [
        ("p/app", "sha256:bad", 2, True, 1, NOW), ("p/raw", "sha256:raw", 1, False, None, NOW - 5 * DAY / 24)]


def test_allowlist_entries_expiring_within_seven_days():
    def at(days: float) -> int:
        return int((NOW + timedelta(days=days)).timestamp())

    inventory = Inventory(url="http://r", now=NOW, since=30 * DAY,
                          system_allowlist=Allowlist(frozenset({"CVE-1", "CVE-2"}), at(7)),
                          projects=[ProjectFacts(name, reuse_system_allowlist=False, allowlist=Allowlist(
                                        frozenset({cve}), expiry)) for name, cve, expiry in (
                                        ("a", "CVE-3", at(8)), ("b", "CVE-4", at(-1)), ("c", "CVE-5", None),
                                        ("d", "CVE-6", at(0.5)))]
                          # its own list is not in effect: the project reuses the system's
                          + [ProjectFacts("e", allowlist=Allowlist(frozenset({"CVE-7"}), at(1)))])
    assert [(r["scope"], r["cve_id"], r["days_left"]) for r in expiring_allowlists(inventory)] == [
        ("system", "CVE-1", 7.0), ("system", "CVE-2", 7.0), ("project d", "CVE-6", 0.5)]


@pytest.mark.parametrize(("text", "period"), [("30d", 30 * DAY), ("12h", timedelta(hours=12)), ("2w", 14 * DAY)])
def test_since_takes_hours_days_or_weeks(text, period):
    assert parse_since(text) == period


@pytest.mark.parametrize("text", ["", "0d", "30", "d", "-1d", "3m", "1.5d"])
def test_since_refuses_anything_else(text):
    with pytest.raises(ValueError, match="invalid period"):
        parse_since(text)


def small_report(robots: list[RobotFacts] | None = None) -> dict:
    hostile = "<script>alert(1)</script>"
    inventory = Inventory(
        url="http://registry.example", now=NOW, since=30 * DAY,
        projects=[ProjectFacts(hostile, prevent_vul=True, severity="high"), ProjectFacts("p")],
        artifacts=[artifact(f"{hostile}/app", "sha256:a1", NOW - 3 * DAY, (Finding("CVE|1", "pkg", "1", "High"),),
                            signed=True),
                   artifact(f"{hostile}/app", "sha256:a2", NOW - DAY, ())],
        system_allowlist=Allowlist(), robots=robots, pulls=[],
        unavailable={} if robots is not None else {"robots": "the registry answered 403 FORBIDDEN: no"})
    return build_report(inventory)


def test_json_is_the_numbers_with_times_in_utc():
    data = json.loads(render(small_report([]), "json"))
    assert data["version"] == 1 and data["generated_at"] == "2026-06-30T12:00:00Z"
    assert data["totals"]["pass_rate"] == 0.5 and data["mttr"]["High"]["mean_days"] == 2.0
    assert data["remediations"][0]["remediated_at"] == "2026-06-29T12:00:00Z"


def test_csv_is_one_row_per_project_with_the_documented_columns():
    rows = list(csv.reader(io.StringIO(render(small_report([]), "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == ["<script>alert(1)</script>", "2", "1", "0.5", "", "2", "2", "1.0",
                       "prevent high and above", "1", "0.5", "0", "0"]
    assert rows[2] == ["p", "0", "0", "", "", "0", "0", "", "", "", "", "0", "0"]


def test_html_is_self_contained_and_escapes_every_value():
    page = render(small_report(), "html")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") == 3 and "<title>signed: 50.0%</title>" in page
    assert "Not available: the registry answered 403 FORBIDDEN: no." in page


def test_markdown_escapes_table_cells():
    inventory = Inventory(url="http://r", now=NOW, since=30 * DAY, projects=[ProjectFacts("p")],
                          artifacts=[artifact("p/app", "sha256:a1", NOW - DAY, (Finding("CVE|1", "pkg", "1", "High"),))],
                          system_allowlist=Allowlist(), robots=[], pulls=[])
    lines = render(build_report(inventory), "md").splitlines()
    assert "| High | CVE\\|1 | pkg | p/app | 2026-06-29 12:00 UTC | 1 |" in lines
    assert "| High | 0 | 0 | 0 | 0 |" not in lines and "| High | 1 | 0 | 0 | 0 |" in lines


def test_pulls_come_from_the_older_audit_log_on_a_harbor_without_auditlog_exts():
    import httpx

    from berth.ascode.report import _pulls
    from berth.client import HarborClient

    asked = []

    def harbor_2_12(request: httpx.Request) -> httpx.Response:  # answers as a Harbor before 2.13 does
        asked.append((request.url.path, request.url.params["q"]))
        if request.url.path.endswith("/auditlog-exts"):
            return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        return httpx.Response(200, json=[
            {"resource": "p/app:v1", "operation": "pull", "op_time": "2026-06-30T11:00:00.000Z", "username": "ci"},
            {"resource": "p/app:v1", "operation": "pull", "op_time": "2026-05-01T11:00:00.000Z"}])  # too old

    with HarborClient("http://harbor.test", "admin", "x", transport=httpx.MockTransport(harbor_2_12)) as client:
        pulls = _pulls(client, NOW - DAY, NOW)
    assert pulls == [Pull("p/app:v1", NOW - timedelta(hours=1), "ci")]
    query = "operation=pull,op_time=[2026-06-29 12:00:00~2026-06-30 12:00:00]"
    assert asked == [("/api/v2.0/auditlog-exts", query), ("/api/v2.0/audit-logs", query)]


def test_the_pull_querys_upper_end_is_rounded_up_to_a_whole_second():
    """Harbor's op_time range takes whole seconds: a pull in the report's own second stays in."""
    import httpx

    from berth.ascode.report import _pulls
    from berth.client import HarborClient

    asked: list[str] = []
    pulled_at = NOW + timedelta(milliseconds=200)

    def registry(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["q"])
        return httpx.Response(200, json=[
            {"resource": "p/app:v1", "operation": "pull", "op_time": "2026-06-30T12:00:00.200Z"}])

    with HarborClient("http://registry.test", "admin", "x", transport=httpx.MockTransport(registry)) as client:
        pulls = _pulls(client, NOW - DAY, NOW + timedelta(milliseconds=500))
    assert asked == ["operation=pull,op_time=[2026-06-29 12:00:00~2026-06-30 12:00:01]"]
    assert [p.at for p in pulls] == [pulled_at]
