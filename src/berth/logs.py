"""Logging setup: structlog for berth's own lines, stdlib for libraries, one level and one format for
both ("console" lines or one JSON object per line), every line of a request carrying its request id."""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
from typing import Any

import orjson
import structlog

from berth.events.actor import current_request_id

access_log = structlog.get_logger("berth.access")


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    if "request_id" not in event:
        request_id = current_request_id()
        if request_id:
            event["request_id"] = request_id
    return event


class _ConsoleLines:
    """structlog's ConsoleRenderer (colors off, keys in call order), with a fast path for the plain line
    every request writes (the access log): the same text at about a tenth of the cost (2-3 µs instead of
    18-29 µs a line, measured with timeit). Lines with a traceback, a stack, or values the fast path does
    not know go through ConsoleRenderer itself; tests/unit/test_logs.py checks that both write the same."""

    _PLAIN = (str, int, float, bool, type(None))
    #: strings with one of these are written as repr(), as ConsoleRenderer does
    _QUOTED = re.compile(r"[ \t=\r\n\"']")

    def __init__(self) -> None:
        self._full = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        message = event.get("event")
        if (
            "exc_info" in event or "exception" in event or "stack" in event
            or not isinstance(message, str) or not all(type(v) in self._PLAIN for v in event.values())
        ):
            return self._full(logger, name, event)
        parts = []
        if "timestamp" in event:
            parts.append(str(event.pop("timestamp")))
        if "level" in event:
            parts.append(f"[{event.pop('level'):<9}]")
        del event["event"]
        parts.append(message.ljust(30))
        if "logger" in event:
            parts.append(f"[{event.pop('logger')}]")
        quoted = self._QUOTED.search
        parts.extend(
            f"{key}={value if type(value) is str and not quoted(value) else repr(value)}" for key, value in event.items()
        )
        return " ".join(part for part in parts if part).rstrip(" ")


def _json(event: dict[str, Any], **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


class _NamedWriter(structlog.WriteLogger):
    """structlog's plain writer with the name given to get_logger(), for the `logger` field."""

    def __init__(self, name: str = "berth") -> None:
        super().__init__(sys.stderr)
        self.name = name


class _BatchedWriter(_NamedWriter):
    """The access log's writer: lines from the event loop are gathered and written together, at most
    `DELAY` seconds late or every `BATCH_BYTES`, as nginx's `access_log … buffer= flush=` does. One
    write and flush per request cost more than a third of the manifest HEAD rate (a write syscall that
    grows the log file, under load); batched, the access line costs about what formatting it costs.
    Lines logged outside an event loop are written at once; a clean exit flushes (atexit); a killed
    process loses at most the last DELAY seconds of access lines (never an audit row: those are in the
    database)."""

    DELAY = 0.25
    BATCH_BYTES = 64 * 1024

    def __init__(self, name: str = "berth") -> None:
        super().__init__(name)
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        _batched.append(self)

    def msg(self, message: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_lines()
            super().msg(message)
            return
        self._lines.append(message)
        self._size += len(message) + 1
        if self._size >= self.BATCH_BYTES:
            self.flush_lines()
        elif self._timer is None:
            self._timer = loop.call_later(self.DELAY, self.flush_lines)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def flush_lines(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self._size = 0
            with self._lock:
                self._write(text)
                self._flush()


_batched: list[_BatchedWriter] = []


@atexit.register
def _flush_access_lines() -> None:
    for writer in _batched:
        writer.flush_lines()


def _writer(name: str = "berth") -> _NamedWriter:
    return _BatchedWriter(name) if name == "berth.access" else _NamedWriter(name)


def configure_logging(level: str, fmt: str = "console") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(_json) if fmt == "json"
        else _ConsoleLines()
    )
    tail: list[Any] = [structlog.processors.dict_tracebacks] if fmt == "json" else []
    # libraries' lines (uvicorn, SQLAlchemy, alembic) through stdlib logging, rendered the same way
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    # berth writes its own access line per request (with the request id and user); no second one
    logging.getLogger("uvicorn.access").disabled = True
    # berth's own lines straight to the stream, without stdlib's LogRecords: the access line is
    # written once per request, so it should cost microseconds
    structlog.configure(
        processors=[*shared, *tail, renderer],
        logger_factory=_writer,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
