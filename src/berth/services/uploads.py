"""Blob upload sessions: monolithic and chunked, streamed to storage with the digest computed on the way.

Where the driver can append (filesystem), every PATCH (and the closing PUT's
body) goes at the end of one working file, cut back to the recorded size first
so that the remains of a failed chunk never count; closing the session syncs
it, verifies the digest and moves it into the blob's final key, with no copy.
Elsewhere (object stores) each chunk is stored as one part object at its
offset, and closing the session moves (one part) or concatenates (several) the
parts. The running hash lives in this process's memory; when it is missing (a
restart, another node) the digest is recomputed from the stored data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from berth.db.models import Upload, utcnow
from berth.db.session import Database
from berth.references import DIGEST_ALGORITHMS, Digest
from berth.services.blobs import BlobInCollection, BlobInfo, BlobService
from berth.services.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    SizeInvalid,
    Unsupported,
)
from berth.faults import classify
from berth.services.quotas import QuotaExceededError, QuotaService
from berth.services.repositories import RepositoryService
from berth.storage import paths
from berth.storage.base import Spool, StorageDriver


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    repository: str
    size: int


@dataclass
class _Hashing:
    hasher: "hashlib._Hash"
    offset: int


class UploadService:
    def __init__(
        self, db: Database, storage: StorageDriver, repositories: RepositoryService, blobs: BlobService,
        quotas: QuotaService,
    ) -> None:
        self._db = db
        self._storage = storage
        self._repositories = repositories
        self._blobs = blobs
        self._quotas = quotas
        self._hashing: dict[str, _Hashing] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str, algorithm: str = "sha256") -> UploadState:
        if algorithm not in DIGEST_ALGORITHMS:
            raise Unsupported(f"unsupported digest algorithm: {algorithm[:40]}")
        await self._quotas.check_start(self._repositories.validate(repository))
        repo_id = await self._repositories.ensure(repository)
        upload_id = str(uuid.uuid4())
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                self._db.insert(Upload).values(
                    id=upload_id, repository_id=repo_id, size=0, created_at=now, updated_at=now
                )
            )
        self._hashing[upload_id] = _Hashing(hashlib.new(algorithm), 0)
        return UploadState(upload_id, repository, 0)

    async def status(self, repository: str, upload_id: str) -> UploadState:
        upload_id = _canonical(upload_id)
        repo_id = await self._repositories.require(repository)
        async with self._db.read() as conn:
            size = await conn.scalar(
                select(Upload.size).where(Upload.id == upload_id, Upload.repository_id == repo_id)
            )
        if size is None:
            raise BlobUploadUnknown("blob upload unknown to registry", {"upload": upload_id})
        return UploadState(upload_id, repository, size)

    async def append(
        self,
        repository: str,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> UploadState:
        """Store one chunk at the end of the upload. `start` (from Content-Range) must be the current size."""
        state = await self.status(repository, upload_id)
        async with self._lock(state.id):
            state = await self.status(repository, state.id)
            return await self._append(state, chunks, start, length)

    async def _append(
        self, state: UploadState, chunks: AsyncIterator[bytes], start: int | None, length: int | None
    ) -> UploadState:
        if start is not None and start != state.size:
            raise RangeInvalid(
                f"chunk starts at {start}, the upload has {state.size} bytes", {"size": state.size}
            )
        hashing = self._hashing.get(state.id)
        hasher = hashing.hasher.copy() if hashing is not None and hashing.offset == state.size else None
        if self._storage.can_append:
            # the bytes past state.size are not the upload's until the UPDATE below records them
            written = await self._append_to_file(state, _hashed(chunks, hasher))
            if length is not None and written != length:
                raise SizeInvalid(f"received {written} bytes, Content-Length said {length}")
            if written == 0:
                return state
        else:
            key = paths.upload_part_path(state.id, state.size)
            written = await self._storage.write(key, _hashed(chunks, hasher))
            if length is not None and written != length:
                await self._storage.delete(key)
                raise SizeInvalid(f"received {written} bytes, Content-Length said {length}")
            if written == 0:
                await self._storage.delete(key)
                return state
        new_size = state.size + written
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Upload)
                .where(Upload.id == state.id, Upload.size == state.size)
                .values(size=new_size, updated_at=utcnow())
            )
        if result.rowcount != 1:
            raise RangeInvalid("the upload changed while this chunk was received")
        if hasher is not None:
            self._hashing[state.id] = _Hashing(hasher, new_size)
        else:
            self._hashing.pop(state.id, None)
        return UploadState(state.id, state.repository, new_size)

    async def finish(
        self,
        repository: str,
        upload_id: str,
        digest: Digest,
        chunks: AsyncIterator[bytes] | None = None,
        start: int | None = None,
        length: int | None = None,
    ) -> BlobInfo:
        """Close the session: store the final chunk if any, verify the digest, make the blob visible."""
        state = await self.status(repository, upload_id)
        async with self._lock(state.id):
            try:
                return await self._finish(repository, state.id, digest, chunks, start, length)
            except Exception as exc:
                if classify(exc) is not None:
                    # a full disk or a lost database or store: the client starts over (as every client
                    # does after a failed closing PUT), so nothing of this session is kept
                    await self._abandon(state.id)
                raise

    async def _finish(
        self, repository: str, upload_id: str, digest: Digest, chunks: AsyncIterator[bytes] | None,
        start: int | None, length: int | None,
    ) -> BlobInfo:
        state = await self.status(repository, upload_id)
        if chunks is not None:
            state = await self._append(state, chunks, start, length)
        try:
            if self._storage.can_append and state.size > 0:
                # drop what a failed chunk left past the recorded size; durable before it is linked
                await self._append_to_file(state, _nothing(), sync=True)
            parts = await self._parts(state)
            actual = await self._digest(state, parts, digest.algorithm)
            if actual != digest.hex:
                raise DigestInvalid(
                    "provided digest did not match uploaded content",
                    {"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"},
                )
            repo_id = await self._repositories.require(repository)
            await self._record_then_store(digest, state.size, repo_id, repository, parts)
            await self._delete_row(state.id)
        except (DigestInvalid, BlobUploadInvalid, QuotaExceededError):
            # over quota: nothing was linked, nothing moved
            await self.discard(state.id)
            raise
        self._hashing.pop(state.id, None)
        self._locks.pop(state.id, None)
        await self._storage.delete_prefix(paths.upload_dir(state.id))
        return BlobInfo(str(digest), state.size)

    async def monolithic(
        self, repository: str, digest: Digest, chunks: AsyncIterator[bytes], length: int | None
    ) -> BlobInfo:
        """POST ?digest=: the whole blob in one request; no session row, nothing left behind on failure."""
        await self.check_room(repository)
        upload_id = str(uuid.uuid4())
        key = paths.upload_part_path(upload_id, 0)
        hasher = digest.hasher()
        try:
            size = await self._storage.write(key, _hashed(chunks, hasher))
            if length is not None and size != length:
                raise SizeInvalid(f"received {size} bytes, Content-Length said {length}")
            if hasher.hexdigest() != digest.hex:
                raise DigestInvalid(
                    "provided digest did not match uploaded content",
                    {"expected": str(digest), "actual": f"{digest.algorithm}:{hasher.hexdigest()}"},
                )
            repo_id = await self._repositories.ensure(repository)
            await self._record_then_store(digest, size, repo_id, repository, [key])
        finally:
            await self._storage.delete_prefix(paths.upload_dir(upload_id))
        return BlobInfo(str(digest), size)

    def spool(self, digest: Digest) -> Spool | None:
        """A temp file to receive `digest`'s bytes into while they are read (see `keep_spooled`), hashing
        them; None when the store has no local files (object stores: `monolithic` instead)."""
        return self._storage.spool(digest.hasher())

    async def check_room(self, repository: str) -> None:
        """Before a blob is received for `repository` without an upload session: refused (quota) when
        its project is over its limit already, as a monolithic upload is."""
        await self._quotas.check_start(self._repositories.validate(repository), warn=False)

    async def keep_spooled(self, repository: str, digest: Digest, spool: Spool) -> BlobInfo:
        """Store a spool's bytes as `digest` in `repository`: synced, the digest checked, recorded, then
        renamed into place (the caller discards the spool afterwards, kept or not)."""
        if spool.hasher.hexdigest() != digest.hex:
            raise DigestInvalid("provided digest did not match uploaded content",
                                {"expected": str(digest), "actual": f"{digest.algorithm}:{spool.hasher.hexdigest()}"})
        if await self._storage.stat(paths.blob_path(digest)) is None:
            await spool.sync()  # durable before the link promises the bytes: the rename after it is quick
        repo_id = await self._repositories.ensure(repository)
        await self._record_then_store(digest, spool.written, repo_id, repository, [], spool)
        return BlobInfo(str(digest), spool.written)

    async def cancel(self, repository: str, upload_id: str) -> None:
        state = await self.status(repository, upload_id)
        await self.discard(state.id)

    async def purge_expired(self, older_than: timedelta) -> int:
        """Remove upload sessions untouched for longer than `older_than`."""
        cutoff = utcnow() - older_than
        async with self._db.read() as conn:
            ids = (await conn.execute(select(Upload.id).where(Upload.updated_at < cutoff))).scalars().all()
        for upload_id in ids:
            await self.discard(upload_id)
        return len(ids)

    async def discard(self, upload_id: str) -> None:
        """Drop an upload session and its stored parts."""
        await self._delete_row(upload_id)
        self._hashing.pop(upload_id, None)
        self._locks.pop(upload_id, None)
        await self._storage.delete_prefix(paths.upload_dir(upload_id))

    async def _abandon(self, upload_id: str) -> None:
        """discard, as far as the failed database or store still allows; expiry removes what is left."""
        self._hashing.pop(upload_id, None)
        self._locks.pop(upload_id, None)
        for step in (self._delete_row(upload_id), self._storage.delete_prefix(paths.upload_dir(upload_id))):
            with contextlib.suppress(Exception):
                await step

    async def _delete_row(self, upload_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(Upload).where(Upload.id == upload_id))

    async def _append_to_file(self, state: UploadState, chunks: AsyncIterator[bytes], sync: bool = False) -> int:
        try:
            return await self._storage.append(
                paths.upload_part_path(state.id, 0), state.size, chunks, sync=sync
            )
        except ValueError as exc:  # the stored file is shorter than recorded (lost in a crash)
            raise BlobUploadInvalid(f"upload data is incomplete: {exc}") from None

    async def _parts(self, state: UploadState) -> list[str]:
        keys = [key async for key in self._storage.list(paths.upload_dir(state.id))]
        parts = sorted(keys, key=paths.upload_part_offset)
        offset = 0
        contiguous: list[str] = []
        for key in parts:
            if paths.upload_part_offset(key) != offset:
                break
            size = await self._storage.stat(key)
            if size is None:
                break
            contiguous.append(key)
            offset += size
            if offset == state.size:
                break
        if offset != state.size:
            raise BlobUploadInvalid(f"upload data is incomplete: {offset} of {state.size} bytes stored")
        return contiguous

    async def _digest(self, state: UploadState, parts: list[str], algorithm: str) -> str:
        hashing = self._hashing.get(state.id)
        if hashing is not None and hashing.offset == state.size and hashing.hasher.name == algorithm:
            return hashing.hasher.hexdigest()
        hasher = hashlib.new(algorithm)
        for key in parts:
            async for chunk in self._storage.read(key):
                hasher.update(chunk)
        return hasher.hexdigest()

    async def _record_then_store(
        self, digest: Digest, size: int, repo_id: int, repository: str, parts: list[str], spool: Spool | None = None,
    ) -> None:
        """Link the blob, then make sure its bytes are stored. In this order the garbage collector
        cannot take the bytes away: once the row is recorded (and touched) it is not collectable for
        the grace window, and a blob the collector had marked is waited for (its bytes and row go)
        before it is recorded again. The bytes found stored before the record might have been on
        their way out, so they are looked for only after it."""
        waited = 0.0
        while True:
            try:
                async with self._db.write() as conn:
                    await self._blobs.record(conn, str(digest), size, repo_id, repository)
                break
            except BlobInCollection:
                if waited >= _MARK_WAIT_SECONDS:
                    raise BlobUploadInvalid("the blob is being garbage collected: try again") from None
                await asyncio.sleep(0.05)
                waited += 0.05
        try:
            await self._commit(digest, parts, spool)
        except BaseException:
            # the bytes are not stored: the link must not promise them (the row stays, unlinked, for GC)
            with contextlib.suppress(Exception):
                await self._blobs.drop_link(repo_id, str(digest))
            raise

    async def _commit(self, digest: Digest, parts: list[str], spool: Spool | None = None) -> None:
        final = paths.blob_path(digest)
        if await self._storage.stat(final) is not None:
            return  # content-addressed: the same bytes are already stored
        if spool is not None:
            await spool.keep(final)
        elif len(parts) == 1:
            await self._storage.move(parts[0], final)
        else:
            await self._storage.write(final, self._concatenate(parts))

    async def _concatenate(self, parts: list[str]) -> AsyncIterator[bytes]:
        """The parts' bytes in order, read up to _PREFETCH chunks ahead of the consumer.

        Object stores answer each part's GET after a round trip; reading ahead keeps
        the next part coming while the previous chunks are being uploaded.
        """
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(_PREFETCH)
        failures: list[Exception] = []

        async def read_all() -> None:
            try:
                for key in parts:
                    async for chunk in self._storage.read(key):
                        await queue.put(chunk)
            except Exception as exc:  # handed to the consumer, which raises it
                failures.append(exc)
            await queue.put(None)

        reader = asyncio.create_task(read_all())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            if failures:
                raise failures[0]
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())


#: how long a push waits for the garbage collector to finish deleting a blob it pushes again
_MARK_WAIT_SECONDS = 30.0

#: chunks read ahead when parts are concatenated (object store reads come in 1-8 MiB chunks)
_PREFETCH = 2

#: received bytes are hashed in batches of this size on a worker thread
_HASH_BATCH = 1024 * 1024


async def _hashed(chunks: AsyncIterator[bytes], hasher: "hashlib._Hash | None") -> AsyncIterator[bytes]:
    """Pass chunks through while `hasher` digests them.

    Hashing runs on a worker thread, one 1 MiB batch behind the stream (hashlib
    releases the GIL), so the event loop keeps receiving; with several uploads
    at once that puts the hashing on the other cores.
    """
    if hasher is None:
        async for chunk in chunks:
            yield chunk
        return
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            yield chunk
            batch.append(chunk)
            size += len(chunk)
            if size >= _HASH_BATCH:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, _update, hasher, batch)
                batch, size = [], 0
    finally:
        if pending is not None:
            await pending  # never leave a thread touching the hasher behind us
    _update(hasher, batch)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


def _update(hasher: "hashlib._Hash", parts: list[bytes]) -> None:
    for part in parts:
        hasher.update(part)


def _canonical(upload_id: str) -> str:
    try:
        return paths.canonical_upload_id(upload_id)
    except ValueError:
        raise BlobUploadUnknown("blob upload unknown to registry", {"upload": upload_id[:100]}) from None
