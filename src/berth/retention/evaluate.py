"""What a retention policy keeps in one repository (pure): Harbor's rule evaluators
(src/pkg/retention/policy/rule/*), the "or" processor (policy/alg/or) and the retain performer's
choice of what goes (policy/action/performer.go).

Each enabled rule whose scope takes the repository narrows the candidates with its tag selectors
(ANDed), then its template picks the ones it retains; a candidate retained by any rule stays and
every other one is deleted, unless it is immutable (kept, marked IMMUTABLE) or still referenced by an
index that stays (kept, marked ERR: the delete would be refused). The outcome is decided before
anything is deleted, so a dry run reports exactly what the real run on the same state deletes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from berth.retention.policy import LABEL, Policy, Rule
from berth.retention.selectors import LabelSelector, TagSelector, repository_selected

RETAIN, DELETE, IMMUTABLE, ERROR = "RETAIN", "DEL", "IMMUTABLE", "ERR"
_DAY = 86400


@dataclass(frozen=True, slots=True)
class Candidate:
    """One artifact with all its tags (Harbor's selector.Candidate). Times are unix seconds, 0 for
    never; push and pull times are the latest over the artifact and its tags."""

    id: int
    digest: str
    #: the repository's name inside its project ("nginx" for "library/nginx")
    repository: str
    namespace: str
    tags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    pushed: int = 0
    pulled: int = 0
    created: int = 0
    kind: str = "image"
    #: digests of the artifacts this one lists (an index's children in the same repository)
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    candidate: Candidate
    #: RETAIN, DEL, IMMUTABLE or ERR
    action: str
    reason: str = ""


@dataclass(slots=True)
class Outcome:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.decisions)

    @property
    def deleted(self) -> list[Candidate]:
        """What goes, indexes before what they list (so a tagged child is deletable once its index went)."""
        return [d.candidate for d in self.decisions if d.action == DELETE]

    @property
    def retained(self) -> int:
        """Harbor's count: everything but what is (or, in a dry run, would be) deleted."""
        return self.total - len(self.deleted)


def rules_for(policy: Policy, repository: str, namespace: str) -> list[Rule]:
    """The enabled rules whose repository scope selectors (ANDed) take the repository (the launcher)."""
    return [rule for rule in policy.rules if not rule.disabled and all(
        repository_selected(s.decoration, s.pattern, repository, namespace)
        for s in rule.scope_selectors.get("repository", ()))]


def retained_by(rule: Rule, candidates: Sequence[Candidate], now: datetime) -> list[Candidate]:
    """The candidates one rule retains: its tag (and label) selectors, then its template."""
    selected = list(candidates)
    for spec in rule.tag_selectors:
        if spec.kind == LABEL:
            label = LabelSelector.of(spec.decoration, spec.pattern)
            selected = [c for c in selected if label.selects(c)]
        else:
            tag = TagSelector.of(spec.decoration, spec.pattern, spec.extras)
            selected = [c for c in selected if tag.selects(c)]
    return _evaluate(rule.template, rule.parameter, selected, now)


def _evaluate(template: str, n: int, candidates: list[Candidate], now: datetime) -> list[Candidate]:
    now_s = int(now.astimezone(UTC).timestamp())
    if template == "always":
        return candidates
    if template in ("latestPushedK", "latestPulledN", "latestActiveK"):
        def when(c: Candidate) -> int:
            if template == "latestPushedK":
                return c.pushed
            if template == "latestPulledN":
                return c.pulled
            return max(c.pushed, c.pulled)
        # ties (same second) go to the newer artifact, so a run and its dry run pick the same ones
        return sorted(candidates, key=lambda c: (when(c), c.id), reverse=True)[:n]
    if template == "nDaysSinceLastPush":
        return [c for c in candidates if c.pushed >= now_s - n * _DAY]
    if template == "nDaysSinceLastPull":
        return [c for c in candidates if c.pulled >= now_s - n * _DAY]
    if template == "lastXDays":
        return [c for c in candidates if c.pushed > now_s - n * _DAY]
    raise ValueError(f"rule evaluator {template} is not registered")


def evaluate_retention(
    rules: Iterable[Rule], candidates: Sequence[Candidate], now: datetime, immutable: Collection[str] = (),
    listed_elsewhere: Collection[str] = (),
) -> Outcome:
    """The "or" algorithm over one repository's candidates. `immutable` holds the digests an
    immutability rule protects; `listed_elsewhere` the digests that manifests other than the
    candidates list (an untagged nested index), which stay. With no rule, nothing is touched (Harbor's processor has no evaluator)."""
    rules = list(rules)
    if not rules:
        return Outcome([Decision(c, RETAIN) for c in candidates])
    kept: set[int] = set()
    for rule in rules:
        kept.update(c.id for c in retained_by(rule, candidates, now))
    going = {c.digest for c in candidates if c.id not in kept and c.digest not in immutable}
    # an index that stays keeps what it lists (deleting that would be refused), and what that lists
    needed = set(listed_elsewhere)
    while True:
        needed |= {child for c in candidates if c.digest not in going or c.digest in needed for child in c.children}
        if not going & needed:
            break
        going -= needed
    decisions = []
    for c in candidates:
        if c.id in kept:
            decisions.append(Decision(c, RETAIN))
        elif c.digest in immutable:
            decisions.append(Decision(c, IMMUTABLE, "immutable"))
        elif c.digest in needed:
            decisions.append(Decision(c, ERROR, "the deleting artifact is referenced by others"))
        else:
            decisions.append(Decision(c, DELETE))
    # indexes first: deleting one takes its untagged children; a tagged child goes after it
    decisions.sort(key=lambda d: (d.action != DELETE or not d.candidate.children,))
    return Outcome(decisions)


def log_table(outcome: Outcome) -> list[str]:
    """Harbor's job log table (Digest, Tag, Kind, Labels, PushedTime, PulledTime, CreatedTime, Retention)."""
    header = ["Digest", "Tag", "Kind", "Labels", "PushedTime", "PulledTime", "CreatedTime", "Retention"]
    rows = [[d.candidate.digest, ",".join(d.candidate.tags), d.candidate.kind, ",".join(d.candidate.labels),
             _t(d.candidate.pushed), _t(d.candidate.pulled), _t(d.candidate.created), d.action]
            for d in sorted(outcome.decisions, key=lambda d: d.candidate.id)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(row) for row in rows)]


def _t(seconds: int) -> str:
    if seconds <= 0:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y/%m/%d %H:%M:%S")
