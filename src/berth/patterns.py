"""Doublestar patterns as github.com/bmatcuk/doublestar matches them (Harbor's tag, repository and
filter selectors in immutability rules, retention rules and replication filters): `*` within one
path segment, `**` across segments, `?`, `[class]`, `{a,b}`; dots matched like any character; no
negation, no extglob. An empty pattern matches everything. Evaluated with wcmatch."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from wcmatch import glob

FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.FORCEUNIX
#: a pattern's brace expansion may not make more patterns than this (`{a,b}{c,d}...` grows fast)
EXPANSION_LIMIT = 256
MAX_PATTERN_LENGTH = 1024


class PatternInvalid(ValueError):
    """doublestar's ErrBadPattern, or a pattern too long or too big to match; the message says which."""


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    return glob.compile(pattern, flags=FLAGS, limit=EXPANSION_LIMIT)


def check(pattern: str) -> None:
    """PatternInvalid for a pattern doublestar refuses (an unclosed `[` or `{`, a trailing `\\`) or
    one too long or too big to match; wcmatch alone would read an unclosed `[` literally."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternInvalid(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
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
        raise PatternInvalid(f"syntax error in pattern {pattern[:100]!r}")
    try:
        _compiled(pattern)
    except Exception as exc:  # wcmatch's pattern errors (too many expansions, bad ranges)
        raise PatternInvalid(f"syntax error in pattern {pattern[:100]!r}: {exc}") from None


def matches(pattern: str, value: str) -> bool:
    """Whether `pattern` (already checked) matches `value`; an empty pattern matches everything."""
    return not pattern or bool(_compiled(pattern).match(value))


def matches_empty(pattern: str) -> bool:
    """Whether doublestar matches the empty string with `pattern` (Harbor's tag filter asks it of an
    untagged artifact): wcmatch never matches "", doublestar does when the pattern can stand for
    nothing: stars, `**/` (zero path segments), a brace group with such an alternative (`{,v*}`)."""
    return not pattern or _stands_for_nothing(pattern)


def _stands_for_nothing(pattern: str) -> bool:
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            i += 3
        elif pattern[i] == "*":
            i += 1
        elif pattern[i] == "{":
            end, alternatives = _brace_group(pattern, i)
            if end < 0 or not any(_stands_for_nothing(a) for a in alternatives):
                return False
            i = end + 1
        else:
            return False
    return True


def _brace_group(pattern: str, start: int) -> tuple[int, list[str]]:
    """(index of the `}` closing the group at `start`, its top-level alternatives); -1 when unclosed."""
    depth, begin, alternatives, i = 0, start + 1, [], start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i, [*alternatives, pattern[begin:i]]
        elif char == "," and depth == 1:
            alternatives.append(pattern[begin:i])
            begin = i + 1
        i += 1
    return -1, []
