"""One scan in a spawned process of its own: the image walk and matching are CPU-bound and must
never hold an event loop that answers requests. The child sends one result through a pipe; its
death or the timeout is the scan's failure, and the child is killed whatever happens."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

#: spawn, not fork: the parent has an event loop and threads a forked child must not inherit
_CONTEXT = multiprocessing.get_context("spawn")

#: a scan process's body: it sends ("ok", result) or ("error", message) through the pipe, then returns
ProcessBody = Callable[[Connection, Any], None]


async def run_in_process(body: ProcessBody, job: Any, timeout: float, nice: int = 0) -> tuple[str, Any]:
    """("ok", result) or ("error", message) from `body(pipe, job)` run in a spawned process, `nice`
    steps below this one's CPU priority. A cancelled caller (a stopped job) kills the process on its
    way out."""
    reader, writer = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_niced, args=(body, writer, job, nice), daemon=True)
    process.start()
    writer.close()  # the child holds the only write end: its death is an end of file here
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(reader.fileno(), readable.set)
    try:
        try:
            await asyncio.wait_for(readable.wait(), timeout)
        except TimeoutError:
            return "error", f"the scan did not finish within {timeout:g} s"
        try:
            return await asyncio.to_thread(reader.recv)
        except EOFError:
            await asyncio.to_thread(process.join, 5)
            return "error", f"the scan process ended unexpectedly (exit code {process.exitcode})"
    finally:
        loop.remove_reader(reader.fileno())
        reader.close()
        if process.is_alive():
            process.kill()
        await asyncio.to_thread(process.join, 5)


def _niced(body: ProcessBody, pipe: Connection, job: Any, nice: int) -> None:
    """The child's entry: lower its CPU priority first, so the requests of the process that
    started it come before the scan when both want a core."""
    if nice:
        os.nice(nice)
    body(pipe, job)
