"""Harbor's `q` and `sort` (parsed by berth.query) as SQL conditions and orderings over the columns
a list allows; keys naming no such column are ignored, as in Harbor, and an unparsable `q` is a 400."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, and_, false, or_, true
from sqlalchemy.sql import ColumnElement

from berth.db.models import BIGINTEGER_RANGE, INTEGER_RANGE
from berth.query import AllOf, AnyOf, Fuzzy, QueryInvalid, Range, Scalar, Sort, Value, parse_query, parse_sort
from berth.services.errors import BadRequest

_INTEGER = re.compile(r"[+-]?[0-9]+")


def column_range(column: Any) -> range | None:
    """The integers an integer column holds (None for other columns)."""
    kind = getattr(column, "type", None)
    if isinstance(kind, BigInteger):
        return BIGINTEGER_RANGE
    return INTEGER_RANGE if isinstance(kind, Integer) else None


def fits(column: Any, value: object) -> bool:
    """Whether `column` can hold `value`: a number beyond an integer column's range matches no row
    (and PostgreSQL's driver would refuse it rather than compare)."""
    values = column_range(column)
    return values is None or not isinstance(value, int) or value in values


def _typed(column: Any, value: Scalar) -> Scalar:
    """A parsed value as `column` compares it: exact values are strings (`id=5` is the number 5 to an
    integer column), list members that look like numbers are numbers (`name={1 2}` are texts to a
    text column). PostgreSQL's driver would refuse either mismatch."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC)
    if column_range(column) is not None and not isinstance(value, int):
        if not (isinstance(value, str) and _INTEGER.fullmatch(value)):
            raise BadRequest(f"{column.key} takes integers, not {value!s}")
        return int(value)
    if isinstance(value, int) and isinstance(getattr(column, "type", None), String):
        return str(value)
    return value


def condition(column: Any, value: Value) -> ColumnElement[bool]:
    """One keyword as SQL: exact, fuzzy (substring, wildcards escaped), range, any-of, all-of. A number
    beyond an integer column's range compares as such numbers do: it equals no row."""
    if isinstance(value, Fuzzy):
        if column_range(column) is not None:
            raise BadRequest(f"{column.key} takes integers, not ~{value.value}")
        return column.contains(value.value, autoescape=True)
    if isinstance(value, Range):
        parts = []
        if value.min is not None:
            parts.append(_bound(column, _typed(column, value.min), lower=True))
        if value.max is not None:
            parts.append(_bound(column, _typed(column, value.max), lower=False))
        return and_(*parts)
    if isinstance(value, AnyOf | AllOf):
        values = [_typed(column, v) for v in value.values]
        if isinstance(value, AllOf):
            return and_(*(column == v if fits(column, v) else false() for v in values))
        matchable = [v for v in values if fits(column, v)]
        return column.in_(matchable) if matchable else or_(False)  # type: ignore[arg-type]
    typed = _typed(column, value)
    return column == typed if fits(column, typed) else false()


def _bound(column: Any, bound: Scalar, *, lower: bool) -> ColumnElement[bool]:
    if fits(column, bound):
        return column >= bound if lower else column <= bound
    # beyond the column's range: every row is above a bound below it, none above a bound beyond it
    below = isinstance(bound, int) and bound < (column_range(column) or INTEGER_RANGE).start
    return true() if below == lower else false()


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
