"""FaultGuard: the one place per protocol front where an exception becomes an answer in its error format."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.faults import log_failure

log = structlog.get_logger("berth.faults")

#: distribution's code for "the registry cannot serve this now" (errcode.ErrorCodeUnavailable)
UNAVAILABLE = "UNAVAILABLE"
#: what an unexpected error answers (distribution's and Harbor's code for it)
UNKNOWN = "UNKNOWN"

#: renders (status, code, message) in a front's error format
Render = Callable[[int, str, str], Response]

#: an error answered before the request body was read whole reads (and drops) at most this much of
#: the rest first, for at most DRAIN_SECONDS: a client still sending when the connection closes gets
#: a reset instead of the answer (skopeo saw "connection reset by peer" instead of its 507)
DRAIN_BYTES = 64 << 20
DRAIN_SECONDS = 5.0


class FaultGuard:
    """ASGI middleware: an exception out of the wrapped front becomes an answer in `render`'s format.

    A fault (classify) answers its status with the code UNAVAILABLE and its message and is logged
    once, with its cause and without a traceback; anything else answers 500 UNKNOWN and is logged with
    its traceback. Never a traceback to the client. When the answer had already begun (a blob stream
    cut off by its store), the connection is closed short of its Content-Length so the client sees
    the failure, and the error is logged. An answer given before the request body was read whole
    reads the rest of it first (within limits), so a client still sending sees the answer.
    """

    def __init__(self, app: ASGIApp, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_read = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def tracked() -> Message:
            nonlocal body_read
            message = await receive()
            body_read = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, tracked, watch)
        except Exception as exc:
            fault = log_failure(log, "request failed", exc, method=scope.get("method"), path=scope.get("path"),
                                response_started=started)
            if started:
                return  # the server closes the unfinished response
            if fault is None:
                response = self.render(500, UNKNOWN, "internal server error")
            else:
                response = self.render(fault.status, UNAVAILABLE, fault.message)
            if not body_read:
                await _drain(receive)
            await response(scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of the request body, within DRAIN_BYTES and DRAIN_SECONDS."""
    dropped = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while dropped < DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        pass
