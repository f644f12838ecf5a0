"""Harbor's selectors (src/lib/selector/selectors/{doublestar,label}): which candidates a rule looks
at, by tag, repository or label (pure).

Patterns are doublestar globs (berth.patterns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from berth.patterns import matches


class Candidate(Protocol):
    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def labels(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class TagSelector:
    """doublestar `matches`/`excludes` over an artifact's tags. An artifact with a tag that matches
    (`matches`), or one that does not (`excludes`), is selected; an untagged one is selected by
    `matches` and not by `excludes` unless extras `{"untagged": bool}` says otherwise."""

    excludes: bool
    pattern: str
    untagged: bool

    @classmethod
    def of(cls, decoration: str, pattern: str, extras: str) -> TagSelector:
        excludes = decoration == "excludes"
        untagged = not excludes
        if extras:
            try:
                parsed = json.loads(extras)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):  # Harbor: a field that is absent unmarshals as false
                untagged = parsed.get("untagged") is True
        return cls(excludes, pattern, untagged)

    def selects(self, candidate: Candidate) -> bool:
        if not candidate.tags:
            return self.untagged
        return any(matches(self.pattern, tag) != self.excludes for tag in candidate.tags)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """`withLabels`/`withoutLabels` with a comma-separated list of label names: an artifact with all
    of them, or with none of them (an empty list selects everything)."""

    without: bool
    labels: tuple[str, ...]

    @classmethod
    def of(cls, decoration: str, pattern: str) -> LabelSelector:
        return cls(decoration == "withoutLabels", tuple(pattern.split(",")) if pattern else ())

    def selects(self, candidate: Candidate) -> bool:
        have = set(candidate.labels)
        if self.without:
            return not any(label in have for label in self.labels)
        return all(label in have for label in self.labels)


def repository_selected(decoration: str, pattern: str, repository: str, namespace: str) -> bool:
    """A repository scope selector (repoMatches/repoExcludes on the name inside the project,
    nsMatches/nsExcludes on the project's name)."""
    value = namespace if decoration.startswith("ns") else repository
    matched = matches(pattern, value)
    return not matched if decoration.endswith("Excludes") else matched
