"""Property tests for Range and Content-Range handling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.oci.ranges import RangeNotSatisfiable, parse_content_range, parse_range, upload_range_header

sizes = st.integers(min_value=0, max_value=10**12)
offsets = st.integers(min_value=0, max_value=10**12)


@given(sizes, offsets, st.one_of(st.none(), offsets))
def test_a_served_range_lies_inside_the_blob(size: int, first: int, last: int | None) -> None:
    header = f"bytes={first}-{'' if last is None else last}"
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        assert first >= size
        return
    if result is None:
        assert last is not None and last < first
        return
    start, end = result
    assert start == first
    assert 0 <= start <= end < size
    assert end == (size - 1 if last is None else min(last, size - 1))


@given(sizes, st.integers(min_value=1, max_value=10**12))
def test_suffix_ranges_serve_the_last_bytes(size: int, suffix: int) -> None:
    try:
        start, end = parse_range(f"bytes=-{suffix}", size)  # type: ignore[misc]
    except RangeNotSatisfiable:
        assert size == 0
        return
    assert end == size - 1
    assert end - start + 1 == min(suffix, size)


@given(st.text(max_size=40), sizes)
def test_garbage_range_headers_never_crash(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if result is not None:
        assert 0 <= result[0] <= result[1] < size


def test_multi_range_and_unknown_units_serve_the_whole_blob() -> None:
    assert parse_range("bytes=0-1,3-4", 10) is None
    assert parse_range("items=0-1", 10) is None
    assert parse_range(None, 10) is None


@given(offsets, st.integers(min_value=0, max_value=10**9))
def test_content_range_round_trips(first: int, length: int) -> None:
    last = first + length
    for form in (f"{first}-{last}", f"bytes={first}-{last}", f"bytes {first}-{last}/*", f"{first}-{last}/{last + 1}"):
        assert parse_content_range(form) == (first, last)


@pytest.mark.parametrize("bad", ["abc", "5-3", "-3", "3-", "1-2-3", "bytes=x-y", "9" * 30 + "-" + "9" * 31])
def test_malformed_content_range_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_content_range(bad)


@given(st.integers(min_value=0, max_value=10**12))
def test_upload_range_reports_the_last_received_byte(size: int) -> None:
    first, last = upload_range_header(size).split("-")
    assert first == "0"
    assert int(last) == max(size - 1, 0)
