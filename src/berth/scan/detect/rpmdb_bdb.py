"""Header blobs out of a Berkeley DB hash database: rpm's `Packages` before rpm 4.16 (RHEL/CentOS <= 8).

Read page by page: hash pages (types 2 and 13) hold key/value item pairs; most rpm headers are too big to sit inline,
so their value is an off-page reference (item type 3) to a chain of overflow pages; a small one is
an inline item (type 1) whose length is what the header's own preamble says.
Layouts from Berkeley DB's db_page.h: the 72-byte generic metadata page (magic at 12, page size at
20, last page number at 32), the 26-byte page header (next page at 16, item count at 20,
hf_offset at 22, which on an overflow page is the byte count it holds, page type at 25).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from berth.scan.detect.base import DetectError, FileData

HASH_MAGIC = 0x061561
_PAGE_HEADER = 26
_HASH_UNSORTED, _HASH = 2, 13
_KEYDATA, _OFFPAGE = 1, 3


def bdb_values(data: FileData) -> Iterator[bytes]:
    """Every header blob in the database (rpm stores one per value)."""
    if len(data) < 512:
        raise DetectError("too short for a Berkeley DB database")
    order = next((o for o in "<>" if struct.unpack_from(o + "I", data, 12)[0] == HASH_MAGIC), None)
    if order is None:
        raise DetectError("not a Berkeley DB hash database")
    page_size, last_page = struct.unpack_from(order + "I", data, 20)[0], struct.unpack_from(order + "I", data, 32)[0]
    if page_size < 512 or page_size & (page_size - 1) or page_size > 65536:
        raise DetectError(f"Berkeley DB page size {page_size} is not a power of two in 512..65536")
    if (last_page + 1) * page_size > len(data):
        raise DetectError(f"Berkeley DB cut short: {last_page + 1} pages announced, {len(data) // page_size} present")
    for number in range(1, last_page + 1):
        page = memoryview(data)[number * page_size : (number + 1) * page_size]
        if page[25] not in (_HASH_UNSORTED, _HASH):
            continue
        entries = struct.unpack_from(order + "H", page, 20)[0]
        if _PAGE_HEADER + 2 * entries > page_size:
            raise DetectError(f"Berkeley DB page {number} lists more items than fit")
        offsets = struct.unpack_from(f"{order}{entries}H", page, _PAGE_HEADER)
        for index in range(1, entries, 2):  # items alternate key, value
            offset = offsets[index]
            if offset >= page_size:
                raise DetectError(f"Berkeley DB page {number} item {index} lies outside the page")
            if page[offset] == _OFFPAGE and offset + 12 <= page_size:
                first, length = struct.unpack_from(order + "II", page, offset + 4)
                yield _overflow_chain(data, order, page_size, first, length)
            elif page[offset] == _KEYDATA:
                # items fill the page from its end down, so an item ends where the one before it starts
                value = bytes(page[offset + 1 : offsets[index - 1]])
                if _is_header_blob(value):
                    yield value  # small enough to sit inline; rpm's other inline values are counters


def _is_header_blob(value: bytes) -> bool:
    if len(value) < 8:
        return False
    count, size = struct.unpack_from(">ii", value)
    return count > 0 and size >= 0 and 8 + 16 * count + size == len(value)


def _overflow_chain(data: FileData, order: str, page_size: int, first: int, length: int) -> bytes:
    parts: list[bytes] = []
    held = 0
    seen: set[int] = set()
    number = first
    while number and held < length:
        if number in seen or (number + 1) * page_size > len(data):
            raise DetectError(f"Berkeley DB overflow chain broken at page {number}")
        seen.add(number)
        base = number * page_size
        next_page, _, on_page = struct.unpack_from(order + "IHH", data, base + 16)
        if on_page > page_size - _PAGE_HEADER:
            raise DetectError(f"Berkeley DB overflow page {number} claims {on_page} bytes")
        parts.append(bytes(data[base + _PAGE_HEADER : base + _PAGE_HEADER + on_page]))
        held += on_page
        number = next_page
    value = b"".join(parts)
    if len(value) < length:
        raise DetectError("Berkeley DB overflow chain shorter than its value")
    return value[:length]
