"""Retention decisions (berth.retention) against cases from Harbor's documented behaviour: each template,
tag, label and repository selectors, untagged artifacts, several rules combined with "or", and the
validation that refuses a bad policy before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from berth.retention.evaluate import DELETE, ERROR, IMMUTABLE, RETAIN, Candidate, evaluate_retention, log_table, rules_for
from berth.retention.policy import (
    MAX_RULES,
    PolicyInvalid,
    RulesConflict,
    check_rule_count,
    metadata,
    parse_policy,
    parse_rule,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86400


def ago(days: float) -> int:
    return int((NOW - timedelta(days=days)).timestamp())


def rule(template: str, n: int | None = None, *tags: dict, repos: list[dict] | None = None, disabled: bool = False) -> dict:
    return {
        "action": "retain", "template": template, "disabled": disabled,
        "params": {} if n is None else {template: n},
        "tag_selectors": list(tags) or [tag("matches", "**")],
        "scope_selectors": {"repository": repos or [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }


def tag(decoration: str, pattern: str, untagged: bool | None = None) -> dict:
    extras = "" if untagged is None else ('{"untagged":true}' if untagged else '{"untagged":false}')
    return {"kind": "doublestar", "decoration": decoration, "pattern": pattern, "extras": extras}


def label(decoration: str, names: str) -> dict:
    return {"kind": "label", "decoration": decoration, "pattern": names}


def art(id: int, *tags: str, pushed: float = 100, pulled: float | None = None, labels: tuple[str, ...] = (),
        children: tuple[str, ...] = ()) -> Candidate:
    return Candidate(id, f"sha256:{id:064x}", "app", "proj", tuple(tags), labels, ago(pushed),
                     0 if pulled is None else ago(pulled), ago(pushed), children=children)


#: a repository as in Harbor's tag retention documentation: releases, dev builds, one untagged artifact
REPO = [
    art(1, "v1.0", pushed=60, pulled=1),
    art(2, "v1.1", pushed=30, pulled=20),
    art(3, "v2.0", "latest", pushed=10),
    art(4, "dev-abc", pushed=5, pulled=2, labels=("keep",)),
    art(5, "dev-def", pushed=2),
    art(6, pushed=1),  # untagged
]

CASES = [
    # (name, rules, retained ids)
    ("latestPushedK keeps the K most recently pushed", [rule("latestPushedK", 2)], {5, 6}),
    ("latestPushedK 0 keeps nothing", [rule("latestPushedK", 0)], set()),
    ("latestPulledN keeps the N most recently pulled", [rule("latestPulledN", 2)], {1, 4}),
    ("nDaysSinceLastPush keeps what was pushed within N days", [rule("nDaysSinceLastPush", 7)], {4, 5, 6}),
    ("nDaysSinceLastPull keeps what was pulled within N days", [rule("nDaysSinceLastPull", 3)], {1, 4}),
    ("always keeps everything selected", [rule("always")], {1, 2, 3, 4, 5, 6}),
    ("latestActiveK orders by the later of push and pull", [rule("latestActiveK", 2)], {1, 6}),
    ("lastXDays keeps what was pushed after the cutoff", [rule("lastXDays", 5)], {5, 6}),
    ("matches selects by tag, and untagged artifacts by default",
     [rule("always", None, tag("matches", "v*"))], {1, 2, 3, 6}),
    ("matches with untagged false leaves untagged artifacts out",
     [rule("always", None, tag("matches", "v*", untagged=False))], {1, 2, 3}),
    ("excludes selects artifacts with a tag that does not match; not untagged ones by default",
     [rule("always", None, tag("excludes", "dev-*"))], {1, 2, 3}),
    ("excludes with untagged true selects untagged artifacts",
     [rule("always", None, tag("excludes", "dev-*", untagged=True))], {1, 2, 3, 6}),
    ("an artifact is selected when any of its tags matches", [rule("always", None, tag("matches", "latest"))], {3, 6}),
    ("brace alternatives", [rule("always", None, tag("matches", "{v1.0,dev-def}", untagged=False))], {1, 5}),
    ("tag selectors are ANDed", [rule("always", None, tag("matches", "v*", untagged=False), tag("excludes", "v1.*"))],
     {3}),
    ("withLabels selects labelled artifacts", [rule("always", None, label("withLabels", "keep"))], {4}),
    ("withoutLabels selects the others", [rule("latestPushedK", 1, label("withoutLabels", "keep"))], {6}),
    ("rules are combined with or: retained by any, kept",
     [rule("latestPushedK", 1, tag("matches", "v*", untagged=False)), rule("nDaysSinceLastPull", 3)], {1, 3, 4}),
    ("a rule over nothing retains nothing: everything else goes",
     [rule("always", None, tag("matches", "nope", untagged=False))], set()),
]


@pytest.mark.parametrize(("name", "rules", "kept"), CASES, ids=[c[0] for c in CASES])
def test_harbor_examples(name: str, rules: list[dict], kept: set[int]) -> None:
    parsed = [parse_rule(n, r) for n, r in enumerate(rules)]
    outcome = evaluate_retention(parsed, REPO, NOW)
    assert {d.candidate.id for d in outcome.decisions if d.action == RETAIN} == kept
    assert {c.id for c in outcome.deleted} == {c.id for c in REPO} - kept
    assert outcome.total == len(REPO) and outcome.retained == len(kept)


def test_with_no_rule_for_the_repository_nothing_is_touched() -> None:
    outcome = evaluate_retention([], REPO, NOW)
    assert not outcome.deleted and outcome.retained == len(REPO)


def test_immutable_artifacts_are_kept_and_counted_as_retained() -> None:
    outcome = evaluate_retention([parse_rule(0, rule("latestPushedK", 1))], REPO, NOW, immutable={REPO[0].digest})
    actions = {d.candidate.id: d.action for d in outcome.decisions}
    assert actions[1] == IMMUTABLE and actions[6] == RETAIN
    assert {c.id for c in outcome.deleted} == {2, 3, 4, 5}
    assert outcome.retained == 2


def test_an_index_that_stays_keeps_the_tagged_child_it_lists() -> None:
    child = art(10, "child", pushed=50)
    index = art(11, "multi", pushed=1, children=(child.digest,))
    outcome = evaluate_retention([parse_rule(0, rule("latestPushedK", 1))], [child, index], NOW)
    assert {d.candidate.id: d.action for d in outcome.decisions} == {10: ERROR, 11: RETAIN}


def test_an_index_that_goes_is_deleted_before_its_tagged_child() -> None:
    child = art(10, "child", pushed=50)
    index = art(11, "multi", pushed=40, children=(child.digest,))
    keep = art(12, "new", pushed=1)
    outcome = evaluate_retention([parse_rule(0, rule("latestPushedK", 1))], [child, index, keep], NOW)
    assert [c.id for c in outcome.deleted] == [11, 10]


def test_repository_scope_selectors() -> None:
    policy = parse_policy(_policy([
        rule("always", repos=[{"kind": "doublestar", "decoration": "repoMatches", "pattern": "app-*"}]),
        rule("always", repos=[{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "**/tmp"}]),
        rule("always", disabled=True),
    ]))
    assert len(rules_for(policy, "app-1", "proj")) == 2
    assert len(rules_for(policy, "team/tmp", "proj")) == 0
    assert len(rules_for(policy, "team/web", "proj")) == 1
    one = parse_policy(_policy([rule("always", repos=[
        {"kind": "doublestar", "decoration": "repoMatches", "pattern": "team/**"}])]))
    assert rules_for(one, "team/a/b", "proj") and not rules_for(one, "other", "proj")


def test_log_table_marks_every_artifact() -> None:
    outcome = evaluate_retention([parse_rule(0, rule("latestPushedK", 2))], REPO, NOW)
    table = log_table(outcome)
    assert "Retention" in table[0] and len(table) == 2 + len(REPO)
    assert sum(DELETE in line for line in table[2:]) == 4


# --- validation ------------------------------------------------------------------------------------------


def _policy(rules: list[dict], cron: str = "") -> dict:
    return {"algorithm": "or", "rules": rules, "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
            "scope": {"level": "project", "ref": 1}}


def test_at_most_15_rules() -> None:
    rules = [rule("latestPushedK", n) for n in range(MAX_RULES + 1)]
    with pytest.raises(PolicyInvalid, match="only 15 rules are allowed at most"):
        check_rule_count(_policy(rules))
    parse_policy(_policy(rules[:MAX_RULES]))


def test_duplicate_rules_conflict() -> None:
    with pytest.raises(RulesConflict, match="rule 1 is conflict with rule 0"):
        check_rule_count(_policy([{**rule("always"), "id": 1}, {**rule("always"), "id": 2}]))


@pytest.mark.parametrize(("bad", "message"), [
    ({"template": "keepEverything"}, "rule evaluator keepEverything is not registered"),
    ({"template": ""}, "empty rule template ID"),
    ({"params": {}}, "missing required parameter latestPushedK"),
    ({"params": {"latestPushedK": "3"}}, "latestPushedK type error"),
    ({"params": {"latestPushedK": -1}}, "latestPushedK is less than zero"),
    ({"params": {"latestPushedK": 32767}}, "latestPushedK is too large"),
    ({"action": "delete"}, "not supported"),
    ({"tag_selectors": []}, "at least one tag selector"),
    ({"tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": "x"}]}, "selector regex is not registered"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "x"}]}, "not supported"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "[abc"}]}, "syntax error in pattern"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "{a,b"}]}, "syntax error in pattern"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "*", "extras": "nope"}]},
     "invalid selector extras"),
    ({"scope_selectors": {"project": []}}, "scope selector 'project' is not supported"),
    ({"scope_selectors": {"repository": [{"kind": "label", "decoration": "withLabels", "pattern": "x"}]}},
     "selector label is not registered"),
])
def test_bad_rules_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(PolicyInvalid, match=message):
        parse_policy(_policy([{**rule("latestPushedK", 3), **bad}]))


@pytest.mark.parametrize("cron", ["* * * * *", "1 0 0 * * *", "0 0 0 30 2 *", "nonsense"])
def test_bad_cron_is_refused(cron: str) -> None:
    with pytest.raises(PolicyInvalid, match="invalid cron string for scheduled tag retention"):
        parse_policy(_policy([rule("always")], cron))


def test_scope_must_be_a_project() -> None:
    with pytest.raises(PolicyInvalid, match="scope system is not support"):
        parse_policy({**_policy([]), "scope": {"level": "system", "ref": 0}})
    with pytest.raises(PolicyInvalid, match="invalid Project id"):
        parse_policy({**_policy([]), "scope": {"level": "project", "ref": 0}})


def test_metadata_advertises_harbors_five_templates() -> None:
    body = metadata()
    assert [t["rule_template"] for t in body["templates"]] == [
        "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]
    assert body["tag_selectors"][0]["decorations"] == ["matches", "excludes"]
    assert body["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]
