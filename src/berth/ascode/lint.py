"""The registry linter: an administrator's best practices as rules over a registry.yaml document.

Each rule is a pure function from the document (plain data, the format of docs/registry-as-code.md)
and the linter's configuration to findings. The same rules lint a file and, through
`export_document`, a registry's live state: `lint(document, config)`.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from berth.patterns import PatternInvalid, matches
from berth.schedules import PRESETS, ScheduleInvalid, validate_cron
from berth.security.roles import ROLE_PERMISSIONS, Role

SEVERITIES = ("error", "warning", "note")
#: `--fail-on` thresholds: a finding at this severity or above fails the run
THRESHOLDS = (*SEVERITIES, "never")
DEFAULT_PRODUCTION_PATTERNS = ("prod", "production", "prod-*", "*-prod", "*-production")
DEFAULT_MAX_ROBOT_DAYS = 90
#: release tags an immutability rule has to protect (what `v*.*.*` stands for)
RELEASE_TAG_SAMPLES = ("v1.2.3", "v10.20.30")
#: repositories a rule scope has to cover to count as "every repository"
REPOSITORY_SAMPLES = ("web", "team/web", "team/web/api")
#: what only a project admin may change (Harbor's role table: the admin's permissions a maintainer
#: lacks, reading left out): members, robots, project settings, webhooks
ADMIN_ONLY = frozenset(
    (p.resource, p.action)
    for p in ROLE_PERMISSIONS[Role.PROJECT_ADMIN] - ROLE_PERMISSIONS[Role.MAINTAINER]
    if p.action not in ("read", "list")
)
#: where the walk over a GC cron's ticks starts (any fixed time: a cron repeats every 400 years)
_LINT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_SEVERITY_RANK = {"error": 0, "warning": 1, "note": 2}


class ConfigInvalid(ValueError):
    """The linter's configuration names an unknown key, rule or severity; the message says which."""


@dataclass(frozen=True, slots=True)
class LintConfig:
    production_patterns: tuple[str, ...] = DEFAULT_PRODUCTION_PATTERNS
    production_labels: tuple[str, ...] = ()
    max_robot_days: int = DEFAULT_MAX_ROBOT_DAYS
    #: rule id -> severity, or "off" for a disabled rule
    severities: Mapping[str, str] = field(default_factory=dict)

    def is_production(self, name: str, project: Mapping[str, Any]) -> bool:
        """A project is production when its name matches a pattern or it has one of the labels."""
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.production_patterns):
            return True
        labels = project.get("labels")
        return isinstance(labels, Mapping) and any(label in labels for label in self.production_labels)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str
    #: the object's kind (project, robot, replication_policy, system) and name
    kind: str
    name: str
    message: str
    #: where in the document: the object, or the field the finding is about
    path: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: str
    why: str
    fix: str
    check: Callable[[Mapping[str, Any], LintConfig], Iterator[tuple[str, str, str, tuple[str | int, ...]]]]


# --- reading the document defensively (a linter reports, it does not crash on a wrong type) ------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(document: Mapping[str, Any], kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, body in _mapping(document.get(kind)).items():
        yield str(name), _mapping(body)


def _true(value: Any) -> bool:
    """Harbor's project metadata are strings ("true"); a YAML boolean counts too."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _projects(document: Mapping[str, Any], config: LintConfig, production_only: bool = False):
    for name, project in _items(document, "projects"):
        if not production_only or config.is_production(name, project):
            yield name, project, _mapping(project.get("metadata"))


# --- the rules -------------------------------------------------------------------------------------

Hit = tuple[str, str, str, tuple[str | int, ...]]  # kind, name, message, path


def _robot_expiry(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, robot in _items(document, "robots"):
        duration = robot.get("duration")
        path = ("robots", name, "duration")
        if duration == -1:
            yield "robot", name, "never expires (duration -1)", path
        elif isinstance(duration, int) and duration > config.max_robot_days:
            yield "robot", name, f"expires after {duration} days (at most {config.max_robot_days})", path


def _permissions(robot: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
    permissions = robot.get("permissions")
    for index, permission in enumerate(permissions if isinstance(permissions, list) else []):
        permission = _mapping(permission)
        access = permission.get("access")
        for grant in access if isinstance(access, list) else []:
            yield index, permission, _mapping(grant)


def _robot_wildcard(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, robot in _items(document, "robots"):
        wild: list[str] = []
        first: int | None = None
        for index, permission, grant in _permissions(robot):
            found = [f"{what} *" for what in ("resource", "action") if grant.get(what) == "*"]
            if permission.get("namespace") == "*" and permission.get("kind") == "project":
                found.append("namespace * (every project)")
            for item in found:
                if item not in wild:
                    wild.append(item)
            if found and first is None:
                first = index
        if wild:
            yield "robot", name, f"wildcard permission: {', '.join(wild)}", ("robots", name, "permissions", first or 0)


def _robot_project_admin(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, robot in _items(document, "robots"):
        granted = sorted(
            {
                f"{grant.get('resource')}:{grant.get('action')}"
                for _, permission, grant in _permissions(robot)
                if permission.get("kind", "project") == "project"
                and (grant.get("resource"), grant.get("action")) in ADMIN_ONLY
                and grant.get("effect", "allow") != "deny"
            }
        )
        if granted:
            shown = ", ".join(granted[:4]) + (f" and {len(granted) - 4} more" if len(granted) > 4 else "")
            yield "robot", name, f"holds project-admin permissions: {shown}", ("robots", name, "permissions")


def _prevent_vulnerable(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, _, metadata in _projects(document, config, production_only=True):
        severity = str(metadata.get("severity", "")).lower()
        if not _true(metadata.get("prevent_vul")):
            yield "project", name, "production project does not prevent pulling vulnerable images (prevent_vul)", (
                "projects", name, "metadata", "prevent_vul")
        elif severity not in ("high", "critical"):
            shown = severity or "not set"
            yield "project", name, f"prevent_vul severity is {shown} (high or critical)", (
                "projects", name, "metadata", "severity")


def _auto_scan(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, _, metadata in _projects(document, config):
        if not _true(metadata.get("auto_scan")):
            yield "project", name, "images are not scanned on push (auto_scan)", ("projects", name, "metadata", "auto_scan")


def _content_trust(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, project, metadata in _projects(document, config, production_only=True):
        switches = _true(metadata.get("enable_content_trust")) or _true(metadata.get("enable_content_trust_cosign"))
        policy = _mapping(project.get("trust_policy")).get("mode") == "enforce"
        if not (switches or policy):
            yield "project", name, "production project pulls unsigned images (no content trust, no enforced trust policy)", (
                "projects", name)


def _release_tags_immutable(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, project, _ in _projects(document, config):
        if project.get("registry"):
            continue  # a proxy cache: nobody pushes there, its tags are the upstream's
        rules = project.get("immutable_rules")
        if not any(_protects_release_tags(_mapping(rule)) for rule in (rules if isinstance(rules, list) else [])):
            yield "project", name, "no immutability rule protects release tags (v*.*.*)", ("projects", name)


def _protects_release_tags(rule: Mapping[str, Any]) -> bool:
    if rule.get("disabled") is True:
        return False
    tags = rule.get("tag_selectors")
    scopes = _mapping(rule.get("scope_selectors")).get("repository")
    tag_ok = any(
        _selects_all(_mapping(s), RELEASE_TAG_SAMPLES, "matches", "excludes") for s in (tags if isinstance(tags, list) else [])
    )
    repo_ok = any(
        _selects_all(_mapping(s), REPOSITORY_SAMPLES, "repoMatches", "repoExcludes")
        for s in (scopes if isinstance(scopes, list) else [])
    )
    return tag_ok and repo_ok


def _selects_all(selector: Mapping[str, Any], samples: tuple[str, ...], include: str, exclude: str) -> bool:
    pattern, decoration = str(selector.get("pattern", "")), selector.get("decoration")
    try:
        if decoration == include:
            return all(matches(pattern, sample) for sample in samples)
        if decoration == exclude:
            return not any(matches(pattern, sample) for sample in samples)
    except PatternInvalid:
        return False
    return False


def _retention(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, project, _ in _projects(document, config):
        if project.get("registry") and "retention" not in project:
            continue  # a proxy cache gets Harbor's default retention (pulled in the last 7 days) when created
        rules = _mapping(project.get("retention")).get("rules")
        if not (isinstance(rules, list) and rules):
            yield "project", name, "no tag retention policy (storage grows without bound)", ("projects", name, "retention")


def _gc_schedule(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    gc = _mapping(_mapping(document.get("system")).get("gc_schedule"))
    path: tuple[str | int, ...] = ("system", "gc_schedule")
    if not gc:
        yield "system", "gc_schedule", "garbage collection is not scheduled", path
        return
    schedule = _mapping(gc.get("schedule"))
    kind, cron = schedule.get("type"), schedule.get("cron")
    if kind in (None, "Manual", "None") and not cron:
        yield "system", "gc_schedule", f"garbage collection is not scheduled (type {kind or 'not set'})", (*path, "schedule")
        return
    if not cron and kind in PRESETS:
        gap: timedelta | None = timedelta(0)  # Harbor's presets run at least weekly
    else:
        try:
            validate_cron(str(cron or ""))
            gap = _longest_gap(str(cron))
        except (ScheduleInvalid, ValueError):
            gap = None
    if gap is None:
        yield "system", "gc_schedule", f"garbage collection schedule is not a valid cron ({cron!r})", (*path, "schedule")
        return
    if gap > timedelta(days=7):
        yield "system", "gc_schedule", f"garbage collection runs less than weekly ({cron}: up to {gap.days} days apart)", (
            *path, "schedule")
        return
    if not _true(_gc_parameters(gc).get("delete_untagged")):
        yield "system", "gc_schedule", "garbage collection keeps untagged artifacts (delete_untagged)", (*path, "parameters")


def _gc_parameters(gc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The file's `parameters`, or what the API's GET answers: `job_parameters`, a JSON string."""
    if "parameters" in gc or not isinstance(gc.get("job_parameters"), str):
        return _mapping(gc.get("parameters"))
    try:
        return _mapping(json.loads(gc["job_parameters"]))
    except ValueError:
        return {}


def _longest_gap(cron: str) -> timedelta:
    """The longest time between two ticks of a (valid) cron over a year, or the first gap over 7 days.
    Ticks less than a day apart are skipped a day at a time, measuring the gap around where the walk
    lands, so an every-minute cron costs a few hundred steps, not half a million."""
    end = _LINT_EPOCH + timedelta(days=400)
    ticks = croniter(cron, _LINT_EPOCH, second_at_beginning=True)
    previous: datetime = ticks.get_next(datetime)
    longest = previous - _LINT_EPOCH  # a cron that first fires years from now (29 February)
    while previous < end and longest <= timedelta(days=7):
        following: datetime = ticks.get_next(datetime)
        gap, previous = following - previous, following
        longest = max(longest, gap)
        if gap < timedelta(days=1):
            ticks = croniter(cron, following + timedelta(days=1), second_at_beginning=True)
            previous = ticks.get_prev(datetime)  # the next get_next gives the tick after it
    return longest


def _replication_filters(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, policy in _items(document, "replication_policies"):
        filters = policy.get("filters")
        if not (isinstance(filters, list) and filters):
            yield "replication_policy", name, "replicates every repository (no filters)", ("replication_policies", name)


def _replication_tls(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    registries = _mapping(document.get("registries"))
    for name, policy in _items(document, "replication_policies"):
        for side in ("src_registry", "dest_registry"):
            ref = policy.get(side)
            registry = _mapping(registries.get(ref)) if isinstance(ref, str) else {}
            url = str(registry.get("url", ""))
            if registry.get("insecure") is True or url.startswith("http://"):
                how = "insecure: true" if registry.get("insecure") is True else "plain http"
                yield "replication_policy", name, f"{side} {ref} is not verified by TLS ({how})", (
                    "replication_policies", name, side)
                break


def _replication_bandwidth(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, policy in _items(document, "replication_policies"):
        speed = policy.get("speed")
        if not (isinstance(speed, int) and not isinstance(speed, bool) and speed > 0):
            yield "replication_policy", name, f"no bandwidth limit (speed {speed if speed is not None else 'not set'})", (
                "replication_policies", name)


def _allowlist_expiry(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    lists: list[tuple[str, str, tuple[str | int, ...], Mapping[str, Any]]] = [
        ("system", "cve_allowlist", ("system", "cve_allowlist"),
         _mapping(_mapping(document.get("system")).get("cve_allowlist")))
    ]
    lists += [("project", name, ("projects", name, "cve_allowlist"), _mapping(project.get("cve_allowlist")))
              for name, project, _ in _projects(document, config)]
    for kind, name, path, allowlist in lists:
        items = allowlist.get("items")
        if isinstance(items, list) and items and not allowlist.get("expires_at"):
            yield kind, name, (
                "1 CVE allowlist entry never expires" if len(items) == 1
                else f"{len(items)} CVE allowlist entries never expire"), path


def _public_production(document: Mapping[str, Any], config: LintConfig) -> Iterator[Hit]:
    for name, project, metadata in _projects(document, config, production_only=True):
        if _true(project.get("public")) or _true(metadata.get("public")):
            yield "project", name, "production project is public (anyone may pull)", ("projects", name)


RULES: tuple[Rule, ...] = (
    Rule("BRT001", "robot-expiry", "error", "A robot secret that lives long or forever is a standing credential.",
         "Set the robot's duration to at most 90 days (never -1) and rotate it.", _robot_expiry),
    Rule("BRT002", "robot-wildcard", "error", "A wildcard grants every resource, action or project, now and later.",
         "Name the resources and actions (and projects) the robot needs.", _robot_wildcard),
    Rule("BRT003", "robot-project-admin", "error",
         "A CI robot that can manage members, robots or project settings is a project admin in disguise.",
         "Grant the robot only push/pull and what the pipeline needs; leave administration to people.",
         _robot_project_admin),
    Rule("BRT004", "prevent-vulnerable", "error",
         "A production project should refuse to serve images with high or critical vulnerabilities.",
         "Set metadata prevent_vul: \"true\" and severity: high (or critical).", _prevent_vulnerable),
    Rule("BRT005", "auto-scan", "warning", "Images not scanned on push have no vulnerability report to act on.",
         "Set metadata auto_scan: \"true\".", _auto_scan),
    Rule("BRT006", "content-trust", "error", "A production project that pulls unsigned images trusts whoever can push.",
         "Set metadata enable_content_trust_cosign: \"true\" or a trust_policy with mode: enforce.", _content_trust),
    Rule("BRT007", "immutable-release-tags", "warning", "A release tag that can be overwritten is not a release.",
         "Add an immutable rule with tag pattern v*.*.* (matches) over repositories ** (repoMatches).",
         _release_tags_immutable),
    Rule("BRT008", "retention", "warning", "Without retention, every pushed tag is kept forever.",
         "Add a retention policy with at least one rule and a schedule.", _retention),
    Rule("BRT009", "gc-schedule", "warning", "Deleted and untagged artifacts keep their storage until GC runs.",
         "Schedule GC at least weekly (type Weekly or Daily) with parameters delete_untagged: true.", _gc_schedule),
    Rule("BRT010", "replication-filter", "warning", "An unfiltered policy copies every repository, wanted or not.",
         "Add filters (name, tag or label) to the replication policy.", _replication_filters),
    Rule("BRT011", "replication-tls", "error", "Replicating without TLS verification lets a man in the middle swap images.",
         "Use an https URL and insecure: false on the policy's registries.", _replication_tls),
    Rule("BRT012", "replication-bandwidth", "note", "An unlimited replication can saturate the link it shares.",
         "Set the policy's speed (KB/s) above 0.", _replication_bandwidth),
    Rule("BRT013", "allowlist-expiry", "warning", "An allowlisted CVE without an expiry is ignored forever.",
         "Set expires_at on the CVE allowlist (system and project).", _allowlist_expiry),
    Rule("BRT014", "public-production", "error", "A public production project lets anyone pull its images.",
         "Set public: false (and metadata public: \"false\") on production projects.", _public_production),
)
RULES_BY_KEY = {key: rule for rule in RULES for key in (rule.id, rule.name)}


def lint(document: Mapping[str, Any], config: LintConfig | None = None) -> list[Finding]:
    """Every finding of every enabled rule, in rule order, with the configured severities."""
    config = config or LintConfig()
    findings: list[Finding] = []
    for rule in RULES:
        severity = config.severities.get(rule.id, rule.severity)
        if severity == "off":
            continue
        for kind, name, message, path in rule.check(document, config):
            findings.append(Finding(rule.id, severity, kind, name, message, path))
    return findings


def fails(findings: list[Finding], threshold: str) -> bool:
    """Whether a finding is at `threshold` severity or above (`never`: no finding fails)."""
    if threshold == "never":
        return False
    limit = _SEVERITY_RANK[threshold]
    return any(_SEVERITY_RANK[f.severity] <= limit for f in findings)


def parse_config(raw: Any) -> LintConfig:
    """The linter's configuration from its YAML:

        production: {patterns: [prod, "prod-*"], labels: [production]}
        max_robot_days: 30
        rules: {BRT005: note, replication-bandwidth: off}
    """
    if raw is None:
        return LintConfig()
    if not isinstance(raw, Mapping):
        raise ConfigInvalid("the linter configuration must be a mapping (production, max_robot_days, rules)")
    unknown = set(raw) - {"production", "max_robot_days", "rules"}
    if unknown:
        raise ConfigInvalid(f"unknown key {sorted(map(str, unknown))[0]!r} (production, max_robot_days, rules)")
    config = LintConfig()
    production = raw.get("production")
    if production is not None:
        if not isinstance(production, Mapping) or set(production) - {"patterns", "labels"}:
            raise ConfigInvalid("production takes patterns and labels (lists of strings)")
        for key in ("patterns", "labels"):
            if key in production:
                values = production[key]
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise ConfigInvalid(f"production.{key} must be a list of strings")
                config = replace(config, **{f"production_{key}": tuple(values)})
    if "max_robot_days" in raw:
        days = raw["max_robot_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ConfigInvalid("max_robot_days must be a whole number of days, 1 or more")
        config = replace(config, max_robot_days=days)
    rules = raw.get("rules") or {}
    if not isinstance(rules, Mapping):
        raise ConfigInvalid("rules maps a rule id or name to error, warning, note or off")
    severities: dict[str, str] = {}
    for key, value in rules.items():
        rule = RULES_BY_KEY.get(str(key))
        if rule is None:
            raise ConfigInvalid(f"unknown rule {key!r} (ids BRT001…BRT{len(RULES):03d} or their names)")
        value = "off" if value is False else str(value).lower()  # YAML reads a bare `off` as false
        if value not in (*SEVERITIES, "off"):
            raise ConfigInvalid(f"rule {key}: {value!r} is not error, warning, note or off")
        severities[rule.id] = value
    return replace(config, severities=severities)
