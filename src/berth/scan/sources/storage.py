"""berth's own blob storage as a blob source, for scans inside the registry (no HTTP, no credentials).

Storage drivers are async and the image walk is not: the walk runs on a worker thread and every
read of a driver stream is handed to the event loop that owns the driver. A driver that keeps
blobs in local files (the filesystem driver) is read directly instead.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from sqlalchemy import select

from berth.db.models import Manifest
from berth.db.session import Database
from berth.references import InvalidDigest, is_digest_reference, parse_digest
from berth.scan.sources.base import BlobMissing, ManifestNotFound, check_digest, verified_stream
from berth.storage import paths
from berth.storage.base import BlobNotFound, StorageDriver

#: digest -> (media type, bytes) of a stored manifest, or None; manifests live in SQL, not in blob storage
ManifestLookup = Callable[[str], Awaitable[tuple[str, bytes] | None]]


def database_manifests(database: Database) -> ManifestLookup:
    """Look manifests up by digest in berth's database (the bytes are the same in every repository)."""

    async def lookup(digest: str) -> tuple[str, bytes] | None:
        async with database.read() as conn:
            row = (
                await conn.execute(
                    select(Manifest.media_type, Manifest.content).where(Manifest.digest == digest).limit(1)
                )
            ).first()
        return None if row is None else (row.media_type, bytes(row.content))

    return lookup


class StorageSource:
    """Reads manifests (by digest: tags are the database's business) and blobs of berth's storage.

    Call it from a thread other than `loop`'s: each read waits for the loop to run the driver.
    """

    def __init__(self, driver: StorageDriver, manifests: ManifestLookup, loop: asyncio.AbstractEventLoop) -> None:
        self.driver = driver
        self._manifests = manifests
        self._loop = loop

    def _run(self, awaitable: Awaitable):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(_await(awaitable), self._loop).result()

    def manifest(self, reference: str | None) -> tuple[str, bytes]:
        if reference is None or not is_digest_reference(reference):
            raise ManifestNotFound(f"berth storage reads manifests by digest, not {reference!r}")
        found = self._run(self._manifests(reference))
        if found is None:
            raise ManifestNotFound(f"no manifest {reference}")
        media_type, data = found
        check_digest(reference, data)
        return media_type, data

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            key = paths.blob_path(parse_digest(digest))
        except InvalidDigest as exc:
            raise BlobMissing(f"not a digest: {digest}") from exc
        local = self.driver.local_file(key)
        if local is not None:
            try:
                return verified_stream(open(local, "rb", buffering=0), digest)
            except FileNotFoundError:
                pass  # deleted since local_file looked; the driver says so below
        reader = _LoopStreamReader(self.driver.read(key), self._loop, digest)
        return verified_stream(reader, digest)


async def _await(awaitable: Awaitable):  # type: ignore[no-untyped-def]
    return await awaitable


class _LoopStreamReader(io.RawIOBase):
    """An async byte iterator owned by another thread's event loop, read as a blocking raw file."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, digest: str) -> None:
        self._chunks = chunks
        self._loop = loop
        self._digest = digest
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        while not self._pending:
            if self._done:
                return 0
            try:
                chunk = asyncio.run_coroutine_threadsafe(_next(self._chunks), self._loop).result()
            except BlobNotFound as exc:
                raise BlobMissing(f"no blob {self._digest} in storage") from exc
            if chunk is None:
                self._done = True
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed and not self._done:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                asyncio.run_coroutine_threadsafe(aclose(), self._loop).result()
        super().close()


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None
