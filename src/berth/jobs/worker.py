"""A pool of workers: claims due tasks, runs them with a heartbeat, retries failures with
exponential backoff, and hands its tasks back when it stops.

One pool runs in `berth serve` (unless --no-jobs) and in each `berth worker`. Slots are asyncio
tasks: jobs are I/O-bound (HTTP deliveries, SQL); CPU-heavy kinds run their work in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections import Counter
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from berth.db.models import utcnow
from berth.events.actor import continue_request
from berth.faults import log_failure
from berth.jobs.kinds import JobContext, JobFatal, JobKind
from berth.jobs.store import ERROR, STOPPED, SUCCESS, Claimed, JobStore

log = structlog.get_logger("berth.jobs")


@dataclass(frozen=True, slots=True)
class PoolSettings:
    concurrency: int = 4
    #: a running task's lease; renewed every third of it. A dead worker's task runs again after this.
    lease_seconds: float = 30.0
    #: how often idle workers look for due tasks (enqueuing on this node wakes them at once)
    poll_seconds: float = 1.0
    #: the first retry waits this long, each next one twice as long, up to retry_max_seconds
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0


def backoff(attempt: int, base: float, maximum: float) -> float:
    """Seconds to wait before the attempt after `attempt` (1-based): base, 2*base, 4*base, ..."""
    return min(maximum, base * 2 ** max(0, attempt - 1))


@dataclass(slots=True)
class _Running:
    claim: Claimed
    context: JobContext
    job: asyncio.Task[str | None]
    started: datetime
    stop_requested: bool = False


class WorkerPool:
    def __init__(
        self, store: JobStore, kinds: Mapping[str, JobKind], services: Any, settings: PoolSettings,
    ) -> None:
        self._store = store
        self._kinds = dict(kinds)
        self._services = services
        self._settings = settings
        self.id = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._running: dict[int, _Running] = {}
        self._wakeup = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    async def start(self) -> None:
        await self._store.register_pool(
            self.id, os.getpid(), socket.gethostname(), self._settings.concurrency,
            stale_after=3 * self._settings.lease_seconds,
        )
        self._store.wakeup = self._wakeup
        self._loop_task = asyncio.create_task(self._claim_loop())
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        log.info("worker pool started", pool=self.id, concurrency=self._settings.concurrency, kinds=self.kinds)

    async def stop(self) -> None:
        """Stop claiming, give running tasks back (they run again at once on another worker)."""
        for task in (self._loop_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for run in list(self._running.values()):
            run.job.cancel()
        for task_id, run in list(self._running.items()):
            with contextlib.suppress(BaseException):
                await run.job
            with contextlib.suppress(Exception):
                await self._store.release(run.claim, run.context.lines)
            self._running.pop(task_id, None)
        with contextlib.suppress(Exception):
            await self._store.unregister_pool(self.id)
        if self._store.wakeup is self._wakeup:
            self._store.wakeup = None

    # --- claiming ----------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            self._wakeup.clear()
            free = [f"{self.id}/{slot}" for slot in range(self._settings.concurrency)
                    if f"{self.id}/{slot}" not in {r.claim.owner for r in self._running.values()}]
            claimed: list[Claimed] = []
            if free:
                try:
                    claimed = await self._store.claim(free, self._kinds, self._settings.lease_seconds,
                                                      self._room())
                except Exception as exc:  # the database may be away for a moment: try again at the next poll
                    log_failure(log, "claiming jobs failed", exc)
            for claim in claimed:
                self._start(claim)
            if claimed and len(claimed) == len(free):
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_seconds)

    def _room(self) -> dict[str, int]:
        """How many more tasks of each kind with a `max_running` this pool may start now."""
        running = Counter(run.claim.kind for run in self._running.values())
        return {name: max(0, kind.max_running - running[name])
                for name, kind in self._kinds.items() if kind.max_running is not None}

    def _start(self, claim: Claimed) -> None:
        kind = self._kinds[claim.kind]
        context = JobContext(
            task_id=claim.id, execution_id=claim.execution_id, kind=claim.kind, parameters=claim.parameters,
            attempt=claim.run_count, max_attempts=max(claim.max_attempts, 1), services=self._services,
        )
        now = utcnow()
        context.log(f"{now.isoformat(timespec='seconds')} attempt {claim.run_count} of {claim.max_attempts} "
                    f"started by {claim.owner}")
        job = asyncio.create_task(_on_behalf_of(claim, kind.run(context)))
        self._running[claim.id] = _Running(claim, context, job, now)
        job.add_done_callback(lambda _: asyncio.create_task(self._settle(claim.id)))

    async def _settle(self, task_id: int) -> None:
        run = self._running.get(task_id)
        if run is None:
            return
        claim, context, job = run.claim, run.context, run.job
        try:
            if job.cancelled():
                if not run.stop_requested:
                    return  # the pool is stopping: stop() hands the task back
                context.log("stopped on request")
                await self._store.finish(claim, STOPPED, "stopped", lines=context.lines, extra_attrs=context.extra_attrs)
                return
            error = job.exception()
            if error is None:
                message = job.result() or ""
                context.log(f"{utcnow().isoformat(timespec='seconds')} succeeded{': ' + message if message else ''}")
                await self._store.finish(claim, SUCCESS, message, lines=context.lines, extra_attrs=context.extra_attrs)
                return
            message = str(error) or type(error).__name__
            if isinstance(error, JobFatal) or context.last_attempt:
                context.log(f"{utcnow().isoformat(timespec='seconds')} failed: {message}")
                await self._store.finish(claim, ERROR, message, lines=context.lines, extra_attrs=context.extra_attrs)
                return
            delay = backoff(context.attempt, self._settings.retry_base_seconds, self._settings.retry_max_seconds)
            context.log(f"{utcnow().isoformat(timespec='seconds')} failed: {message}; retrying in {delay:g} s")
            await self._store.retry(claim, message, delay, lines=context.lines, extra_attrs=context.extra_attrs)
        except Exception:
            # the outcome could not be written: the lease runs out and another attempt follows
            log.exception("recording a job's outcome failed", task=task_id)
        finally:
            self._running.pop(task_id, None)
            self._wakeup.set()  # a slot is free

    # --- heartbeat ---------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = max(self._settings.lease_seconds / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._heartbeat()
            except Exception as exc:  # a missed heartbeat is not fatal while the lease lasts
                log_failure(log, "job heartbeat failed", exc)

    async def _heartbeat(self) -> None:
        ids = set(self._running)
        stop, lost = await self._store.renew(self.id, ids, self._settings.lease_seconds)
        for task_id in stop | lost:
            run = self._running.get(task_id)
            if run is None or run.job.done():
                continue
            if task_id in lost:
                log.warning("lease lost: another worker owns the task now", task=task_id)
                self._running.pop(task_id, None)
            else:
                run.stop_requested = True
            run.job.cancel()
        for task_id in ids - stop - lost:
            run = self._running.get(task_id)
            if run is not None and len(run.context.lines) > 1:
                lines, run.context.lines = run.context.lines, []
                await self._store.append_log(task_id, lines)


async def _on_behalf_of(claim: Claimed, run: Coroutine[Any, Any, str | None]) -> str | None:
    """Run a job attempt in its own context carrying the request that caused it, so that its log lines
    (one at least: how the attempt ended) and the events it publishes name that request id."""
    if claim.request_id:
        continue_request(claim.request_id)
    try:
        result = await run
    except Exception as exc:
        log.info("job attempt failed", kind=claim.kind, task=claim.id, attempt=claim.run_count,
                 error=(str(exc) or type(exc).__name__)[:200])
        raise
    log.info("job attempt succeeded", kind=claim.kind, task=claim.id, attempt=claim.run_count)
    return result
