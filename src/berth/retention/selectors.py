"""Harbor's selectors (src/lib/selector/selectors/{doublestar,label}): which candidates a rule looks
at, by tag, repository or label (pure).

Patterns are doublestar globs as github.com/bmatcuk/doublestar matches them: `*` within one path
segment, `**` across segments, `?`, `[class]`, `{a,b}`; an empty pattern matches everything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from wcmatch import glob

_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB
#: a pattern's brace expansion may not make more patterns than this (`{a,b}{c,d}...` grows fast)
_EXPANSION_LIMIT = 256
MAX_PATTERN_LENGTH = 1024


class SelectorInvalid(ValueError):
    pass


class Candidate(Protocol):
    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def labels(self) -> Sequence[str]: ...


@lru_cache(maxsize=1024)
def _compiled(pattern: str):  # type: ignore[no-untyped-def]
    return glob.compile(pattern, flags=_FLAGS, limit=_EXPANSION_LIMIT)


def check_pattern(pattern: str) -> None:
    """SelectorInvalid for a pattern doublestar refuses (ErrBadPattern) or one too big to match."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SelectorInvalid(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    depth_square = depth_brace = 0
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif depth_square:
            if char == "]":
                depth_square = 0
        elif char == "[":
            depth_square = 1
        elif char == "{":
            depth_brace += 1
        elif char == "}" and depth_brace:
            depth_brace -= 1
    if escaped or depth_square or depth_brace:
        raise SelectorInvalid(f"syntax error in pattern {pattern[:100]!r}")
    try:
        _compiled(pattern)
    except Exception as exc:  # wcmatch's pattern errors (too many expansions, bad ranges)
        raise SelectorInvalid(f"syntax error in pattern {pattern[:100]!r}: {exc}") from None


def match(pattern: str, value: str) -> bool:
    if not pattern:
        return True
    return bool(_compiled(pattern).match(value))


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
        return any(match(self.pattern, tag) != self.excludes for tag in candidate.tags)


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
    matched = match(pattern, value)
    return not matched if decoration.endswith("Excludes") else matched
