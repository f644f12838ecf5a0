"""Header blobs out of rpm's own NDB format (`Packages.db`, SUSE since 15 SP3).

Little-endian. A 32-byte header ("RpmP", version 0, generation, slot page count) shares the first
of the slot pages (4096 bytes each) with 16-byte slots ("Slot", package index, block offset, block
count); blocks are 16 bytes, and each package's blob starts with a 16-byte header ("BlbS", package
index, checksum, length) followed by the rpm header itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from berth.scan.detect.base import DetectError, FileData

_PAGE = 4096
_BLOCK = 16
_HEADER_MAGIC, _SLOT_MAGIC, _BLOB_MAGIC = b"RpmP", b"Slot", b"BlbS"


def ndb_values(data: FileData) -> Iterator[bytes]:
    if len(data) < 32 or data[:4] != _HEADER_MAGIC:
        raise DetectError("not an rpm NDB database")
    version, _, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise DetectError(f"rpm NDB version {version} is not 0")
    end = min(slot_pages * _PAGE, len(data))
    for offset in range(32, end - _BLOCK + 1, _BLOCK):
        magic, index, block, _ = struct.unpack_from("<4sIII", data, offset)
        if magic != _SLOT_MAGIC:
            raise DetectError(f"rpm NDB slot at {offset} is damaged")
        if index == 0:
            continue  # a free slot
        start = block * _BLOCK
        if start + 16 > len(data):
            raise DetectError(f"rpm NDB package {index} points past the end of the file")
        blob_magic, blob_index, _, length = struct.unpack_from("<4sIII", data, start)
        if blob_magic != _BLOB_MAGIC or blob_index != index or start + 16 + length > len(data):
            raise DetectError(f"rpm NDB blob of package {index} is damaged")
        yield bytes(data[start + 16 : start + 16 + length])
