"""The blob storage driver interface that every driver implements.

Keys are the relative paths from storage.paths. A driver never makes an
object visible under its key before all of its bytes are stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol


class BlobNotFound(FileNotFoundError):
    """The key does not exist in the store."""


#: the ASGI extension (and message type) of a server that sends a spool's bytes itself as they are
#: written: {"type": FOLLOW_EXTENSION, "fd": a descriptor of the spool's file, "spool": the spool}
FOLLOW_EXTENSION = "berth.response.follow"


class Spool(Protocol):
    """A blob being received into a temp file by one worker thread (`write`) while readers follow it
    (`wait`, `open_reader`): they get its bytes as they are written, except the last ones (the driver's
    SPOOL_HOLD) until the writer `seal`s it as verified; `fail` cuts them off. `keep` makes it durable
    and puts it under its key."""

    #: what `write` hashes (hashlib's; the caller compares the digest before it seals)
    hasher: Any
    written: int
    #: every byte is here and verified
    sealed: bool
    #: the bytes are not the blob's
    failed: bool

    def write(self, data: bytes | memoryview) -> None:
        """Hash and append `data` (blocking: a worker thread's call); readers are woken."""

    def seal(self) -> None:
        """Every byte is here and verified: readers may read them all."""

    def fail(self) -> None:
        """The bytes are not the blob's: readers stop short of the end."""

    def wait(self, offset: int, timeout: float) -> int:
        """Blocks until more than `offset` bytes may be read or `timeout` passed; how many may be read
        (the whole count once sealed), -1 once failed."""

    def open_reader(self) -> int:
        """A new read-only descriptor of the file (the caller closes it; it stays valid after `keep` and
        `discard`); ValueError once the spool is discarded."""

    async def sync(self) -> None:
        """fdatasync the file (its bytes durable)."""

    async def keep(self, key: str) -> None:
        """fdatasync the file (nothing left to write after `sync`), then rename it into place as key
        (atomically, the directory synced)."""

    async def discard(self) -> None:
        """Remove the temp file (unless kept) and release it."""


class StorageDriver(Protocol):
    name: str

    async def stat(self, key: str) -> int | None:
        """Size in bytes of the object at key, or None when it does not exist."""

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream the bytes [offset, offset+length) of key; BlobNotFound if absent."""

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the streamed chunks as key, atomically; return the byte count.

        If the stream fails, nothing appears under key.
        """

    #: whether append works; upload sessions store one part per chunk where it does not
    can_append: bool

    async def append(self, key: str, offset: int, chunks: AsyncIterator[bytes], *, sync: bool = False) -> int:
        """Write chunks into key from offset on, cutting off what key held past offset; return the byte count.

        For an upload's working file only: not atomic (a reader must know how many
        bytes are valid), ValueError if key holds fewer than offset bytes (offset 0
        creates it); sync=True makes the bytes durable before returning.
        """

    async def move(self, src: str, dst: str) -> None:
        """Make src's bytes appear under dst (atomically) and remove src."""

    def spool(self, hasher: Any) -> Spool | None:
        """A temp file to receive a blob into while it is read (a proxy-cache fetch), hashed with
        `hasher` (or not, with None), when the driver has local files; None for object stores."""

    async def delete(self, key: str) -> None:
        """Remove key; a missing key is not an error."""

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every key under prefix/."""

    async def modified(self, key: str) -> datetime | None:
        """When the object at key was last written, or None when it does not exist."""

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Yield every key under prefix/ (in no particular order)."""

    def local_file(self, key: str) -> str | None:
        """A filesystem path serving key's bytes zero-copy, when the driver has one."""

    async def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        """A time-limited URL a client can GET key from directly, when supported."""

    async def capacity(self) -> tuple[int, int] | None:
        """(free, total) bytes of the volume holding the blobs, or None when the store cannot tell
        (object stores). Cheap on a local disk (one statvfs), so health checks and metrics call it
        often; a full store makes writes fail with OSError ENOSPC (see berth.faults)."""

    async def close(self) -> None:
        """Release connections and background resources."""
