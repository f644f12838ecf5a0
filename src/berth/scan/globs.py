"""Harbor's doublestar patterns (github.com/bmatcuk/doublestar, as Harbor's selectors use it) compiled
to regular expressions (pure): `*` and `?` stay within one path segment, a whole `**` segment spans
any number of them, `[a-z]` / `[!a-z]` are classes, `{a,b}` alternatives, and `\\` escapes."""

from __future__ import annotations

import re
from collections.abc import Callable


class GlobInvalid(ValueError):
    """The pattern is malformed (an unclosed class or brace, a trailing escape)."""


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A predicate telling whether a whole name matches `pattern`; the empty pattern matches anything
    (Harbor's selectors: no filter)."""
    if not pattern:
        return lambda _: True
    regex, _ = _translate(pattern, 0, in_brace=False)  # outside braces, "," and "}" are literal
    compiled = re.compile(regex, re.DOTALL)
    return lambda name: compiled.fullmatch(name) is not None


def _translate(pattern: str, start: int, *, in_brace: bool) -> tuple[str, int]:
    """The regex of pattern[start:] up to the end (or, in braces, up to the "," or "}" that ends the
    alternative); returns it with the index it stopped at."""
    out: list[str] = []
    i = start
    while i < len(pattern):
        char = pattern[i]
        if in_brace and char in ",}":
            return "".join(out), i
        if char == "\\":
            if i + 1 >= len(pattern):
                raise GlobInvalid(f"invalid pattern {pattern!r}: it ends with an escape")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "*":
            stars = i
            while i < len(pattern) and pattern[i] == "*":
                i += 1
            whole_segment = (stars == 0 or pattern[stars - 1] == "/") and (i == len(pattern) or pattern[i] == "/")
            if i - stars >= 2 and whole_segment:
                if i < len(pattern):  # "**/": any number of segments, none included
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            regex, i = _char_class(pattern, i)
            out.append(regex)
        elif char == "{":
            alternatives = []
            i += 1
            while True:
                regex, i = _translate(pattern, i, in_brace=True)
                alternatives.append(regex)
                if i >= len(pattern):
                    raise GlobInvalid(f"invalid pattern {pattern!r}: an unclosed {{")
                i += 1
                if pattern[i - 1] == "}":
                    break
            out.append("(?:" + "|".join(alternatives) + ")")
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out), i


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """`[...]` at pattern[start]: the regex class (never matching "/") and the index after it."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            members.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "-" and members and i + 1 < len(pattern) and pattern[i + 1] != "]":
            members.append("-")
            i += 1
        else:
            members.append(re.escape(char))
            i += 1
    if i >= len(pattern) or not members:
        raise GlobInvalid(f"invalid pattern {pattern!r}: an unclosed [")
    body = "".join(members)
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i + 1
