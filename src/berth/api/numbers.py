"""Bounded integers for every integer the Harbor API reads (path, query, body): a value its database
column cannot hold is refused as a bad request (400), and a path id beyond its table's id column is
not found (404), before it reaches SQL, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator

from berth.db.models import BIGINTEGER_RANGE, INTEGER_RANGE
from berth.services.errors import NotFound


def _within(values: range) -> Interval:
    return Interval(ge=values.start, le=values.stop - 1)


def _possible_id(value: int) -> int:
    # raised from validation, NotFound reaches the API's error handler as itself (pydantic passes on
    # exceptions that are not ValueError), so the answer is Harbor's 404 like any other unknown id
    if value not in INTEGER_RANGE:
        raise NotFound(f"id {value} not found")
    return value


#: a value stored in an Integer column (PostgreSQL int4): a role, a duration in days, a reference to a row
Int32 = Annotated[int, _within(INTEGER_RANGE)]
#: Harbor's int64: sizes, Unix times, BigInteger columns
Int64 = Annotated[int, _within(BIGINTEGER_RANGE)]
#: a path id of a row in an Integer-keyed table: Harbor's int64 (400 beyond it); beyond the id
#: column no row can have it (404)
RowId = Annotated[int, _within(BIGINTEGER_RANGE), AfterValidator(_possible_id)]
#: a path id of a row in a BigInteger-keyed table (executions, tasks, schedules, webhook policies, audit logs)
BigRowId = Int64
