"""Go modules compiled into ELF binaries, from the build info the Go linker embeds.

The `.go.buildinfo` blob starts with the 14-byte magic `\\xff Go buildinf:`, a pointer size byte
and a flags byte (bit 0: big-endian, bit 1: strings inline). Go 1.18+ writes the Go version and
the module info inline after a 32-byte header as varint-length strings; older linkers write two
pointers to Go string headers (data address, length) that are resolved through the ELF's PT_LOAD
segments. The module info is framed by 16-byte sentinels and holds `path`, `mod`, `dep` and `=>`
(replacement) lines, tab-separated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from packageurl import PackageURL

from berth.scan.detect.base import DetectError, FileData, Found
from berth.scan.limits import Limits
from berth.scan.model import Package

MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"
_FLAG_BIG_ENDIAN, _FLAG_INLINE = 1, 2
_PT_LOAD = 1
#: the longest Go version or module info string we accept (kubectl's is ~20 KiB)
_MAX_STRING = 4 << 20


@dataclass(slots=True)
class BuildInfo:
    go_version: str
    path: str = ""
    main: tuple[str, str] | None = None
    deps: list[tuple[str, str]] = field(default_factory=list)


def parse_modinfo(go_version: str, modinfo: str) -> BuildInfo:
    info = BuildInfo(go_version=go_version)
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]  # strip the sentinels
    for line in modinfo.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            info.path = rest
        elif kind == "mod" and len(fields) >= 2:
            info.main = (fields[0], fields[1])
        elif kind == "dep" and len(fields) >= 2:
            info.deps.append((fields[0], fields[1]))
        elif kind == "=>" and len(fields) >= 2 and fields[1] and info.deps:
            info.deps[-1] = (fields[0], fields[1])  # replaces the dep above; a local-path replacement has no version
    return info


def read_build_info(data: FileData) -> BuildInfo | None:
    """The build info of an ELF Go binary, None if it has none; DetectError if it is damaged."""
    start = _find_magic(data)
    if start < 0:
        return None
    if len(data) < start + 32:
        raise DetectError("Go build info header cut short")
    pointer_size, flags = data[start + 14], data[start + 15]
    if flags & _FLAG_INLINE:
        version, offset = _varint_string(data, start + 32)
        modinfo, _ = _varint_string(data, offset)
    else:
        if pointer_size not in (4, 8):
            raise DetectError(f"Go build info pointer size {pointer_size}")
        order = ">" if flags & _FLAG_BIG_ENDIAN else "<"
        word = order + ("Q" if pointer_size == 8 else "I")
        segments = _load_segments(data)
        version = _go_string(data, segments, struct.unpack_from(word, data, start + 16)[0], word, pointer_size)
        modinfo = _go_string(
            data, segments, struct.unpack_from(word, data, start + 16 + pointer_size)[0], word, pointer_size
        )
    return parse_modinfo(version.decode("utf-8", "replace"), modinfo.decode("utf-8", "replace"))


def _find_magic(data: FileData) -> int:
    """The first 16-byte-aligned magic (the linker aligns the blob), else the first one at all."""
    first = position = data.find(MAGIC)
    while position >= 0 and position % 16:
        position = data.find(MAGIC, position + 1)
    return position if position >= 0 else first


def _varint_string(data: FileData, offset: int) -> tuple[bytes, int]:
    length = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise DetectError("Go build info varint cut short")
        byte = data[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > _MAX_STRING or offset + length > len(data):
        raise DetectError("Go build info string runs past the file")
    return bytes(data[offset : offset + length]), offset + length


def _load_segments(data: FileData) -> list[tuple[int, int, int]]:
    """(virtual address, file offset, file size) of each PT_LOAD segment of an ELF file."""
    if data[:4] != ELF_MAGIC or len(data) < 64:
        raise DetectError("Go build info in pointer format outside an ELF file")
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        (phoff,) = struct.unpack_from(order + "Q", data, 32)
        entsize, count = struct.unpack_from(order + "HH", data, 54)
        layout, fields = order + "IIQQQQ", (3, 2, 4)  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz
    else:
        (phoff,) = struct.unpack_from(order + "I", data, 28)
        entsize, count = struct.unpack_from(order + "HH", data, 42)
        layout, fields = order + "IIIII", (2, 1, 4)  # p_type, p_offset, p_vaddr, p_paddr, p_filesz
    segments = []
    for index in range(count):
        at = phoff + index * entsize
        if at + struct.calcsize(layout) > len(data):
            raise DetectError("ELF program headers run past the file")
        entry = struct.unpack_from(layout, data, at)
        if entry[0] == _PT_LOAD:
            vaddr, offset, size = entry[fields[0]], entry[fields[1]], entry[fields[2]]
            segments.append((vaddr, offset, size))
    return segments


def _at_address(segments: list[tuple[int, int, int]], address: int) -> int:
    for vaddr, offset, size in segments:
        if vaddr <= address < vaddr + size:
            return address - vaddr + offset
    raise DetectError(f"Go build info points at {address:#x}, outside the loaded segments")


def _go_string(data: FileData, segments: list[tuple[int, int, int]], address: int, word: str, size: int) -> bytes:
    header = _at_address(segments, address)
    pointer, length = struct.unpack_from(word, data, header)[0], struct.unpack_from(word, data, header + size)[0]
    if length > _MAX_STRING:
        raise DetectError("Go build info string too long")
    start = _at_address(segments, pointer)
    return bytes(data[start : start + length])


def go_package(module: str, version: str, path: str) -> Package:
    namespace, _, name = module.rpartition("/")
    purl = PackageURL(type="golang", namespace=namespace or None, name=name, version=version)
    return Package(name=module, version=version, ecosystem="Go", purl=purl.to_string(), kind="lang", path=path)


def packages_of(info: BuildInfo, path: str) -> list[Package]:
    """The standard library (OSV's `stdlib`, version without `go`), the main module when it has a
    real version, and every dependency; module versions keep their `v`, as Go writes them."""
    found = []
    toolchain = info.go_version.split()[0] if info.go_version else ""
    if toolchain.startswith("go") and toolchain[2:3].isdigit():
        found.append(go_package("stdlib", toolchain[2:], path))
    if info.main and info.main[1] and info.main[1] != "(devel)":
        found.append(go_package(*info.main, path))
    found.extend(go_package(module, version, path) for module, version in info.deps if version)
    return found


class GoBinaryDetector:
    name = "go"
    magic = ELF_MAGIC

    def wants(self, path: str, mode: int) -> bool:
        return bool(mode & 0o111)

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        info = read_build_info(data)
        return list(packages_of(info, path)) if info is not None else []
