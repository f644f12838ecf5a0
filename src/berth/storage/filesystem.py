"""The local filesystem blob driver.

Writes go to a temp file under <root>/tmp/, are fdatasync'ed, then renamed into
place and the directory fsync'ed, so a key never names a partial or lost file.
Write-back to the disk starts every few MiB while the bytes arrive, so the
closing fdatasync waits for the last stretch only, not the whole file.
Upload sessions append to one working file instead (`append`), which the
closing PUT syncs and moves into place: no copy of the bytes at the end.
Blocking file I/O runs in worker threads, one hop per ~1 MiB rather than per chunk.
A spool (`spool`) is a temp file one worker thread writes a blob into while readers follow it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import stat as stat_mode
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anyio import to_thread

from berth.storage import validate_key
from berth.storage.base import BlobNotFound
from berth.storage.paths import TMP

_WRITE_BATCH = 1 << 20
#: write-back of what was written is started every this many bytes
_WRITEBACK_EVERY = 8 << 20
_READ_CHUNK = 1 << 20
_LIST_BATCH = 1000
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16
# A concurrent delete may prune an empty directory between our mkdir and rename.
_RENAME_ATTEMPTS = 5
#: the last bytes of a spool its readers get only once it is sealed (verified)
SPOOL_HOLD = 1 << 20


class FilesystemDriver:
    """Blob storage in a local directory; keys are relative paths below root."""

    name = "filesystem"
    can_append = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._tmp = self.root / TMP
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    async def stat(self, key: str) -> int | None:
        return await to_thread.run_sync(_file_size, self._path(key))

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        _check_range(offset, length)
        path = self._path(key)
        fd = await to_thread.run_sync(_open_for_read, path, key)
        try:
            position = offset
            end = None if length is None else offset + length
            while end is None or position < end:
                size = _READ_CHUNK if end is None else min(_READ_CHUNK, end - position)
                data = await to_thread.run_sync(os.pread, fd, size, position)
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            os.close(fd)

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store chunks under key atomically; chunks must not be mutated after they are yielded."""
        dest = self._path(key)
        tmp, fd = self._create_temp()
        closed = False
        try:
            total = await _write_stream(fd, 0, chunks)
            await to_thread.run_sync(os.fdatasync, fd)
            closed = True
            os.close(fd)
            await to_thread.run_sync(_rename_into_place, tmp, dest, self.root)
            return total
        except BaseException:
            # Cancellation included: worker threads are never abandoned by anyio,
            # so no thread still uses fd here.
            if not closed:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            raise

    async def append(self, key: str, offset: int, chunks: AsyncIterator[bytes], *, sync: bool = False) -> int:
        """Write chunks into key from offset on, cutting off whatever it held past offset; the byte count.

        For an upload's working file, not atomic: a reader must know how many bytes
        are valid. ValueError if key holds fewer than offset bytes (offset 0 creates
        it). A failed stream leaves key cut back to offset, or absent when offset is 0
        (a full disk must not leave an empty working file behind). sync=True makes the
        bytes durable before returning.
        """
        _check_range(offset, None)
        path = self._path(key)
        fd = await to_thread.run_sync(_open_at, path, offset, self.root)
        try:
            try:
                total = await _write_stream(fd, offset, chunks)
            except BaseException:
                if offset == 0:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                else:
                    os.ftruncate(fd, offset)
                raise
            if sync:
                await to_thread.run_sync(os.fdatasync, fd)
            return total
        finally:
            os.close(fd)

    def _create_temp(self) -> tuple[Path, int]:
        tmp = self._tmp / uuid.uuid4().hex
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return tmp, os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # someone removed tmp/ (delete_prefix("tmp"))
            self._tmp.mkdir(parents=True, exist_ok=True)
            return tmp, os.open(tmp, flags, 0o644)

    async def move(self, src: str, dst: str) -> None:
        src_path, dst_path = self._path(src), self._path(dst)
        await to_thread.run_sync(_move, src_path, dst_path, self.root, src)

    def spool(self, hasher: Any) -> FileSpool:
        tmp, fd = self._create_temp()
        try:
            reader = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return FileSpool(self, tmp, fd, reader, hasher)

    async def delete(self, key: str) -> None:
        await to_thread.run_sync(_delete_file, self._path(key), self.root)

    async def delete_prefix(self, prefix: str) -> None:
        await to_thread.run_sync(_delete_tree, self._path(prefix.rstrip("/")), self.root)

    async def modified(self, key: str) -> datetime | None:
        try:
            stat = await to_thread.run_sync(os.stat, self._path(key))
        except FileNotFoundError:
            return None
        return datetime.fromtimestamp(stat.st_mtime, UTC)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        start = self._path(prefix.rstrip("/"))
        batches = _walk_keys(start, self.root)
        while (batch := await to_thread.run_sync(next, batches, None)) is not None:
            for key in batch:
                yield key

    def local_file(self, key: str) -> str | None:
        path = self._path(key)
        return str(path) if path.is_file() else None

    async def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        return None

    async def capacity(self) -> tuple[int, int] | None:
        stats = await to_thread.run_sync(os.statvfs, self.root)
        # f_bavail: what an unprivileged writer (berth) may still use
        return stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize

    async def close(self) -> None:
        return None


class FileSpool:
    """A temp file under tmp/ that one thread writes a blob into (hashing it) while readers follow
    it; see storage.base.Spool. Readers use descriptors of their own (`open_reader`), so neither
    the rename into place nor the removal of a refused file cuts a transfer that is under way."""

    def __init__(self, driver: FilesystemDriver, path: Path, fd: int, reader: int, hasher: Any) -> None:
        self._driver = driver
        self._path = path
        self._fd = fd
        self._reader = reader
        self.hasher = hasher
        self.written = 0
        self._state = 0  # 1 sealed, -1 failed
        self._changed = threading.Condition()
        self._kept = False
        self._closed = False

    def write(self, data: bytes | memoryview) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        # no early write-back here (unlike `write`): it slows these writes down by half, and the sync
        # comes after the readers have their bytes
        end = self.written + len(data)
        _write_all(self._fd, [data], self.written)
        with self._changed:
            self.written = end
            self._changed.notify_all()

    def seal(self) -> None:
        self._settle(1)

    def fail(self) -> None:
        self._settle(-1)

    def _settle(self, state: int) -> None:
        with self._changed:
            if not self._state:
                self._state = state
            self._changed.notify_all()

    def wait(self, offset: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._state != 0 or self._readable() > offset, timeout)
            return -1 if self._state < 0 else self._readable()

    @property
    def sealed(self) -> bool:
        return self._state > 0

    @property
    def failed(self) -> bool:
        return self._state < 0

    def _readable(self) -> int:
        return self.written if self._state > 0 else max(0, self.written - SPOOL_HOLD)

    def open_reader(self) -> int:
        if self._closed:  # its descriptor's number may name another file by now
            raise ValueError("the spool is discarded")
        return os.dup(self._reader)

    async def sync(self) -> None:
        await to_thread.run_sync(os.fdatasync, self._fd)

    async def keep(self, key: str) -> None:
        dest = self._driver._path(key)
        await self.sync()
        await to_thread.run_sync(_rename_into_place, self._path, dest, self._driver.root)
        self._kept = True

    async def discard(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.fail()  # a reader still waiting must not wait for bytes that never come
        os.close(self._fd)
        os.close(self._reader)
        if not self._kept:
            await to_thread.run_sync(lambda: self._path.unlink(missing_ok=True))


def _check_range(offset: int, length: int | None) -> None:
    if offset < 0:
        raise ValueError("negative offset")
    if length is not None and length < 0:
        raise ValueError("negative length")


def _file_size(path: Path) -> int | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size if stat_mode.S_ISREG(st.st_mode) else None


def _open_for_read(path: Path, key: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise BlobNotFound(key) from None
    if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BlobNotFound(key)
    return fd


async def _write_stream(fd: int, offset: int, chunks: AsyncIterator[bytes]) -> int:
    """Write chunks to fd from offset on in ~1 MiB batches, starting write-back as it goes; the byte count."""
    total = 0
    flushed = 0  # bytes whose write-back has been started
    batch: list[bytes] = []
    batch_size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        batch.append(chunk)
        batch_size += len(chunk)
        if batch_size >= _WRITE_BATCH:
            if total + batch_size - flushed >= _WRITEBACK_EVERY:
                await to_thread.run_sync(_write_all, fd, batch, offset + total, offset + flushed)
                flushed = total + batch_size
            else:
                await to_thread.run_sync(_write_all, fd, batch, offset + total)
            total += batch_size
            batch, batch_size = [], 0
    if batch:
        await to_thread.run_sync(_write_all, fd, batch, offset + total)
        total += batch_size
    return total


def _load_sync_file_range():  # noqa: ANN202 - a ctypes function or None
    """libc's sync_file_range (Linux), which Python's os module lacks."""
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Ask the kernel to start writing [start, end) to disk without waiting for it.

    Only a head start for the closing fdatasync, which is what makes the bytes
    durable: a failure here (no such call, a filesystem that refuses it) is ignored.
    """
    if _sync_file_range is not None and end > start:
        _sync_file_range(fd, start, end - start, _SYNC_FILE_RANGE_WRITE)


def _open_at(path: Path, offset: int, root: Path) -> int:
    """Open path for writing at offset (creating it when offset is 0), cut back to offset."""
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_CREAT if offset == 0 else 0)
    if offset == 0:
        _make_parents(path, root)
    try:
        fd = os.open(path, flags, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError(f"{path.name} is missing, cannot write at {offset}") from None
    try:
        size = os.fstat(fd).st_size
        if size < offset:
            raise ValueError(f"{path.name} holds {size} bytes, cannot write at {offset}")
        if size > offset:
            os.ftruncate(fd, offset)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, buffers: list[bytes], offset: int, writeback_from: int | None = None) -> None:
    """pwritev buffers at offset; then, with writeback_from, start write-back of [writeback_from, end)."""
    views = [memoryview(b).cast("B") for b in buffers]
    end = offset + sum(len(v) for v in views)
    first = 0
    while first < len(views):
        written = os.pwritev(fd, views[first : first + _IOV_MAX], offset)
        offset += written
        # Regular files rarely write short, but a full disk or a signal can.
        while written:
            head = views[first]
            if written >= len(head):
                written -= len(head)
                first += 1
            else:
                views[first] = head[written:]
                written = 0
    if writeback_from is not None:
        _start_writeback(fd, writeback_from, end)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # pruned by a concurrent delete: nothing left in it to make durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_parents(path: Path, root: Path) -> None:
    """Create path's missing ancestors, fsyncing each new directory's parent."""
    missing: list[Path] = []
    parent = path.parent
    while parent != root and not parent.is_dir():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(directory.parent)


def _rename_into_place(src: Path, dst: Path, root: Path) -> None:
    for attempt in range(_RENAME_ATTEMPTS):
        _make_parents(dst, root)
        try:
            os.replace(src, dst)
            break
        except FileNotFoundError:
            if not src.exists() or attempt == _RENAME_ATTEMPTS - 1:
                raise
    _fsync_dir(dst.parent)


def _move(src: Path, dst: Path, root: Path, src_key: str) -> None:
    if _file_size(src) is None:
        raise BlobNotFound(src_key)
    _rename_into_place(src, dst, root)
    if src.parent != dst.parent:
        _fsync_dir(src.parent)
    _prune_empty_dirs(src.parent, root)


def _delete_file(path: Path, root: Path) -> None:
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        return
    except IsADirectoryError:
        return  # a key names a file; a directory here is not ours to remove
    _fsync_dir(path.parent)
    _prune_empty_dirs(path.parent, root)


def _delete_tree(path: Path, root: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        return  # nothing is under it (a file named like the prefix is not)
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)
    _prune_empty_dirs(path.parent, root)


def _prune_empty_dirs(directory: Path, root: Path) -> None:
    """Remove empty directories from directory up to (not including) the top-level areas (blobs/, uploads/, tmp/)."""
    while directory.parent != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty, already gone or busy: stop here
            return
        directory = directory.parent


def _walk_keys(start: Path, root: Path) -> Iterator[list[str]]:
    batch: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(start):
        relative = Path(dirpath).relative_to(root).as_posix()
        for filename in filenames:
            batch.append(f"{relative}/{filename}")
            if len(batch) >= _LIST_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch
