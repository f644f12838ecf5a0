"""Reading one layer into the view: decompress by magic, stream the tar, keep what detectors want, under caps."""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from collections.abc import Sequence
from typing import IO, BinaryIO

import zstandard

from berth.scan.detect.base import DetectError, Detector, Found
from berth.scan.limits import Limits
from berth.scan.sources.base import SourceError
from berth.scan.view import View

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: what a damaged, truncated or hostile layer raises while it is read
#: small reads so that a layer cut short still hands over what came before the cut
_READ_SIZE = 64 << 10
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, zstandard.ZstdError, SourceError, ValueError)


class LayerCapExceeded(Exception):
    """The layer went over one of the walk's limits (a decompression or tar bomb)."""


def decompressed(blob: BinaryIO) -> BinaryIO:
    """The tar stream inside a layer blob, whatever its media type claims: gzip, zstd or plain."""
    buffered = blob if hasattr(blob, "peek") else io.BufferedReader(blob)  # type: ignore[arg-type, type-var]
    head = buffered.peek(4)[:4]  # type: ignore[attr-defined]
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


class _Capped(io.RawIOBase):
    """Counts the uncompressed bytes and stops the read at the layer cap."""

    def __init__(self, stream: BinaryIO, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self._stream.read(len(buffer))
        self.count += len(data)
        if self.count > self._cap:
            raise LayerCapExceeded(f"over {self._cap} uncompressed bytes (decompression bomb?)")
        buffer[: len(data)] = data
        return len(data)


def normalised(name: str) -> str | None:
    """The absolute path a tar member names ("./etc/x", "etc/x" and "/etc/x" alike), None for the root.
    An absolute normpath cannot climb above "/", so ".." members stay inside the image."""
    path = posixpath.normpath("/" + name.lstrip("/"))
    return None if path == "/" else path


def read_layer(
    blob: BinaryIO, layer: int, view: View, detectors: Sequence[Detector], limits: Limits, notes: list[str]
) -> None:
    """Apply one layer to the view. File-level problems go to `notes`; a problem with the layer
    itself raises (one of READ_ERRORS or LayerCapExceeded), leaving in the view what was read."""
    stream = _Capped(decompressed(blob), limits.max_layer_bytes)
    with tarfile.open(fileobj=io.BufferedReader(stream, _READ_SIZE), mode="r|") as tar:
        entries = kept_bytes = 0
        while (member := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # a stream keeps every header otherwise: millions of entries, unbounded memory
            entries += 1
            if entries > limits.max_entries:
                raise LayerCapExceeded(f"over {limits.max_entries} entries")
            path = normalised(member.name)
            if path is None:
                continue
            directory, base = posixpath.split(path)
            if base == OPAQUE_MARKER:
                view.opaque(directory, layer)
            elif base.startswith(WHITEOUT_PREFIX):
                view.whiteout(posixpath.join(directory, base[len(WHITEOUT_PREFIX) :]), layer)
            elif member.islnk():
                target = normalised(member.linkname)
                view.link(path, target, layer) if target else view.drop(path)
            elif not member.isreg():
                view.drop(path)
            else:
                wanting = [d for d in detectors if d.wants(path, member.mode)]
                if not wanting:
                    view.drop(path)
                    continue
                if member.size > limits.max_file_bytes:
                    notes.append(f"{path}: {member.size} bytes, over the per-file cap of {limits.max_file_bytes}")
                    view.drop(path)
                    continue
                kept_bytes += member.size
                if kept_bytes > limits.max_kept_bytes:
                    raise LayerCapExceeded(f"over {limits.max_kept_bytes} bytes of files to inspect")
                view.put(path, layer, _detect(tar, member, path, wanting, limits, notes))
        # read to the end so the blob's digest is checked (tar stops at its end-of-archive blocks)
        while stream.read(1 << 20):
            pass
    while blob.read(1 << 20):
        pass


def _detect(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, wanting: list[Detector], limits: Limits, notes: list[str]
) -> list[Found]:
    file = tar.extractfile(member)
    if file is None:
        return []
    longest = max(len(d.magic) for d in wanting)
    head = file.read(longest)
    wanting = [d for d in wanting if head.startswith(d.magic)]
    if not wanting:
        return []
    # the rest goes into one buffer of the file's size: a 200 MiB binary is held once, not twice
    data = bytearray(member.size)
    data[: len(head)] = head
    _fill(file, memoryview(data)[len(head) :], path)
    found: list[Found] = []
    for detector in wanting:
        try:
            found.extend(detector.detect(path, data, limits))
        except DetectError as exc:
            notes.append(f"{path}: {exc}")
    return found


def _fill(file: IO[bytes], target: memoryview, path: str) -> None:
    """Read into target in slices: tarfile's stream builds (and copies) a bytes object per read."""
    while target:
        count = file.readinto(target[:_READ_SIZE])  # type: ignore[attr-defined]
        if not count:
            raise EOFError(f"{path} cut short")
        target = target[count:]
