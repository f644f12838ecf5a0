"""Audit entries forwarded to a syslog server over TCP (the `audit_log_forward_endpoint` item).

Harbor sends each entry through Go's log/syslog (`syslog.Dial("tcp", endpoint, LOG_INFO, "audit")`);
berth writes one RFC 5424 line per entry with the same message Harbor writes
(`action:..., resource:..., operation_description:...`) plus the operator, resource type, time,
client address and result as structured data. Lines are newline-framed, as Go's writer frames them.

Sending never blocks the caller: lines wait in a bounded queue that one task drains; on a failed
connection the task reconnects with backoff, and lines beyond the queue's bound are dropped (logged).
Entries carry names and descriptions only, never credentials; control characters are removed so that
one entry is always exactly one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Sequence
from typing import Any

import structlog

log = structlog.get_logger("berth.audit")

#: facility user (1), severity informational (6)
PRIORITY = 1 * 8 + 6
MAX_QUEUED = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SD_ESCAPE = re.compile(r'(["\\\]])')


def _clean(value: str) -> str:
    return _CONTROL.sub(" ", value)


def _param(value: str) -> str:
    return _SD_ESCAPE.sub(r"\\\1", _clean(value))


def _time(value: Any) -> str:
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.isoformat(timespec="microseconds")


def syslog_line(entry: Any, hostname: str = "-") -> bytes:
    """One audit entry as an RFC 5424 syslog line, newline-terminated (pure)."""
    data = (
        f'[audit@32473 operator="{_param(entry.username)}" resourceType="{_param(entry.resource_type)}" '
        f'eventType="{_param(entry.event_type)}" clientAddress="{_param(entry.client_address)}" '
        f'result="{"success" if entry.operation_result else "failure"}"]'
    )
    message = (f"action:{entry.operation}, resource:{entry.resource}, "
               f"operation_description:{entry.operation_description}")
    line = f"<{PRIORITY}>1 {_time(entry.op_time)} {_clean(hostname) or '-'} berth - audit {data} {_clean(message)}\n"
    return line.encode("utf-8", "replace")


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"audit_log_forward_endpoint {endpoint!r} is not host:port")
    return host.strip("[]"), int(port)


async def endpoint_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `endpoint` (host:port) opens: Harbor's check before it accepts one."""
    try:
        host, port = _split(endpoint)
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (ValueError, OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class SyslogForwarder:
    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self._hostname = socket.gethostname()
        self.dropped = 0
        self.sent = 0

    def send(self, endpoint: str, entries: Sequence[Any]) -> None:
        """Queue the entries for `endpoint`; returns at once."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        for entry in entries:
            try:
                self._queue.put_nowait((endpoint, syslog_line(entry, self._hostname)))
            except asyncio.QueueFull:
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.error("audit forwarding queue full: entries dropped", dropped=self.dropped)

    async def drained(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            await self.drained(2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        connected_to = ""
        failures = 0
        pending: tuple[str, bytes] | None = None
        try:
            while True:
                if pending is None:
                    pending = await self._queue.get()
                endpoint, line = pending
                try:
                    if writer is None or connected_to != endpoint:
                        if writer is not None:
                            writer.close()
                        writer = None
                        host, port = _split(endpoint)
                        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
                        connected_to = endpoint
                    writer.write(line)
                    await asyncio.wait_for(writer.drain(), 10.0)
                    self.sent += 1
                    failures = 0
                except ValueError as exc:  # a malformed endpoint: nothing to retry
                    log.error("audit entry not forwarded", error=str(exc))
                except (OSError, asyncio.TimeoutError) as exc:
                    failures += 1
                    if writer is not None:
                        writer.close()
                    writer = None
                    if failures % 10 == 1:
                        log.warning("audit forwarding failed; reconnecting", endpoint=endpoint, error=str(exc))
                    if failures <= 3:
                        await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                        continue  # the same line again
                    log.error("audit entry not forwarded: the syslog endpoint is unreachable", endpoint=endpoint)
                    await asyncio.sleep(min(0.2 * 2**min(failures, 5), 5.0))
                pending = None
                self._queue.task_done()
        finally:
            if writer is not None:
                writer.close()
