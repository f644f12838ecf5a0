"""Job kinds the tests plug into berth processes (setting extra_job_kinds). Their effects are files in
the folder the job's parameters name, so the test process can watch them.

- EFFECT: does its effect once per key (idempotently, by creating `<dir>/done-<key>` exclusively and
  then appending one line to `<dir>/effects`), logs each run in `<dir>/runs`, then sleeps `sleep` s.
- FLAKY: fails its first `failures` attempts, then succeeds.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from berth.jobs.kinds import JobContext, JobFailed, JobKind


async def _effect(ctx: JobContext) -> str:
    folder = Path(ctx.parameters["dir"])
    key = str(ctx.parameters["key"])
    started = time.time()
    try:
        fd = os.open(folder / f"done-{key}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        ctx.log(f"effect {key} already done: skipped")
    else:
        os.close(fd)
        with (folder / "effects").open("a") as effects:
            effects.write(f"{key}\n")
        ctx.log(f"effect {key} done")
    await asyncio.sleep(float(ctx.parameters.get("sleep", 0)))
    with (folder / "runs").open("a") as runs:
        runs.write(f"{key} {os.getpid()} {started:.6f} {time.time():.6f}\n")
    return f"effect {key}"


async def _flaky(ctx: JobContext) -> str:
    if ctx.attempt <= int(ctx.parameters["failures"]):
        raise JobFailed(f"planned failure {ctx.attempt}")
    return "fine"


EFFECT = JobKind("TEST_EFFECT", _effect, max_attempts=1)
FLAKY = JobKind("TEST_FLAKY", _flaky, max_attempts=4)
