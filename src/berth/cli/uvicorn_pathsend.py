"""ASGI's `http.response.pathsend` for uvicorn: whole blobs go out on a worker thread of their own.

uvicorn writes every body from its event loop, so eight parallel blob pulls are eight kernel copies
from the page cache into socket buffers on one thread. With `pathsend` the app hands over a path
instead of bytes; here each such response is written by a thread of its own from 1 MiB memory-map
windows, so the copies spread over the cores. (sendfile(2) was tried first: on this machine's
loopback it was slower than writing from a map, 1.6-2.1 against 2.9-3.7 GB/s for one stream, and
0.7-3.0 against 3.0-4.3 GB/s for eight.)

`berth.response.follow` (berth's own, storage.base.FOLLOW_EXTENSION) does the same for a file that is
still being written, a proxy cache's spool: as far as the spool's `wait(offset, timeout)` allows; where
it says -1 (the bytes were not the blob's) the response is cut.

uvicorn takes a protocol class (`Config(http=...)`); this one is its httptools protocol with the
extension offered on plain-TCP connections (TLS needs the bytes to pass through the SSL object, so
there the app keeps sending them itself).
"""

from __future__ import annotations

import asyncio
import mmap
import os
import select
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from berth.storage.base import FOLLOW_EXTENSION as FOLLOW

#: a client that takes nothing for this long is dropped (as uvicorn's own writes would stall)
IDLE_TIMEOUT_SECONDS = 60.0
#: transfers at once; more wait for a thread (each is mostly the kernel copying)
MAX_TRANSFERS = 64
#: bytes mapped at a time per transfer: what a pull adds to the resident set
WINDOW_BYTES = 1 << 20

_transfers = ThreadPoolExecutor(max_workers=MAX_TRANSFERS, thread_name_prefix="berth-pathsend")


class PathsendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering `http.response.pathsend` when the socket is plain TCP."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is previous or cycle is None or self.transport.get_extra_info("sslcontext") is not None:
            return
        extensions = cycle.scope.setdefault("extensions", {})
        extensions["http.response.pathsend"] = {}
        extensions[FOLLOW] = {}
        # the app's task is created but has not run yet: it will call this send
        cycle.send = _PathsendSender(cycle, self.loop)  # type: ignore[method-assign]


class _PathsendSender:
    def __init__(self, cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop) -> None:
        self.cycle = cycle
        self.loop = loop
        self.send = RequestResponseCycle.send.__get__(cycle)

    async def __call__(self, message: Any) -> None:
        kind = message["type"]
        if kind != "http.response.pathsend" and kind != FOLLOW:
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
            if kind == FOLLOW:
                # its own descriptor: the app closes its one when this returns, even if the thread goes on
                source = os.dup(message["fd"])
                sent = await self.loop.run_in_executor(
                    _transfers, _send_followed, sock.fileno(), source, count, stop, message["spool"])
            else:
                sent = await self.loop.run_in_executor(_transfers, _send_file, sock.fileno(), message["path"], count,
                                                       stop)
        finally:
            stop.set()  # cancelled (server shutting down): the thread gives up at its next wait
        cycle.expected_content_length -= sent
        if sent < count:
            transport.close()  # the client went away or stalled: a cut body must not look complete
            cycle.disconnected = True
            return
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _send_file(socket_fd: int, path: str, count: int, stop: threading.Event) -> int:
    """Write `count` bytes of `path` to the socket from memory-map windows; the bytes sent (fewer if
    the peer left or stalled). One copy, page cache to socket buffer, on this thread."""
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
                length = min(WINDOW_BYTES, count - sent)
                with mmap.mmap(source.fileno(), length, prot=mmap.PROT_READ, offset=sent) as window:
                    view = memoryview(window)
                    done = 0
                    try:
                        while done < length and not stop.is_set():
                            try:
                                done += os.write(out, view[done:])
                                idle = 0.0
                            except BlockingIOError:
                                if not poller.poll(1000):
                                    idle += 1.0
                                    if idle >= IDLE_TIMEOUT_SECONDS:
                                        return sent + done
                    except (BrokenPipeError, ConnectionResetError):
                        return sent + done
                    finally:
                        view.release()
                sent += done
    except ValueError:  # the file is shorter than announced: mmap cannot map past its end
        pass
    finally:
        os.close(out)
    return sent


def _send_followed(socket_fd: int, source: int, count: int, stop: threading.Event, spool: Any) -> int:
    """Write `count` bytes of a file that is still being written (descriptor `source`, closed at the
    end) to the socket, as far as `spool.wait(sent, timeout)` allows each time; stops where it says -1
    (the bytes were not the blob's). sendfile, not maps: mapping and unmapping while other threads
    write the file contend for the process's address-space lock."""
    out = os.dup(socket_fd)  # as in _send_file
    sent = 0
    try:
        poller = select.poll()
        poller.register(out, select.POLLOUT)
        idle = 0.0
        while sent < count and not stop.is_set():
            ready = min(spool.wait(sent, 1.0), count)
            if ready < 0:
                break
            if ready <= sent:
                continue  # nothing new yet (the writer fails the spool when its upstream stalls)
            try:
                sent += os.sendfile(out, source, sent, min(WINDOW_BYTES, ready - sent))
                idle = 0.0
            except BlockingIOError:
                if not poller.poll(1000):
                    idle += 1.0
                    if idle >= IDLE_TIMEOUT_SECONDS:
                        break
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        os.close(out)
        os.close(source)
    return sent
