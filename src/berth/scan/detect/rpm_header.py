"""rpm's header blob (what every rpmdb backend stores per package): the index entries and data store.

Layout (big-endian): int32 index count, int32 data length, then 16-byte entries
(tag, type, offset into data, count), then the data. Only the tags a scan needs are decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from berth.scan.detect.base import DetectError

NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
_WANTED = {NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM}
_INT32, _STRING, _STRING_ARRAY, _I18NSTRING = 4, 6, 8, 9
#: rpm's own sanity bounds (rpmtag.h: hdrchkTags, hdrchkData)
_MAX_TAGS = 0xFFFF
_MAX_DATA = 256 << 20


@dataclass(frozen=True, slots=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    source_rpm: str | None
    license: str | None


def parse_header(blob: bytes) -> RpmHeader:
    if len(blob) < 8:
        raise DetectError("rpm header shorter than its preamble")
    count, size = struct.unpack_from(">ii", blob)
    store = 8 + 16 * count
    if not 0 < count <= _MAX_TAGS or not 0 <= size <= _MAX_DATA or store + size > len(blob):
        raise DetectError("rpm header with impossible index or data size")
    data = blob[store : store + size]
    values: dict[int, str | int] = {}
    for tag, kind, offset, n in struct.iter_unpack(">iiii", blob[8:store]):
        if tag not in _WANTED or not 0 <= offset < size or n < 1:
            continue
        if kind in (_STRING, _STRING_ARRAY, _I18NSTRING):
            end = data.find(b"\0", offset)
            values[tag] = data[offset : end if end >= 0 else size].decode("utf-8", "replace")
        elif kind == _INT32 and offset + 4 <= size:
            values[tag] = struct.unpack_from(">i", data, offset)[0]
    name, version, release = values.get(NAME), values.get(VERSION), values.get(RELEASE)
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(release, str):
        raise DetectError("rpm header without name, version or release")
    epoch = values.get(EPOCH)
    return RpmHeader(
        name=name,
        version=version,
        release=release,
        epoch=epoch if isinstance(epoch, int) else None,
        arch=_text(values.get(ARCH)),
        source_rpm=_text(values.get(SOURCERPM)),
        license=_text(values.get(LICENSE)),
    )


def _text(value: str | int | None) -> str | None:
    return value if isinstance(value, str) and value else None


def split_source_rpm(source_rpm: str) -> tuple[str, str] | None:
    """`openssl-3.0.7-24.el9.src.rpm` -> ("openssl", "3.0.7-24.el9"): name-version-release.arch.rpm."""
    stem = source_rpm.removesuffix(".rpm")
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem  # the arch: src or nosrc
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], f"{parts[1]}-{parts[2]}"
