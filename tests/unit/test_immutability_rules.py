"""Tag immutability decisions without a server: Harbor's documented examples as a table, and the
validation of rules as the API gets them."""

from __future__ import annotations

from typing import Any

import pytest

from berth.patterns import MAX_PATTERN_LENGTH
from berth.services.immutability import ImmutableRules, RuleInvalid, parse_rule


def rule(tags: str = "**", repos: str = "**", *, tag_decoration: str = "matches",
         repo_decoration: str = "repoMatches", disabled: bool = False) -> dict[str, Any]:
    return {
        "action": "immutable", "template": "immutable_template", "disabled": disabled,
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_decoration, "pattern": repos}]},
    }


def rules(*bodies: dict[str, Any]) -> ImmutableRules:
    return ImmutableRules(tuple(parse_rule(body) for body in bodies))


# (rule, repository with its project, tag, immutable?) from Harbor's documentation of tag immutability
# rules and its doublestar selector: `**` everything, `*` one path segment, `{a,b}` either, `?` one character
CASES = [
    (rule(), "library/app", "latest", True),
    (rule(repos="**"), "library/team/app", "v1", True),
    (rule(repos="*"), "library/team/app", "v1", False),  # * does not cross a /
    (rule(repos="team/**"), "library/team/app/api", "v1", True),
    (rule(repos="library/**"), "library/app", "v1", False),  # matched without the project
    (rule(repos="app"), "library/app", "v1", True),
    (rule(repos="app"), "library/app2", "v1", False),
    (rule(repos="{app,web}"), "library/web", "v1", True),
    (rule(repos="{app,web}"), "library/db", "v1", False),
    (rule(repos="app", repo_decoration="repoExcludes"), "library/app", "v1", False),
    (rule(repos="app", repo_decoration="repoExcludes"), "library/web", "v1", True),
    (rule(repos="app", repo_decoration="excludes"), "library/web", "v1", True),  # the brief's spelling
    (rule(tags="v1.?"), "library/app", "v1.2", True),
    (rule(tags="v1.?"), "library/app", "v1.10", False),
    (rule(tags="v*"), "library/app", "v2.0.1", True),
    (rule(tags="v*"), "library/app", "latest", False),
    (rule(tags="{latest,stable}"), "library/app", "stable", True),
    (rule(tags="{latest,stable}"), "library/app", "dev", False),
    (rule(tags="1.[0-9]"), "library/app", "1.7", True),
    (rule(tags="1.[0-9]"), "library/app", "1.x", False),
    (rule(tags="latest", tag_decoration="excludes"), "library/app", "latest", False),
    (rule(tags="latest", tag_decoration="excludes"), "library/app", "v1", True),
    (rule(tags="rc-*", tag_decoration="excludes"), "library/app", "rc-1", False),
    # repository and tag selectors together: both must select
    (rule(tags="release-*", repos="prod/**"), "library/prod/api", "release-3", True),
    (rule(tags="release-*", repos="prod/**"), "library/dev/api", "release-3", False),
    (rule(tags="release-*", repos="prod/**"), "library/prod/api", "nightly", False),
    (rule(tags="release-*", repos="prod/**", repo_decoration="repoExcludes"), "library/dev/api", "release-3", True),
    # a disabled rule holds nothing
    (rule(disabled=True), "library/app", "latest", False),
]


@pytest.mark.parametrize(("body", "repository", "tag", "expected"), CASES)
def test_harbor_examples(body: dict[str, Any], repository: str, tag: str, expected: bool) -> None:
    assert rules(body).immutable(repository, tag) is expected


def test_rules_are_a_union() -> None:
    both = rules(rule(tags="v*", repos="app"), rule(tags="latest", repos="web"))
    assert both.immutable_tags("p/app", ["v1", "latest", "dev"]) == {"v1"}
    assert both.immutable_tags("p/web", ["v1", "latest", "dev"]) == {"latest"}
    assert not ImmutableRules()
    assert not rules(rule(disabled=True))


def test_only_the_first_selector_of_each_kind_decides() -> None:
    body = rule(tags="v*")
    body["tag_selectors"].append({"kind": "doublestar", "decoration": "matches", "pattern": "**"})
    assert not rules(body).immutable("p/app", "latest")


@pytest.mark.parametrize(("change", "message"), [
    ({"action": "retain"}, "action"),
    ({"template": "latestPushedK"}, "template"),
    ({"tag_selectors": []}, "tag_selectors can not be empty"),
    ({"tag_selectors": None}, "tag_selectors can not be empty"),
    ({"tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": "x"}]}, "kind"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "x"}]}, "decoration"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": ""}]}, "pattern can not be empty"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "x" * (MAX_PATTERN_LENGTH + 1)}]},
     "longer"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "{1,2,3,4,5,6,7,8,9,0}" * 4}]},
     "not a valid doublestar pattern"),
    ({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v[0-9"}]},
     "not a valid doublestar pattern"),  # Harbor's doublestar: ErrBadPattern (wcmatch alone reads it literally)
    ({"scope_selectors": {}}, "scope_selectors can not be empty"),
    ({"scope_selectors": {"repository": []}}, "scope_selectors.repository can not be empty"),
    ({"scope_selectors": {"namespace": [{"kind": "doublestar", "decoration": "nsMatches", "pattern": "x"}]}},
     "only 'repository'"),
    ({"priority": 2**40}, "priority"),
])
def test_invalid_rules_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleInvalid, match=message):
        parse_rule({**rule(), **change})


def test_action_and_template_default_to_their_one_value() -> None:
    body = rule()
    del body["action"], body["template"]
    spec = parse_rule(body)
    assert (spec.action, spec.template) == ("immutable", "immutable_template")


def test_duplicates_share_a_fingerprint_whatever_the_priority_or_switch() -> None:
    first = parse_rule({**rule(tags="v*"), "priority": 1})
    second = parse_rule({**rule(tags="v*"), "priority": 7, "disabled": True})
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint != parse_rule(rule(tags="v?")).fingerprint
