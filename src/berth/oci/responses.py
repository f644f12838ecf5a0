"""Responses that stream blob bytes: zero-copy files where the server allows, driver streams otherwise."""

from __future__ import annotations

import mmap
import os
from collections.abc import AsyncIterator, Mapping

import anyio
from starlette.types import Receive, Scope, Send

_CHUNK = 1024 * 1024
#: reads this small are done on the event loop: a page-cache pread costs less than a thread hop
_INLINE_READ = 256 * 1024
_WINDOW = 4 * 1024 * 1024


async def _send_mapped(fd: int, start: int, length: int, send: Send) -> None:
    """Send [start, start+length) from 4 MiB windows of a read-only memory map.

    The socket write then copies straight from the page cache (one copy instead of
    pread's two, and no thread hop), which is what lets a Python process pull
    faster than the Go peer. A window is unmapped when the server drops its last
    slice, so resident memory stays bounded by the windows in flight. The caller
    has checked the file is long enough: touching a page past EOF would SIGBUS.
    """
    end = start + length
    base = start - start % mmap.ALLOCATIONGRANULARITY
    while base < end:
        size = min(_WINDOW, end - base)
        window = mmap.mmap(fd, size, access=mmap.ACCESS_READ, offset=base)
        window.madvise(mmap.MADV_WILLNEED)  # start readahead of the whole window now
        view = memoryview(window)
        for offset in range(max(start, base) - base, size, _CHUNK):
            piece = view[offset : min(offset + _CHUNK, size)]
            await send({"type": "http.response.body", "body": piece, "more_body": base + offset + len(piece) < end})
            del piece
        del view, window
        base += size


class FileRangeResponse:
    """Serves bytes [start, start+length) of a local file.

    The whole file goes out with the ASGI `http.response.pathsend` extension
    when the server offers it (granian; berth's uvicorn protocol on plain TCP,
    where a thread writes it); otherwise large bodies are sent from a memory map;
    small bodies are one pread on the event loop; ranges under pathsend are
    1 MiB preads on a worker thread.
    """

    def __init__(
        self, path: str, start: int, length: int, status: int, headers: Mapping[str, str]
    ) -> None:
        self.path = path
        self.start = start
        self.length = length
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.headers.append((b"content-length", str(length).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        whole = self.start == 0
        pathsend = "http.response.pathsend" in scope.get("extensions", {})
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            await _send_gone(send)
            return
        try:
            size = os.fstat(fd).st_size
            if size < self.start + self.length:
                raise OSError(f"{self.path} is shorter than recorded")
            if whole and pathsend and size == self.length:
                await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
                await send({"type": "http.response.pathsend", "path": self.path})
                return
            await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
            if self.length <= _INLINE_READ:
                await send({"type": "http.response.body", "body": os.pread(fd, self.length, self.start)})
                return
            if not pathsend:  # uvicorn: it writes memoryviews to the socket as they are
                await _send_mapped(fd, self.start, self.length, send)
                return
            offset, remaining = self.start, self.length
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(os.pread, fd, min(_CHUNK, remaining), offset)
                if not chunk:
                    break
                offset += len(chunk)
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        finally:
            os.close(fd)


class StreamRangeResponse:
    """Streams driver chunks (object stores)."""

    def __init__(self, chunks: AsyncIterator[bytes], length: int, status: int, headers: Mapping[str, str]) -> None:
        self.chunks = chunks
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.headers.append((b"content-length", str(length).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = aiter(self.chunks)
        # the first chunk before the status line: a store that cannot be read answers an error, not a cut 200
        first = await anext(chunks, b"")
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _send_gone(send: Send) -> None:
    from berth.oci.errors import error_body

    body = error_body("BLOB_UNKNOWN", "blob unknown to registry")
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
