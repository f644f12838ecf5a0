"""FaultGuard: the one place per protocol front where an exception becomes an answer in its error format."""

from __future__ import annotations

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


class FaultGuard:
    """ASGI middleware: an exception out of the wrapped front becomes an answer in `render`'s format.

    A fault (classify) answers its status with the code UNAVAILABLE and its message and is logged
    once, with its cause and without a traceback; anything else answers 500 UNKNOWN and is logged with
    its traceback. Never a traceback to the client. When the answer had already begun (a blob stream
    cut off by its store), the connection is closed short of its Content-Length so the client sees
    the failure, and the error is logged.
    """

    def __init__(self, app: ASGIApp, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            fault = log_failure(log, "request failed", exc, method=scope.get("method"), path=scope.get("path"),
                                response_started=started)
            if started:
                return  # the server closes the unfinished response
            if fault is None:
                response = self.render(500, UNKNOWN, "internal server error")
            else:
                response = self.render(fault.status, UNAVAILABLE, fault.message)
            await response(scope, receive, send)
