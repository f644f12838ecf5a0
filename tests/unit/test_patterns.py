"""berth.patterns: doublestar as Harbor's selectors and filters match, and the patterns it refuses."""

from __future__ import annotations

import pytest

from berth.patterns import MAX_PATTERN_LENGTH, PatternInvalid, check, matches


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("**", "a/b/c", True),
    ("a/*", "a/b/c", False),
    ("a/**/c", "a/c", True),
    ("*", ".hidden", True),  # dots are like any character
    ("", "anything", True),  # Harbor: an empty pattern matches everything
    ("!a", "b", False),  # no negation syntax
    ("v{1,2}.*", "v2.0", True),
    ("v[0-9]*", "vx", False),
    ("library/**", "library/nginx", True),
])
def test_matching_is_doublestar(pattern: str, value: str, expected: bool) -> None:
    check(pattern)
    assert matches(pattern, value) is expected


@pytest.mark.parametrize("pattern", ["v[0-9", "{a,b", "trailing\\", "x" * (MAX_PATTERN_LENGTH + 1),
                                     "{1,2,3,4,5,6,7,8,9,0}" * 4])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternInvalid):
        check(pattern)
