"""Harbor's list query language (the `q` and `sort` parameters), parsed exactly as Harbor parses them
(src/lib/q/builder.go):

- `q` is `k=v,k2=v2`; each value is exact (`v`, or `\\~v` for a literal leading ~), fuzzy (`~v`), a
  range (`[min~max]`, either end may be empty), any-of (`{v1 v2}`) or all-of (`(v1 v2)`);
  range and list members that look like `2006-01-02T15:04:05` are times, integers are integers,
  the rest strings with surrounding quotes removed.
- `sort` is `k1,-k2` (a leading `-` sorts descending).

Given the keys a list knows, both drop the others, as Harbor does (src/lib/orm/query.go skips keys a
model cannot filter or sort on): an unknown key never fails a request, an unparsable `q` does.

Pure: turning a query into SQL is services/querying.py's job.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

Scalar = str | int | datetime


class QueryInvalid(ValueError):
    """The message is Harbor's, for a 400 BAD_REQUEST."""


@dataclass(frozen=True, slots=True)
class Fuzzy:
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    min: Scalar | None
    max: Scalar | None


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Harbor's OrList `{a b}`."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """Harbor's AndList `(a b)`."""

    values: tuple[Scalar, ...]


Value = Scalar | Fuzzy | Range | AnyOf | AllOf


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    desc: bool


def parse_query(q: str | None, known: Collection[str] | None = None) -> dict[str, Value]:
    """The keywords of `q`, only those in `known` when given (every value is parsed all the same)."""
    if not q:
        return {}
    q = unquote_plus(q)  # Harbor unescapes once more, so that q=tags%3Dnil works
    keywords: dict[str, Value] = {}
    for param in q.split(","):
        key, sep, raw = param.partition("=")
        if not sep or not key or not raw:
            raise QueryInvalid('the query string must contain "=" and the key/value cannot be empty')
        try:
            keywords[key] = _pattern(raw)
        except ValueError:
            raise QueryInvalid(f"invalid query string value: {raw}") from None
    if known is None:
        return keywords
    return {key: value for key, value in keywords.items() if key in known}


def parse_sort(sort: str | None, known: Collection[str] | None = None) -> list[Sort]:
    """The sort keys of `sort`, only those in `known` when given."""
    if not sort:
        return []
    sorts = (Sort(item[1:], True) if item.startswith("-") else Sort(item, False) for item in sort.split(","))
    return [item for item in sorts if known is None or item.key in known]


def _pattern(value: str) -> Value:
    first = value[0]
    if first == "~":
        if len(value) < 2:
            raise ValueError('fuzzy match value must start with "~" and contain at least 1 other characters')
        return Fuzzy(value[1:])
    if first == "[":
        return _range(value)
    if first == "{":
        return AnyOf(_list(value, "}"))
    if first == "(":
        return AllOf(_list(value, ")"))
    return value[1:] if first == "\\" else value


def _range(value: str) -> Range:
    if value[-1] != "]" or value.count("~") != 1:
        raise ValueError('range must start with "[", end with "]" and contains only one "~"')
    low, _, high = value[1:-1].partition("~")
    low, high = low.strip(), high.strip()
    if not low and not high:
        raise ValueError("min and max at least one should be set in range")
    return Range(_scalar(low) if low else None, _scalar(high) if high else None)


def _list(value: str, closing: str) -> tuple[Scalar, ...]:
    if value[-1] != closing or len(value) < 2:
        raise ValueError(f'list must end with "{closing}"')
    values = (_scalar(part) for part in value[1:-1].split(" "))
    return tuple(v for v in values if v != "")


def _scalar(value: str) -> Scalar:
    value = value.strip()
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        pass
    try:
        number = int(value, 10)
    except ValueError:
        return value.strip("\"'")
    digits = value.lstrip("+-")
    if not -(2**63) <= number < 2**63 or not (digits.isascii() and digits.isdigit()):
        return value.strip("\"'")  # Go's ParseInt: int64 and plain digits only
    return number
