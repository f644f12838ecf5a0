"""HTTP byte ranges: `Range` on blob GETs and `Content-Range` on upload chunks (pure functions)."""

from __future__ import annotations

import re

_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")
_CONTENT_RANGE_RE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")
_MAX_DIGITS = 19  # keeps parsed numbers within int64


class RangeNotSatisfiable(ValueError):
    """The Range cannot be served for this size (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a GET Range asks for, or None to serve the whole blob.

    Unparsable or multi-range headers are ignored (RFC 9110 allows it) and the
    whole blob is served; a syntactically valid but unsatisfiable range raises.
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
        return None
    if first_text == "":
        if last_text == "":
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(header)
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def parse_content_range(header: str | None) -> tuple[int, int] | None:
    """The inclusive (first, last) of an upload chunk's Content-Range; ValueError when malformed."""
    if header is None or header.strip() == "":
        return None
    match = _CONTENT_RANGE_RE.fullmatch(header.strip())
    if match is None:
        raise ValueError(f"malformed Content-Range: {header[:100]!r}")
    first_text, last_text = match.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
        raise ValueError("Content-Range out of bounds")
    first, last = int(first_text), int(last_text)
    if last < first:
        raise ValueError(f"Content-Range ends before it starts: {header[:100]!r}")
    return first, last


def upload_range_header(size: int) -> str:
    """The `Range` an upload response reports: the bytes received so far (`0-0` when none, as distribution)."""
    return f"0-{max(size - 1, 0)}"
