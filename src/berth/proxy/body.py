"""An upstream blob's body read on a worker thread with the standard library's blocking HTTP client, in
1 MiB reads: httpx parses a body in 64 KiB events on the event loop, which caps a cold pull at a
fraction of what the socket gives (see the README's Speed section). The request itself (credentials,
the token, redirects) is httpx's; only the body's bytes come this way."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

_READ = 1024 * 1024
#: chunks read ahead of the consumer
_AHEAD = 8
_END = object()


class BodyFailed(Exception):
    """The upstream answered something else than 200, or the connection broke."""

    def __init__(self, reason: str, status: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ThreadedBody:
    """GET `url` with `headers` on a worker thread; `start()` waits for the status line, then
    `chunks()` yields the body. `close()` (or leaving `chunks()`) stops the thread."""

    def __init__(self, url: str, headers: dict[str, str], verify: ssl.SSLContext | bool, timeout: float) -> None:
        self._url = urlsplit(url)
        self._headers = headers
        self._verify = verify
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._room = threading.Semaphore(_AHEAD)
        self._stop = threading.Event()
        self._started: asyncio.Future[int | None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, name="berth-proxy-body", daemon=True)

    async def start(self) -> int | None:
        """The declared length (None when the upstream streams without one); BodyFailed unless 200."""
        self._thread.start()
        return await self._started

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BodyFailed):
                    raise item
                self._room.release()
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._room.release()  # a reader waiting for room wakes up and sees the stop

    # --- the worker thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        connection = self._connect()
        try:
            target = self._url.path + (f"?{self._url.query}" if self._url.query else "")
            connection.request("GET", target, headers=self._headers)
            response = connection.getresponse()
            if response.status != 200:
                self._settle(BodyFailed(f"the upstream answered HTTP {response.status}", response.status))
                return
            length = response.getheader("Content-Length")
            self._settle(int(length) if length and length.isdigit() else None)
            while not self._stop.is_set():
                buffer = bytearray(_READ)
                view = memoryview(buffer)
                filled = 0
                while filled < _READ:  # fill the whole MiB: fewer, larger chunks downstream
                    count = response.readinto(view[filled:])
                    if not count:
                        break
                    filled += count
                if not filled:
                    break
                self._room.acquire()
                if self._stop.is_set():
                    return
                self._put(bytes(view[:filled]) if filled < _READ else bytes(buffer))
                if filled < _READ:
                    break
            self._put(_END)
        except (OSError, http.client.HTTPException) as exc:
            failure = BodyFailed(f"the upstream connection broke: {exc or type(exc).__name__}")
            if not self._started.done():
                self._settle(failure)
            self._put(failure)
        finally:
            connection.close()

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
        def settle() -> None:
            if self._started.done():
                return
            if isinstance(value, BodyFailed):
                self._started.set_exception(value)
            else:
                self._started.set_result(value)

        self._call(settle)

    def _put(self, item: object) -> None:
        self._call(self._queue.put_nowait, item)

    def _call(self, function: object, *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)  # type: ignore[arg-type]
        except RuntimeError:  # the loop is closed (shutdown): nobody waits any more
            self._stop.set()
