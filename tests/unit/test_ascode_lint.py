"""`berth lint`: each rule against a file that breaks every rule once and a file that passes clean,
production detection, the linter's configuration, the findings' places in the file, the exit codes,
and the SARIF output against the SARIF 2.1.0 schema (vendored: no network)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from berth.ascode.lint import RULES, ConfigInvalid, LintConfig, fails, lint, parse_config
from berth.ascode.lint_report import as_json, as_sarif, as_text
from berth.ascode.model import Document, load_file
from berth.cli.main import app

FIXTURES = Path(__file__).parent.parent / "fixtures"
CLEAN, BROKEN = FIXTURES / "lint" / "clean.yaml", FIXTURES / "lint" / "broken.yaml"
#: where BRT001's finding points: web+ci-forever's `duration: -1`, indented under its robot
FOREVER = next(n for n, text in enumerate(BROKEN.read_text().splitlines(), 1) if text == "    duration: -1")

#: what broken.yaml breaks: rule -> the object (kind, name) that breaks it
BROKEN_OBJECTS = {
    "BRT001": ("robot", "web+ci-forever"),
    "BRT002": ("robot", "web+ci-wild"),
    "BRT003": ("robot", "web+ci-admin"),
    "BRT004": ("project", "prod-api"),
    "BRT005": ("project", "web"),
    "BRT006": ("project", "payments-prod"),
    "BRT007": ("project", "tools"),
    "BRT008": ("project", "cache"),
    "BRT009": ("system", "gc_schedule"),
    "BRT010": ("replication_policy", "mirror-all"),
    "BRT011": ("replication_policy", "mirror-insecure"),
    "BRT012": ("replication_policy", "mirror-fast"),
    "BRT013": ("system", "cve_allowlist"),
    "BRT014": ("project", "production"),
}


def _load(path: Path) -> tuple[dict, Document]:
    document = load_file(path)
    return document.data, document


def _ids(document: dict, config: LintConfig | None = None) -> list[str]:
    return [f.rule for f in lint(document, config)]


def _project(**fields) -> dict:
    """A project that passes every rule, production or not, with `fields` on top."""
    project = {
        "public": False,
        "metadata": {"auto_scan": "true", "prevent_vul": "true", "severity": "high",
                     "enable_content_trust_cosign": "true"},
        "immutable_rules": [{"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*.*.*"}],
                             "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                                 "pattern": "**"}]}}],
        "retention": {"rules": [{"template": "always"}]},
    }
    project.update(fields)
    return project


def _doc(**sections) -> dict:
    document = {"system": {"gc_schedule": {"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": True}}}}
    document.update(sections)
    return document


# --- the two files --------------------------------------------------------------------------------


def test_the_clean_file_has_no_findings() -> None:
    document, _ = _load(CLEAN)
    assert lint(document) == []


def test_the_broken_file_breaks_each_rule_exactly_once_on_the_object_meant() -> None:
    document, _ = _load(BROKEN)
    findings = lint(document)
    assert [f.rule for f in findings] == [rule.id for rule in RULES]
    assert {f.rule: (f.kind, f.name) for f in findings} == BROKEN_OBJECTS
    assert {f.rule: f.severity for f in findings} == {rule.id: rule.severity for rule in RULES}


def test_every_rule_has_a_stable_id_a_name_a_why_and_a_fix() -> None:
    assert [rule.id for rule in RULES] == [f"BRT{n:03d}" for n in range(1, len(RULES) + 1)]
    assert len({rule.name for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.severity in ("error", "warning", "note")
        assert rule.why and "\n" not in rule.why and rule.fix and "\n" not in rule.fix


def test_findings_point_at_their_object_in_the_file() -> None:
    document, file = _load(BROKEN)
    lines = BROKEN.read_text().splitlines()
    for finding in lint(document):
        line, _ = file.where(finding.path)
        # the object the finding is in: the nearest key at or above it indented as objects are (2)
        owner = next(text for text in reversed(lines[:line]) if re.match(r"  [\w+-]+:", text))
        assert owner.strip().startswith(f"{finding.name}:"), (finding, owner)
    ci_forever = next(f for f in lint(document) if f.rule == "BRT001")
    line, column = file.where(ci_forever.path)
    assert lines[line - 1][column - 1:].startswith("duration: -1")


# --- the rules one by one ---------------------------------------------------------------------------


@pytest.mark.parametrize(("duration", "found"), [(90, False), (30, False), (91, True), (-1, True), (None, False)])
def test_robot_duration_is_at_most_90_days_and_never_forever(duration, found) -> None:
    robot = {"permissions": [{"kind": "project", "namespace": "web",
                              "access": [{"resource": "repository", "action": "pull"}]}]}
    if duration is not None:
        robot["duration"] = duration
    assert ("BRT001" in _ids(_doc(robots={"r": robot}))) is found


@pytest.mark.parametrize(("permission", "rule"), [
    ({"kind": "project", "namespace": "web", "access": [{"resource": "*", "action": "pull"}]}, "BRT002"),
    ({"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}, "BRT002"),
    ({"kind": "project", "namespace": "web", "access": [{"resource": "robot", "action": "create"}]}, "BRT003"),
    ({"kind": "project", "namespace": "web", "access": [{"resource": "project", "action": "delete"}]}, "BRT003"),
    ({"kind": "project", "namespace": "web",
      "access": [{"resource": "member", "action": "create", "effect": "deny"}]}, None),
    ({"kind": "project", "namespace": "web", "access": [{"resource": "repository", "action": "delete"}]}, None),
])
def test_robot_permissions_are_least_privilege(permission, rule) -> None:
    ids = _ids(_doc(robots={"r": {"duration": 30, "permissions": [permission]}}))
    assert ids == ([rule] if rule else [])


@pytest.mark.parametrize(("metadata", "found"), [
    ({"prevent_vul": "true", "severity": "high"}, False),
    ({"prevent_vul": True, "severity": "critical"}, False),
    ({"prevent_vul": "true", "severity": "low"}, True),
    ({"prevent_vul": "true"}, True),
    ({"prevent_vul": "false", "severity": "high"}, True),
])
def test_production_projects_prevent_vulnerable_pulls(metadata, found) -> None:
    project = _project(metadata={"auto_scan": "true", "enable_content_trust": "true", **metadata})
    assert _ids(_doc(projects={"prod": project})) == (["BRT004"] if found else [])


def test_content_trust_by_switch_or_enforced_policy_on_production_projects() -> None:
    unsigned = {"auto_scan": "true", "prevent_vul": "true", "severity": "high"}
    assert _ids(_doc(projects={"prod": _project(metadata=unsigned)})) == ["BRT006"]
    assert _ids(_doc(projects={"prod": _project(metadata=unsigned, trust_policy={"mode": "audit"})})) == ["BRT006"]
    assert _ids(_doc(projects={"prod": _project(metadata=unsigned, trust_policy={"mode": "enforce"})})) == []
    assert _ids(_doc(projects={"prod": _project(metadata={**unsigned, "enable_content_trust": "true"})})) == []
    assert _ids(_doc(projects={"dev": _project(metadata={"auto_scan": "true"})})) == []  # not production


@pytest.mark.parametrize(("tags", "repos", "found"), [
    ([{"decoration": "matches", "pattern": "v*"}], [{"decoration": "repoMatches", "pattern": "**"}], False),
    ([{"decoration": "excludes", "pattern": "latest"}], [{"decoration": "repoMatches", "pattern": "**"}], False),
    ([{"decoration": "matches", "pattern": "v*.*.*"}], [{"decoration": "repoMatches", "pattern": "team/*"}], True),
    ([{"decoration": "matches", "pattern": "release-*"}], [{"decoration": "repoMatches", "pattern": "**"}], True),
    ([{"decoration": "excludes", "pattern": "v*"}], [{"decoration": "repoMatches", "pattern": "**"}], True),
])
def test_an_immutable_rule_must_cover_release_tags_in_every_repository(tags, repos, found) -> None:
    rule = {"tag_selectors": [{"kind": "doublestar", **t} for t in tags],
            "scope_selectors": {"repository": [{"kind": "doublestar", **r} for r in repos]}}
    assert _ids(_doc(projects={"dev": _project(immutable_rules=[rule])})) == (["BRT007"] if found else [])
    assert _ids(_doc(projects={"dev": _project(immutable_rules=[{**rule, "disabled": True}])})) == ["BRT007"]


def test_every_project_scans_on_push_and_has_retention() -> None:
    assert _ids(_doc(projects={"dev": _project(metadata={})})) == ["BRT005"]
    assert _ids(_doc(projects={"dev": _project(retention={"rules": []})})) == ["BRT008"]


@pytest.mark.parametrize(("gc", "found"), [
    ({"schedule": {"type": "Weekly"}, "parameters": {"delete_untagged": True}}, False),
    ({"schedule": {"type": "Custom", "cron": "0 0 3 * * 1,4"}, "parameters": {"delete_untagged": True}}, False),
    ({"schedule": {"type": "Hourly"}, "parameters": {"delete_untagged": "true"}}, False),
    ({"schedule": {"type": "Weekly"}, "parameters": {"delete_untagged": False}}, True),
    ({"schedule": {"type": "Custom", "cron": "0 0 0 1 * *"}, "parameters": {"delete_untagged": True}}, True),
    ({"schedule": {"type": "Custom", "cron": "0 0 0 * * 0/2"}, "parameters": {"delete_untagged": True}}, False),
    ({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": True}}, True),
    ({"schedule": {"type": "Custom", "cron": "not a cron"}, "parameters": {"delete_untagged": True}}, True),
    ({"schedule": {"type": "Weekly"}, "job_parameters": '{"delete_untagged": true, "workers": 1}'}, False),
    ({"schedule": {"type": "Weekly"}, "job_parameters": '{"delete_untagged": false}'}, True),
    (None, True),
])
def test_gc_runs_at_least_weekly_and_deletes_untagged(gc, found) -> None:
    document = {"system": {"gc_schedule": gc}} if gc else {}
    assert _ids(document) == (["BRT009"] if found else [])


def test_replication_policies_have_filters_verified_tls_and_a_bandwidth_limit() -> None:
    registries = {"hub": {"url": "https://hub.example", "insecure": False},
                  "plain": {"url": "http://plain.example", "insecure": False}}
    good = {"src_registry": "hub", "filters": [{"type": "name", "value": "library/**"}], "speed": 1024}
    assert _ids(_doc(registries=registries, replication_policies={"p": good})) == []
    assert _ids(_doc(registries=registries, replication_policies={"p": {**good, "src_registry": "plain"}})) == ["BRT011"]
    assert _ids(_doc(registries=registries, replication_policies={"p": {**good, "filters": []}})) == ["BRT010"]
    assert _ids(_doc(registries=registries, replication_policies={"p": {**good, "speed": 0}})) == ["BRT012"]


def test_allowlists_expire_in_the_system_and_in_projects() -> None:
    entries = {"items": [{"cve_id": "CVE-2024-1"}, {"cve_id": "CVE-2024-2"}]}
    findings = lint(_doc(projects={"dev": _project(cve_allowlist=entries)}))
    assert [(f.rule, f.kind, f.name) for f in findings] == [("BRT013", "project", "dev")]
    assert "2 CVE allowlist entries" in findings[0].message
    assert _ids(_doc(projects={"dev": _project(cve_allowlist={**entries, "expires_at": 1798761600})})) == []
    assert _ids(_doc(projects={"dev": _project(cve_allowlist={"items": []})})) == []


def test_no_public_production_project_by_either_switch() -> None:
    assert _ids(_doc(projects={"prod": _project(public=True)})) == ["BRT014"]
    assert _ids(_doc(projects={"prod": _project(metadata={**_project()["metadata"], "public": "true"})})) == ["BRT014"]
    assert _ids(_doc(projects={"sandbox": _project(public=True)})) == []


def test_a_wrong_type_in_the_document_is_linted_not_a_crash() -> None:
    document = {"projects": ["prod"], "robots": {"r": None}, "replication_policies": "x", "system": []}
    assert _ids(document) == ["BRT009"]


# --- production detection and the configuration -----------------------------------------------------


@pytest.mark.parametrize(("name", "production"), [
    ("prod", True), ("production", True), ("prod-web", True), ("web-prod", True), ("web-production", True),
    ("product", False), ("web-prod-eu", False), ("preprod-web", False), ("dev", False),
])
def test_production_by_the_default_name_patterns(name, production) -> None:
    assert LintConfig().is_production(name, {}) is production


def test_production_by_a_configured_label_or_pattern() -> None:
    config = parse_config({"production": {"patterns": ["live-*"], "labels": ["tier-1"]}})
    assert config.is_production("live-eu", {})
    assert config.is_production("payments", {"labels": {"tier-1": {"color": "#C92100"}}})
    assert not config.is_production("prod-web", {})  # the configured patterns replace the defaults
    public = {"payments": _project(public=True, labels={"tier-1": {}})}
    assert _ids(_doc(projects=public), config) == ["BRT014"]
    assert _ids(_doc(projects=public)) == []


def test_config_overrides_severities_disables_rules_and_sets_robot_days() -> None:
    document, _ = _load(BROKEN)
    config = parse_config(yaml.safe_load(
        "rules: {BRT001: note, replication-bandwidth: off, public-production: warning}\nmax_robot_days: 20\n"))
    findings = {f.rule: f for f in lint(document, config)}
    assert "BRT012" not in findings
    assert findings["BRT001"].severity == "note"
    assert findings["BRT014"].severity == "warning"
    robots = [(f.name, f.rule) for f in lint(document, config) if f.kind == "robot" and f.rule == "BRT001"]
    assert robots == [("web+ci-forever", "BRT001"), ("web+ci-wild", "BRT001"), ("web+ci-admin", "BRT001")]  # 30 > 20 days


@pytest.mark.parametrize("raw", [
    {"rules": {"BRT999": "error"}}, {"rules": {"BRT001": "fatal"}}, {"severity": {}}, {"max_robot_days": 0},
    {"production": {"patterns": "prod"}}, ["BRT001"],
])
def test_a_bad_config_is_refused_with_the_reason(raw) -> None:
    with pytest.raises(ConfigInvalid):
        parse_config(raw)


def test_fail_on_threshold() -> None:
    document, _ = _load(BROKEN)
    findings = lint(document)
    notes = [f for f in findings if f.severity == "note"]
    assert fails(findings, "error") and fails(notes, "note") and not fails(notes, "warning")
    assert not fails(findings, "never") and not fails([], "note")


# --- outputs ---------------------------------------------------------------------------------------------


def test_sarif_output_is_valid_sarif_2_1_0() -> None:
    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())
    document, file = _load(BROKEN)
    sarif = json.loads(as_sarif(lint(document), "registry.yaml", file.where))
    jsonschema.Draft4Validator(schema).validate(sarif)
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [rule.id for rule in RULES]
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])
    first = run["results"][0]
    assert (first["ruleId"], first["level"]) == ("BRT001", "error")
    region = first["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "registry.yaml"
    assert region["region"] == {"startLine": FOREVER, "startColumn": 5}
    live = json.loads(as_sarif(lint(document), "https://registry.example"))  # the live state has no file
    jsonschema.Draft4Validator(schema).validate(live)
    assert "physicalLocation" not in live["runs"][0]["results"][0]["locations"][0]


def test_text_and_json_outputs() -> None:
    document, file = _load(BROKEN)
    findings = lint(document)
    text = as_text(findings, "registry.yaml", file.where)
    assert text.splitlines()[0] == f"registry.yaml:{FOREVER}:5: error BRT001 robot web+ci-forever: never expires (duration -1)"
    assert text.splitlines()[-1] == "7 errors, 6 warnings, 1 note"
    assert as_text([], "registry.yaml", file.where) == "no findings\n"
    rows = json.loads(as_json(findings, "registry.yaml", file.where))
    assert rows["summary"] == {"error": 7, "warning": 6, "note": 1}
    assert rows["findings"][0] | {"fix": ""} == {
        "rule": "BRT001", "name": "robot-expiry", "severity": "error", "kind": "robot", "object": "web+ci-forever",
        "message": "never expires (duration -1)", "fix": "", "path": ["robots", "web+ci-forever", "duration"],
        "file": "registry.yaml", "line": FOREVER, "column": 5}


# --- the command ----------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_exit_codes(tmp_path: Path) -> None:
    assert runner.invoke(app, ["lint", str(CLEAN)]).exit_code == 0
    broken = runner.invoke(app, ["lint", str(BROKEN)])
    assert broken.exit_code == 1 and f"{BROKEN}:{FOREVER}:5: error BRT001" in broken.output
    assert runner.invoke(app, ["lint", str(BROKEN), "--fail-on", "never"]).exit_code == 0
    notes_only = tmp_path / "notes.yaml"
    notes_only.write_text("rules: {%s}\n" % ", ".join(f"{rule.id}: off" for rule in RULES if rule.severity != "note"))
    args = ["lint", str(BROKEN), "--config", str(notes_only)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args, "--fail-on", "warning"]).exit_code == 0
    assert runner.invoke(app, [*args, "--fail-on", "note"]).exit_code == 1


def test_cli_writes_sarif_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "berth.sarif"
    result = runner.invoke(app, ["lint", str(BROKEN), "--format", "sarif", "-o", str(out), "--fail-on", "never"])
    assert result.exit_code == 0 and result.output == ""
    assert len(json.loads(out.read_text())["runs"][0]["results"]) == len(RULES)


def test_cli_bad_input_is_exit_2_with_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text("projects:\n  web: {public: true\n")
    result = runner.invoke(app, ["lint", str(bad)])
    assert result.exit_code == 2 and re.search(rf"{re.escape(str(bad))}:3:1: ", result.output)
    assert runner.invoke(app, ["lint", str(tmp_path / "missing.yaml")]).exit_code == 2
    both = runner.invoke(app, ["lint", str(CLEAN), "--live"])
    assert both.exit_code == 2 and "one of them" in both.output
    assert runner.invoke(app, ["lint"]).exit_code == 2
    config = tmp_path / "lint.yaml"
    config.write_text("rules: {BRT999: off}\n")
    result = runner.invoke(app, ["lint", str(CLEAN), "--config", str(config)])
    assert result.exit_code == 2 and "unknown rule 'BRT999'" in result.output


def test_the_readme_table_lists_every_rule_as_the_linter_has_it() -> None:
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    rows = re.findall(r"^\| `(BRT\d+)` \| `([\w-]+)` \| (\w+) \| (.*) \| (.*) \|$", readme, re.MULTILINE)
    assert [(i, n, s, w.replace("\\*", "*"), f.replace("\\*", "*")) for i, n, s, w, f in rows] == [
        (rule.id, rule.name, rule.severity, rule.why, rule.fix) for rule in RULES]


def test_a_proxy_cache_needs_no_immutability_rule_nor_a_retention_of_its_own():
    document = {"version": 1, "projects": {"hub-cache": {"registry": "dockerhub", "metadata": {"auto_scan": "true"}}}}
    assert [f.rule for f in lint(document) if f.kind == "project"] == []
    document["projects"]["hub-cache"]["retention"] = {"rules": []}  # named, and empty: flagged
    assert [f.rule for f in lint(document) if f.rule in ("BRT007", "BRT008")] == ["BRT008"]


def test_the_readmes_seed_file_lints_clean():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```yaml\n# registry.yaml") + len("```yaml\n")
    text = readme[start:readme.index("```", start)]
    assert [f"{f.rule} {f.name}" for f in lint(yaml.safe_load(text))] == []
