"""The object store blob driver (S3, Azure Blob, GCS, in-memory) on obstore.

A write is one PUT or one completed multipart upload, so readers never see a
partial object; reads are ranged GETs streamed chunk by chunk.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import AzureStore, GCSStore, MemoryStore, S3Store

from berth.storage import validate_key
from berth.storage.base import BlobNotFound

if TYPE_CHECKING:
    from obstore.store import ObjectStore

log = logging.getLogger(__name__)

_PART_SIZE = 8 << 20
_MAX_CONCURRENCY = 4
_READ_CHUNK = 1 << 20
_MAX_READ_CHUNK = 8 << 20
_LIST_BATCH = 1000
# S3 CopyObject refuses sources over 5 GiB; bigger objects are copied by streaming.
_S3_COPY_LIMIT = 5 << 30

# obstore's ClientConfig keys: these go to client_options, everything else to the store config.
_CLIENT_OPTION_KEYS = frozenset(
    {
        "allow_http",
        "allow_invalid_certificates",
        "connect_timeout",
        "default_content_type",
        "default_headers",
        "http1_only",
        "http2_keep_alive_interval",
        "http2_keep_alive_timeout",
        "http2_keep_alive_while_idle",
        "http2_only",
        "pool_idle_timeout",
        "pool_max_idle_per_host",
        "proxy_url",
        "proxy_ca_certificate",
        "proxy_excludes",
        "randomize_addresses",
        "read_timeout",
        "root_certificate",
        "timeout",
        "user_agent",
    }
)
# The client timeout covers a whole request including its streamed body, and a
# large blob read by a slow client easily outlives obstore's 30 s default.
_DEFAULT_CLIENT_OPTIONS = {"timeout": "1h"}
_SCHEMES = {"s3", "s3a", "az", "azure", "abfs", "abfss", "adl", "gs", "https"}


class ObjectStoreDriver:
    """Blob storage in an object store bucket or container, below an optional key prefix."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str = "",
        *,
        part_size: int = _PART_SIZE,
        max_concurrency: int = _MAX_CONCURRENCY,
        server_copy_limit: int | None = None,
    ) -> None:
        """part_size * max_concurrency bounds the memory one write buffers.

        server_copy_limit: objects larger than this are moved by streaming them
        through this process instead of a server-side copy (default: 5 GiB on S3).
        """
        self.store = store
        self.prefix = validate_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.name = _store_kind(store)
        self._part_size = part_size
        self._max_concurrency = max_concurrency
        if server_copy_limit is None and isinstance(store, S3Store):
            server_copy_limit = _S3_COPY_LIMIT
        self._server_copy_limit = server_copy_limit
        self._can_sign = isinstance(store, S3Store | AzureStore | GCSStore)

    def _path(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, path: str) -> str:
        return path[len(self.prefix) + 1 :] if self.prefix else path

    async def stat(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self.store, self._path(key))
        except FileNotFoundError:
            return None
        return meta["size"]

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if offset < 0:
            raise ValueError("negative offset")
        if length is not None and length < 0:
            raise ValueError("negative length")
        path = self._path(key)
        if length == 0:
            if await self.stat(key) is None:
                raise BlobNotFound(key)
            return
        options: dict[str, Any] | None = None
        if length is not None:
            options = {"range": (offset, offset + length)}
        elif offset:
            options = {"range": {"offset": offset}}
        try:
            result = await obstore.get_async(self.store, path, options=options)  # type: ignore[arg-type]
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except ObstoreError:
            # Stores refuse a range that starts at or past the end; that is an empty read.
            size = await self.stat(key)
            if size is None:
                raise BlobNotFound(key) from None
            if offset >= size:
                return
            raise
        async for chunk in result.stream(min_chunk_size=_READ_CHUNK):
            if len(chunk) <= _MAX_READ_CHUNK:
                yield chunk
                continue
            # The in-memory store hands over the whole object at once.
            for start in range(0, len(chunk), _READ_CHUNK):
                yield chunk[start : start + _READ_CHUNK]

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(key)
        chunks = chunks.__aiter__()
        head: list[bytes] = []
        size = 0
        async for chunk in chunks:
            head.append(chunk)
            size += len(chunk)
            if size > self._part_size:
                break
        else:
            # A small object (a config, a small layer, most upload chunks, which clients
            # often size at exactly one part) takes one PUT instead of the three
            # requests of a multipart upload.
            await obstore.put_async(self.store, path, b"".join(head), use_multipart=False)
            return size
        counted = _CountedStream(head, chunks)
        await obstore.put_async(
            self.store,
            path,
            counted,
            chunk_size=self._part_size,
            max_concurrency=self._max_concurrency,
        )
        return counted.total

    # Objects are immutable: an upload session stores one object per chunk instead.
    can_append = False

    async def append(self, key: str, offset: int, chunks: AsyncIterator[bytes], *, sync: bool = False) -> int:
        raise NotImplementedError("object stores cannot append")

    async def move(self, src: str, dst: str) -> None:
        src_path, dst_path = self._path(src), self._path(dst)
        if src_path == dst_path:  # copy-then-delete would lose the object
            if await self.stat(src) is None:
                raise BlobNotFound(src)
            return
        if self._server_copy_limit is not None:
            size = await self.stat(src)
            if size is None:
                raise BlobNotFound(src)
            if size > self._server_copy_limit:
                await self.write(dst, self.read(src))
                await self.delete(src)
                return
        try:
            await obstore.copy_async(self.store, src_path, dst_path)
        except FileNotFoundError:
            raise BlobNotFound(src) from None
        await self.delete(src)

    def spool(self, hasher: Any) -> None:
        return None  # no local file to follow: a proxy-cache fetch streams through write() instead

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self.store, self._path(key))
        except FileNotFoundError:
            pass

    async def delete_prefix(self, prefix: str) -> None:
        stream = obstore.list(self.store, self._path(prefix.rstrip("/")), chunk_size=_LIST_BATCH)
        async for batch in stream:
            paths = [meta["path"] for meta in batch]
            try:
                await obstore.delete_async(self.store, paths)
            except FileNotFoundError:
                # A concurrent delete won a race; Azure and GCS report that per object.
                for path in paths:
                    await self.delete(self._key(path))

    async def modified(self, key: str) -> datetime | None:
        try:
            meta = await obstore.head_async(self.store, self._path(key))
        except FileNotFoundError:
            return None
        value = meta["last_modified"]
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        stream = obstore.list(self.store, self._path(prefix.rstrip("/")), chunk_size=_LIST_BATCH)
        async for batch in stream:
            for meta in batch:
                yield self._key(meta["path"])

    def local_file(self, key: str) -> str | None:
        return None

    async def capacity(self) -> tuple[int, int] | None:
        return None  # object stores have no fixed size to report

    async def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        path = self._path(key)
        if not self._can_sign:
            return None
        try:
            return await obstore.sign_async(
                self.store,  # type: ignore[arg-type]
                "GET",
                path,
                timedelta(seconds=expires_seconds),
            )
        except ObstoreError as exc:
            # e.g. GCS without a service account key: serve bytes through berth instead.
            log.warning("presigning is not available for this %s store: %s", self.name, exc)
            self._can_sign = False
            return None

    async def close(self) -> None:
        return None


def from_url(url: str, options: dict[str, Any] | None = None, prefix: str = "") -> ObjectStoreDriver:
    """Build a driver from `s3://bucket`, `az://container` (or `azure://`), `gs://bucket` or `memory://`.

    A path in the url (`s3://bucket/some/dir`) goes in front of prefix. options
    are obstore settings, e.g. endpoint, region, access_key_id, secret_access_key,
    account_name, account_key, use_emulator, allow_http, timeout; "part_size"
    and "max_concurrency" tune multipart writes.
    """
    options = dict(options or {})
    tuning = {key: int(options.pop(key)) for key in ("part_size", "max_concurrency") if key in options}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return ObjectStoreDriver(MemoryStore(), prefix, **tuning)
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported object store url: {url!r}")
    if scheme != "https":
        # Keep every prefix in the driver, so listings and signed URLs agree on keys.
        prefix = "/".join(p for p in (parts.path.strip("/"), prefix.strip("/")) if p)
        url = f"{parts.scheme}://{parts.netloc}"
    client_options = dict(_DEFAULT_CLIENT_OPTIONS)
    client_options.update(options.pop("client_options", None) or {})
    for key in list(options):
        if key in _CLIENT_OPTION_KEYS:
            client_options[key] = options.pop(key)
    store = obstore.store.from_url(url, client_options=client_options, **options)  # type: ignore[call-overload]
    if not isinstance(store, S3Store | AzureStore | GCSStore):
        raise ValueError(f"not an S3, Azure or GCS url: {url!r}")
    return ObjectStoreDriver(store, prefix, **tuning)


def _store_kind(store: ObjectStore) -> str:
    if isinstance(store, S3Store):
        return "s3"
    if isinstance(store, AzureStore):
        return "azure"
    if isinstance(store, GCSStore):
        return "gcs"
    if isinstance(store, MemoryStore):
        return "memory"
    return "objectstore"


class _CountedStream:
    """The chunks already taken from a stream, then the rest of it, counting the bytes."""

    def __init__(self, head: list[bytes], rest: AsyncIterator[bytes]) -> None:
        self._head = deque(head)
        self._rest = rest
        self.total = 0

    def __aiter__(self) -> _CountedStream:
        return self

    async def __anext__(self) -> bytes:
        chunk = self._head.popleft() if self._head else await self._rest.__anext__()
        self.total += len(chunk)
        return chunk
