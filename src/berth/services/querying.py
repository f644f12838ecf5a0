"""Harbor's `q` and `sort` (parsed by berth.query) as SQL conditions and orderings over the columns
a list allows; keys naming no such column are ignored, as in Harbor, and an unparsable `q` is a 400."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement

from berth.query import AllOf, AnyOf, Fuzzy, QueryInvalid, Range, Scalar, Sort, Value, parse_query, parse_sort
from berth.services.errors import BadRequest


def _plain(value: Scalar) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def condition(column: Any, value: Value) -> ColumnElement[bool]:
    """One keyword as SQL: exact, fuzzy (substring, wildcards escaped), range, any-of, all-of."""
    if isinstance(value, Fuzzy):
        return column.contains(value.value, autoescape=True)
    if isinstance(value, Range):
        parts = []
        if value.min is not None:
            parts.append(column >= _plain(value.min))
        if value.max is not None:
            parts.append(column <= _plain(value.max))
        return and_(*parts)
    if isinstance(value, AnyOf):
        return column.in_([_plain(v) for v in value.values]) if value.values else or_(False)  # type: ignore[arg-type]
    if isinstance(value, AllOf):
        return and_(*(column == _plain(v) for v in value.values))
    return column == _plain(value)


def conditions(
    q: str | None, columns: Mapping[str, Any], convert: Mapping[str, Callable[[Value], Value]] | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions for `q`, over `columns` (query key -> column); `convert` turns the parsed value of
    a key into what its column compares with (e.g. a time from a string)."""
    try:
        keywords = parse_query(q, columns)
    except QueryInvalid as exc:
        raise BadRequest(str(exc)) from None
    out = []
    for key, value in keywords.items():
        if convert and key in convert:
            value = convert[key](value)
        out.append(condition(columns[key], value))
    return out


def orderings(sort: str | None, columns: Mapping[str, Any], default: Sequence[Any]) -> list[Any]:
    """ORDER BY terms for `sort` over `columns`, or `default` when `sort` names none of them."""
    sorts: list[Sort] = parse_sort(sort, columns)
    out = [columns[item.key].desc() if item.desc else columns[item.key].asc() for item in sorts]
    return out or list(default)
