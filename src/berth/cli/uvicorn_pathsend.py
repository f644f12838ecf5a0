"""ASGI's `http.response.pathsend` for uvicorn: whole blobs go out with sendfile(2) on a worker thread.

uvicorn writes every body from its event loop, so eight parallel blob pulls are eight kernel copies
from the page cache into socket buffers on one thread. With `pathsend` the app hands over a path
instead of bytes; here each such response is sent by `os.sendfile` on a thread of its own (no copy
through user space, and the transfers spread over the cores), as the peer's Go server does.

uvicorn takes a protocol class (`Config(http=...)`); this one is its httptools protocol with the
extension offered on plain-TCP connections (TLS needs the bytes to pass through the SSL object, so
there the app keeps sending them itself).
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

#: a client that takes nothing for this long is dropped (as uvicorn's own writes would stall)
IDLE_TIMEOUT_SECONDS = 60.0
#: transfers at once; more wait for a thread (each is mostly the kernel copying)
MAX_TRANSFERS = 64

_transfers = ThreadPoolExecutor(max_workers=MAX_TRANSFERS, thread_name_prefix="berth-sendfile")


class PathsendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering `http.response.pathsend` when the socket is plain TCP."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is previous or cycle is None or self.transport.get_extra_info("sslcontext") is not None:
            return
        cycle.scope.setdefault("extensions", {})["http.response.pathsend"] = {}
        # the app's task is created but has not run yet: it will call this send
        cycle.send = _PathsendSender(cycle, self.loop)  # type: ignore[method-assign]


class _PathsendSender:
    def __init__(self, cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop) -> None:
        self.cycle = cycle
        self.loop = loop
        self.send = RequestResponseCycle.send.__get__(cycle)

    async def __call__(self, message: Any) -> None:
        if message["type"] != "http.response.pathsend":
            await self.send(message)
            return
        cycle = self.cycle
        if cycle.disconnected or not cycle.response_started or cycle.response_complete:
            return
        if cycle.scope["method"] == "HEAD" or cycle.chunked_encoding:
            raise RuntimeError("pathsend needs a GET response with a Content-Length")
        transport = cycle.transport
        while transport.get_write_buffer_size() and not transport.is_closing():
            await asyncio.sleep(0.001)  # the status line and headers first, from uvicorn's buffer
        sock = transport.get_extra_info("socket")
        if transport.is_closing() or sock is None:
            return
        count = cycle.expected_content_length
        stop = threading.Event()
        try:
            sent = await self.loop.run_in_executor(_transfers, _send_file, sock.fileno(), message["path"], count, stop)
        finally:
            stop.set()  # cancelled (server shutting down): the thread gives up at its next wait
        cycle.expected_content_length -= sent
        if sent < count:
            transport.close()  # the client went away or stalled: a cut body must not look complete
            cycle.disconnected = True
            return
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _send_file(socket_fd: int, path: str, count: int, stop: threading.Event) -> int:
    """sendfile(2) `count` bytes of `path` to the socket; the bytes sent (fewer if the peer left)."""
    # a descriptor of our own: if the event loop closes the connection meanwhile, its number may be
    # reused by another socket, which must never receive these bytes
    out = os.dup(socket_fd)
    sent = 0
    try:
        poller = select.poll()
        poller.register(out, select.POLLOUT)
        with open(path, "rb") as source:
            idle = 0.0
            while sent < count and not stop.is_set():
                try:
                    n = os.sendfile(out, source.fileno(), sent, count - sent)
                except BlockingIOError:
                    if poller.poll(1000):
                        idle = 0.0
                    else:
                        idle += 1.0
                        if idle >= IDLE_TIMEOUT_SECONDS:
                            break
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                if n == 0:  # the file is shorter than announced
                    break
                sent += n
    finally:
        os.close(out)
    return sent
