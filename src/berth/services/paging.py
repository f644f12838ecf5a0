"""Keyset pages of the /v2 lists (catalog, tags, referrers): `n` entries after `last`, and the cursor
for the next page when more follow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from berth.db.session import Database
from berth.services.errors import PaginationInvalid

#: the largest page a list endpoint returns, whatever `n` asks for
MAX_PAGE = 10_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: the cursor after the last item, when more follow (for the Link header's `last`)
    next_last: str | None


def parse_page_size(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise PaginationInvalid(f"invalid page size n={text[:40]!r}") from None
    if value < 0:
        raise PaginationInvalid(f"invalid page size n={value}")
    return value


async def fetch_page(
    db: Database, query: Any, n: int | None, *, limit: int = MAX_PAGE,
    default: int | None = None, cursor: Callable[[Any], str] = str, scalars: bool = True,
) -> Page[Any]:
    """Run `query` (ordered, already past `last`) for one page: `n` rows, or `default` without `n`,
    never more than `limit`. Reads one row more than it returns to know whether more follow."""
    if n is not None and n < 0:
        raise PaginationInvalid("n must be a non-negative integer")
    if n == 0:
        return Page([], None)
    size = min(n if n is not None else (default or limit), limit)
    async with db.read() as conn:
        result = await conn.execute(query.limit(size + 1))
        rows = list(result.scalars() if scalars else result.all())
    if len(rows) > size:
        return Page(rows[:size], cursor(rows[size - 1]))
    return Page(rows, None)
