"""The console format's fast path writes exactly what structlog's ConsoleRenderer writes; access lines
are written in batches, soon."""

from __future__ import annotations

import asyncio
import io
import sys

import pytest
import structlog

from berth.logs import _BatchedWriter, _ConsoleLines, _flush_access_lines

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


async def test_access_lines_in_the_event_loop_are_written_together_soon(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    writer = _BatchedWriter("berth.access")
    writer.info("first")
    writer.info("second")
    assert out.getvalue() == ""  # not one write per line
    await asyncio.sleep(_BatchedWriter.DELAY + 0.2)
    assert out.getvalue() == "first\nsecond\n"


async def test_a_full_batch_is_written_at_once(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    writer = _BatchedWriter("berth.access")
    line = "x" * 1023
    for _ in range(_BatchedWriter.BATCH_BYTES // 1024):
        writer.info(line)
    assert out.getvalue() == (line + "\n") * (_BatchedWriter.BATCH_BYTES // 1024)


def test_lines_outside_an_event_loop_are_written_at_once_and_exit_flushes(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    writer = _BatchedWriter("berth.access")
    writer.info("now")
    assert out.getvalue() == "now\n"
    writer._lines.append("left over")  # as if the process exits before the timer fired
    _flush_access_lines()
    assert out.getvalue() == "now\nleft over\n"
