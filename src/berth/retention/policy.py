"""A retention policy as Harbor stores it (src/pkg/retention/policy/models.go, rule/models.go), read
from the API's RetentionPolicy body and checked before anything is stored (pure).

Harbor's v2 handler checks only the rule count, duplicate rules and the cron string; a bad template
or selector fails later, in the job. berth refuses those up front with a 400 naming the problem, using
the rules Harbor's own validators state (rule/index, the evaluators' Valid, the selector index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from berth.patterns import PatternInvalid, check
from berth.schedules import ScheduleInvalid, validate_cron

#: Harbor's limit (server/v2.0/handler/retention.go)
MAX_RULES = 15
ALGORITHM_OR = "or"
RETAIN = "retain"
TRIGGER_SCHEDULE = "Schedule"
SCOPE_PROJECT = "project"
#: the scope selector key the launcher reads
REPOSITORY = "repository"
DOUBLESTAR, LABEL = "doublestar", "label"
MATCHES, EXCLUDES = "matches", "excludes"
REPO_MATCHES, REPO_EXCLUDES = "repoMatches", "repoExcludes"
NS_MATCHES, NS_EXCLUDES = "nsMatches", "nsExcludes"
WITH_LABELS, WITHOUT_LABELS = "withLabels", "withoutLabels"
TAG_DECORATIONS = {DOUBLESTAR: (MATCHES, EXCLUDES), LABEL: (WITH_LABELS, WITHOUT_LABELS)}
SCOPE_DECORATIONS = {DOUBLESTAR: (REPO_MATCHES, REPO_EXCLUDES, NS_MATCHES, NS_EXCLUDES)}


class PolicyInvalid(ValueError):
    """A 400: the message says what is wrong."""


class RulesConflict(ValueError):
    """A 409: two rules are the same (Harbor's checkRuleConflict)."""


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    #: the parameter's unit; None for a template without parameter
    unit: str | None
    default: int
    #: the largest value Harbor's validator accepts (None: it has none)
    maximum: int | None
    #: shown in /retentions/metadatas (the rest Harbor accepts without advertising)
    advertised: bool
    display_text: str = ""


#: every template Harbor registers (src/pkg/retention/policy/rule/index/index.go), in its metadata order
TEMPLATES: dict[str, Template] = {t.id: t for t in (
    Template("latestPushedK", "COUNT", 10, 32766, True, "the most recently pushed # artifacts"),
    Template("latestPulledN", "COUNT", 10, 32766, True, "the most recently pulled # artifacts"),
    Template("nDaysSinceLastPush", "DAYS", 30, 20190904, True, "pushed within the last # days"),
    Template("nDaysSinceLastPull", "DAYS", 30, 20190904, True, "pulled within the last # days"),
    Template("always", None, 0, None, True, "always"),
    # registered, not advertised: retain the K most recently pushed-or-pulled, and those pushed within X days
    Template("latestActiveK", "COUNT", 10, None, False),
    Template("lastXDays", "DAYS", 10, None, False),
)}
#: the templates whose validator Harbor runs (the others fall back to their default on a bad value)
_VALIDATED = ("latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull")


@dataclass(frozen=True, slots=True)
class Selector:
    kind: str
    decoration: str
    pattern: str
    extras: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "decoration": self.decoration, "pattern": self.pattern, "extras": self.extras}


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: dict[str, Any]
    tag_selectors: tuple[Selector, ...]
    scope_selectors: dict[str, tuple[Selector, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "priority": self.priority, "disabled": self.disabled, "action": self.action,
            "template": self.template, "params": self.params,
            "tag_selectors": [s.as_json() for s in self.tag_selectors],
            "scope_selectors": {key: [s.as_json() for s in value] for key, value in self.scope_selectors.items()},
        }

    @property
    def parameter(self) -> int:
        """The template's parameter as the evaluator takes it: the value when it is a non-negative
        number, else the template's default (Harbor's New)."""
        template = TEMPLATES[self.template]
        value = _json_int(self.params.get(self.template))
        return value if value is not None and value >= 0 else template.default


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    algorithm: str
    rules: tuple[Rule, ...]
    #: "" (no schedule) or a 6-field cron string
    cron: str
    trigger_kind: str
    trigger_settings: dict[str, Any]
    project_id: int

    def as_json(self) -> dict[str, Any]:
        """Harbor's RetentionPolicy (policy.Metadata marshalled)."""
        return {
            "id": self.id, "algorithm": self.algorithm, "rules": [rule.as_json() for rule in self.rules],
            "trigger": {"kind": self.trigger_kind, "settings": self.trigger_settings},
            "scope": {"level": SCOPE_PROJECT, "ref": self.project_id},
        }

    def with_id(self, policy_id: int) -> Policy:
        return Policy(policy_id, self.algorithm, self.rules, self.cron, self.trigger_kind, self.trigger_settings,
                      self.project_id)


@dataclass(frozen=True, slots=True)
class Scope:
    level: str
    ref: int


def read_scope(body: dict[str, Any]) -> Scope:
    """The policy's scope, checked first: access checks need its project (Harbor's messages)."""
    scope = body.get("scope")
    if not isinstance(scope, dict):
        raise PolicyInvalid("the scope of the policy is required")
    level = scope.get("level")
    if level != SCOPE_PROJECT:
        raise PolicyInvalid(f"scope {str(level)[:50]} is not support")
    ref = _json_int(scope.get("ref"))
    if ref is None or ref <= 0:
        raise PolicyInvalid(f"invalid Project id {str(scope.get('ref'))[:30]}")
    return Scope(SCOPE_PROJECT, ref)


def check_rule_count(body: dict[str, Any]) -> None:
    """Harbor's first two checks, in its order: at most 15 rules (400), no two the same (409)."""
    rules = body.get("rules") or []
    if not isinstance(rules, list):
        raise PolicyInvalid("rules must be a list")
    if len(rules) > MAX_RULES:
        raise PolicyInvalid(f"only {MAX_RULES} rules are allowed at most")
    seen: dict[str, int] = {}
    for n, rule in enumerate(rules):
        key = json.dumps({**rule, "id": 0} if isinstance(rule, dict) else rule, sort_keys=True)
        if key in seen:
            raise RulesConflict(f"rule {n} is conflict with rule {seen[key]}")
        seen[key] = n


def parse_policy(body: dict[str, Any], policy_id: int = 0) -> Policy:
    """The whole policy, validated: PolicyInvalid (400) for anything Harbor would refuse or fail on."""
    check_rule_count(body)
    scope = read_scope(body)
    algorithm = body.get("algorithm")
    if algorithm != ALGORITHM_OR:
        raise PolicyInvalid(f"algorithm {str(algorithm)[:50]!r} is not supported: only \"or\"")
    kind, settings, cron = _trigger(body.get("trigger"))
    rules = tuple(parse_rule(n, raw) for n, raw in enumerate(body.get("rules") or []))
    return Policy(policy_id, ALGORITHM_OR, rules, cron, kind, settings, scope.ref)


def load_policy(policy_id: int, data: str) -> Policy:
    """A stored policy (validated when it was stored)."""
    return parse_policy(json.loads(data), policy_id)


def _trigger(trigger: Any) -> tuple[str, dict[str, Any], str]:
    if not isinstance(trigger, dict):
        raise PolicyInvalid("the trigger of the policy is required")
    kind = trigger.get("kind")
    if kind not in (TRIGGER_SCHEDULE, "", None):
        raise PolicyInvalid(f"not support Trigger {str(kind)[:50]}")
    settings = trigger.get("settings")
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise PolicyInvalid("the trigger's settings must be an object")
    cron = settings.get("cron", "")
    if cron is None:
        cron = ""
    if not isinstance(cron, str):
        raise PolicyInvalid("invalid cron type for scheduled tag retention: must be a string")
    if cron and kind == TRIGGER_SCHEDULE:
        try:
            validate_cron(cron)
        except ScheduleInvalid as exc:
            raise PolicyInvalid(f"invalid cron string for scheduled tag retention: {cron[:100]}, error: {exc}") from None
    return kind or "", settings, cron if kind == TRIGGER_SCHEDULE else ""


def parse_rule(n: int, raw: Any) -> Rule:
    """Rule `n` of a policy body, validated."""
    if not isinstance(raw, dict):
        raise PolicyInvalid(f"rule {n} must be an object")
    template = raw.get("template")
    if not template:
        raise PolicyInvalid("empty rule template ID")
    if template not in TEMPLATES:
        raise PolicyInvalid(f"rule evaluator {str(template)[:50]} is not registered")
    action = raw.get("action")
    if action != RETAIN:
        raise PolicyInvalid(f"action {str(action)[:50]!r} of rule {n} is not supported: only \"retain\"")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise PolicyInvalid(f"the params of rule {n} must be an object")
    _check_params(template, params)
    tag_selectors = raw.get("tag_selectors")
    if not isinstance(tag_selectors, list) or not tag_selectors:
        raise PolicyInvalid(f"rule {n} needs at least one tag selector")
    tags = tuple(_selector(s, TAG_DECORATIONS, "tag") for s in tag_selectors)
    scopes_raw = raw.get("scope_selectors") or {}
    if not isinstance(scopes_raw, dict):
        raise PolicyInvalid(f"the scope_selectors of rule {n} must be an object")
    scopes: dict[str, tuple[Selector, ...]] = {}
    for key, selectors in scopes_raw.items():
        if key != REPOSITORY:
            raise PolicyInvalid(f"scope selector {str(key)[:50]!r} is not supported: only \"repository\"")
        if not isinstance(selectors, list):
            raise PolicyInvalid(f"the {key} scope selectors of rule {n} must be a list")
        scopes[key] = tuple(_selector(s, SCOPE_DECORATIONS, "scope") for s in selectors)
    return Rule(
        _json_int(raw.get("id")) or 0, _json_int(raw.get("priority")) or 0, raw.get("disabled") is True,
        RETAIN, template, params, tags, scopes,
    )


def _check_params(template: str, params: dict[str, Any]) -> None:
    """Harbor's index.Valid: the parameter named after the template is required (but for `always`);
    the four advertised count/day templates also check its type and range."""
    spec = TEMPLATES[template]
    if spec.unit is None:
        return
    if template not in params:
        raise PolicyInvalid(f"missing required parameter {template} for rule {template}")
    if template not in _VALIDATED:
        return
    value = _json_int(params[template])
    if value is None:
        raise PolicyInvalid(f"{template} type error")
    if value < 0:
        raise PolicyInvalid(f"{template} is less than zero")
    if spec.maximum is not None and value > spec.maximum:
        raise PolicyInvalid(f"{template} is too large")


def _selector(raw: Any, decorations: dict[str, tuple[str, ...]], where: str) -> Selector:
    if not isinstance(raw, dict):
        raise PolicyInvalid(f"a {where} selector must be an object")
    kind, decoration = raw.get("kind"), raw.get("decoration")
    if not kind or not decoration:
        raise PolicyInvalid("empty selector kind or decoration")
    if kind not in decorations:
        raise PolicyInvalid(f"selector {str(kind)[:50]} is not registered")
    if decoration not in decorations[kind]:
        raise PolicyInvalid(f"decoration {str(decoration)[:50]} of selector {kind} is not supported")
    pattern = raw.get("pattern")
    if pattern is None:
        pattern = ""
    if not isinstance(pattern, str):
        raise PolicyInvalid("a selector's pattern must be a string")
    extras = raw.get("extras")
    if extras is None:
        extras = ""
    if not isinstance(extras, str):
        raise PolicyInvalid("a selector's extras must be a string (JSON text)")
    if extras:
        try:
            parsed = json.loads(extras)
        except ValueError:
            raise PolicyInvalid(f"invalid selector extras {extras[:100]!r}: JSON text like {{\"untagged\":true}}") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("untagged", False), bool):
            raise PolicyInvalid(f"invalid selector extras {extras[:100]!r}: JSON text like {{\"untagged\":true}}")
    if kind == DOUBLESTAR:
        try:
            check(pattern)
        except PatternInvalid as exc:
            raise PolicyInvalid(str(exc)) from None
    return Selector(kind, decoration, pattern, extras)


def _json_int(value: Any) -> int | None:
    """Harbor's ParseJSONInt: a JSON number, truncated; anything else (a string, a bool) is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return int(value)
    return None


def metadata() -> dict[str, Any]:
    """Harbor's /retentions/metadatas answer (its handler's fixed payload)."""
    templates = []
    for template in TEMPLATES.values():
        if not template.advertised:
            continue
        params = [] if template.unit is None else [{"type": "int", "unit": template.unit, "required": True}]
        templates.append({"rule_template": template.id, "display_text": template.display_text,
                          "action": RETAIN, "params": params})
    return {
        "templates": templates,
        "scope_selectors": [{"display_text": "Repositories", "kind": DOUBLESTAR,
                             "decorations": [REPO_MATCHES, REPO_EXCLUDES]}],
        "tag_selectors": [{"display_text": "Tags", "kind": DOUBLESTAR, "decorations": [MATCHES, EXCLUDES]}],
    }
