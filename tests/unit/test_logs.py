"""The console format's fast path writes exactly what structlog's ConsoleRenderer writes."""

from __future__ import annotations

import pytest
import structlog

from berth.logs import _ConsoleLines

EVENTS = [
    {"timestamp": "2026-12-02T16:44:08.123456Z", "level": "info", "event": "request", "logger": "berth.access",
     "method": "HEAD", "path": "/v2/library/app/manifests/1", "status": 200, "bytes": 0, "duration_ms": 1.23,
     "user": "robot$team+ci", "request_id": "5b8c2f0e"},
    {"timestamp": "2026-12-02T16:44:08Z", "level": "warning", "event": "an event name longer than thirty characters",
     "logger": "berth", "retry_in": 0.5, "flag": True, "nothing": None, "text": "two words", "empty": ""},
    {"level": "error", "event": "", "count": -3},
    {"event": "no level, no time", "path": "'/v2/a\\nb'"},
    {"timestamp": "t", "level": "exception", "event": "x", "logger": "l"},
    # not on the fast path: handed to ConsoleRenderer as they are
    {"timestamp": "t", "level": "error", "event": "failed", "exception": "Traceback (most recent call last):\n  boom"},
    {"level": "info", "event": "listed", "items": [1, 2], "mapping": {"a": 1}},
    {"level": "info", "event": 42},
]


@pytest.mark.parametrize("event", EVENTS)
def test_the_fast_console_line_is_consolerenderers(event: dict) -> None:
    expected = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)(None, "info", dict(event))
    assert _ConsoleLines()(None, "info", dict(event)) == expected
