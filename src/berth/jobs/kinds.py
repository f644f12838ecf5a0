"""What a kind of job is: a name, how often it may be tried, and the coroutine that does it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class JobFailed(Exception):
    """The attempt failed; the job is retried (with backoff) while attempts remain."""


class JobFatal(Exception):
    """The job cannot succeed (bad parameters, a deleted target): no retry."""


@dataclass(slots=True)
class JobContext:
    """What a running job is given. `log` lines are kept with the task; `extra_attrs` are merged into
    the task's extra attributes when the attempt ends; `services` is the registry (typed loosely here
    because jobs/ sits below the services that define it)."""

    task_id: int
    execution_id: int
    kind: str
    parameters: dict[str, Any]
    #: 1 for the first attempt
    attempt: int
    max_attempts: int
    services: Any
    lines: list[str] = field(default_factory=list)
    extra_attrs: dict[str, Any] = field(default_factory=dict)

    def log(self, line: str) -> None:
        self.lines.append(line)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    run: Callable[[JobContext], Awaitable[str | None]]
    #: attempts in all, the first included
    max_attempts: int = 1
    #: at most this many of the kind run at once in one pool (None: as many as it has slots), so a
    #: CPU-heavy kind (scans) neither starves the node's requests nor takes every slot from other kinds
    max_running: int | None = None


def load_kind(spec: str) -> JobKind:
    """A JobKind named "module:attribute" (the `extra_job_kinds` setting)."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"job kind {spec!r} must be written module:attribute")
    kind = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(kind, JobKind):
        raise ValueError(f"{spec} is not a berth.jobs.kinds.JobKind")
    return kind
