"""An upstream blob's body read on a worker thread with the standard library's blocking HTTP client, in
large reads: httpx parses a body in 64 KiB events on the event loop, which caps a cold pull at a
fraction of what the socket gives (see the README's Speed section). The request itself (credentials,
the token, redirects) is httpx's; only the body's bytes come this way.

`copy(sink)` hands every read to `sink` on that thread (the proxy cache hashes and writes it there, so
the bytes never pass through the event loop); `chunks()` brings them to the event loop instead."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

#: bytes per read for a `copy` sink (fewer, larger pieces measured faster: 4 MiB over 1 MiB), and for
#: `chunks()`, which keeps up to _AHEAD of them in memory
READ_BYTES = 4 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
#: chunks read ahead of a `chunks()` consumer
_AHEAD = 8


class BodyFailed(Exception):
    """The upstream answered something else than 200, or the connection broke."""

    def __init__(self, reason: str, status: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _Stopped(Exception):
    """close() was called while the body was being read."""


class ThreadedBody:
    """GET `url` with `headers` on a worker thread; `start()` waits for the status line, then either
    `copy(sink)` or `chunks()` takes the body, at most `speed` bytes/s (0: no limit). `close()` (or
    leaving `chunks()`) stops the thread."""

    def __init__(
        self, url: str, headers: dict[str, str], verify: ssl.SSLContext | bool, timeout: float, speed: int = 0,
    ) -> None:
        self._url = urlsplit(url)
        self._headers = headers
        self._verify = verify
        self._timeout = timeout
        self._speed = speed
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._go = threading.Event()
        self._sink: Callable[[memoryview], None] | None = None
        self._read_bytes = READ_BYTES
        self._started: asyncio.Future[int | None] = self._loop.create_future()
        self._done: asyncio.Future[int] = self._loop.create_future()
        self._ended: asyncio.Future[None] = self._loop.create_future()
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="berth-proxy-body", daemon=True)

    async def start(self) -> int | None:
        """The declared length (None when the upstream streams without one); BodyFailed unless 200."""
        self._thread.start()
        return await self._started

    async def copy(self, sink: Callable[[memoryview], None], read_bytes: int = READ_BYTES) -> int:
        """Hand the body to `sink` on the worker thread, `read_bytes` at a time (the view is reused after
        `sink` returns); the byte count once the body ended. BodyFailed when the connection breaks; what
        `sink` raises is raised here."""
        self._sink = sink
        self._read_bytes = read_bytes
        self._go.set()
        try:
            return await self._done
        except asyncio.CancelledError:
            # the sink's owner releases what it writes to once this returns: the thread must be gone
            self.close()
            await asyncio.shield(self._ended)
            raise

    async def chunks(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        room = threading.Semaphore(_AHEAD)

        def hand_over(view: memoryview) -> None:
            room.acquire()
            if self._stop.is_set():
                raise _Stopped
            self._call(queue.put_nowait, bytes(view))

        def ended(done: asyncio.Future[int]) -> None:
            queue.put_nowait(None)
            if not done.cancelled():
                done.exception()  # retrieved here; raised below when the consumer is still there

        copying = asyncio.ensure_future(self.copy(hand_over, _CHUNK_BYTES))
        copying.add_done_callback(ended)
        try:
            while (item := await queue.get()) is not None:
                room.release()
                yield item
            await copying
        finally:
            self.close()
            room.release()  # a reader waiting for room wakes up and sees the stop
            if not copying.done():
                copying.cancel()

    def close(self) -> None:
        self._stop.set()
        self._go.set()
        sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # a read waiting on the upstream returns at once
                sock.shutdown(socket.SHUT_RDWR)

    # --- the worker thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self._call(_resolve, self._ended, None)

    def _work(self) -> None:
        try:
            connection = self._connection = self._connect()
        except (OSError, ValueError) as exc:
            self._settle(BodyFailed(f"the upstream connection broke: {exc or type(exc).__name__}"))
            return
        try:
            target = self._url.path + (f"?{self._url.query}" if self._url.query else "")
            connection.request("GET", target, headers=self._headers)
            response = connection.getresponse()
            if response.status != 200:
                self._settle(BodyFailed(f"the upstream answered HTTP {response.status}", response.status))
                return
            length = response.getheader("Content-Length")
            self._settle(int(length) if length and length.isdigit() else None)
            self._go.wait()
            if self._stop.is_set() or self._sink is None:
                return
            self._finish(self._pump(response, self._sink, self._read_bytes))
        except (OSError, http.client.HTTPException) as exc:
            failure = BodyFailed(f"the upstream connection broke: {exc or type(exc).__name__}")
            self._settle(failure)
            self._finish(failure)
        except _Stopped:
            self._finish(BodyFailed("the transfer was stopped"))
        except BaseException as exc:  # the sink's own failure (a full disk): the caller's to handle
            self._finish(exc)
        finally:
            connection.close()

    def _pump(self, response: http.client.HTTPResponse, sink: Callable[[memoryview], None], size: int) -> int:
        buffer = bytearray(size)
        view = memoryview(buffer)
        total, begun = 0, time.monotonic()
        while not self._stop.is_set():
            filled = 0
            while filled < size:  # fill the whole buffer: fewer, larger pieces downstream
                count = response.readinto(view[filled:])
                if not count:
                    break
                filled += count
            if not filled:
                break
            sink(view[:filled])
            total += filled
            if self._speed:
                ahead = total / self._speed - (time.monotonic() - begun)
                if ahead > 0:
                    self._stop.wait(ahead)
            if filled < size:
                break
        if self._stop.is_set():
            raise _Stopped
        return total

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "https":
            context = self._verify if isinstance(self._verify, ssl.SSLContext) else ssl.create_default_context()
            if self._verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def _settle(self, value: int | None | BodyFailed) -> None:
        self._call(_resolve, self._started, value)

    def _finish(self, value: int | BaseException) -> None:
        self._call(_resolve, self._done, value)

    def _call(self, function: object, *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)  # type: ignore[arg-type]
        except RuntimeError:  # the loop is closed (shutdown): nobody waits any more
            self._stop.set()


def _resolve(future: asyncio.Future[object], value: object) -> None:
    """Give `future` its result, or its exception when `value` is one (the first call only)."""
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
