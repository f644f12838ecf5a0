"""Faults of what berth depends on: a full disk, a database or blob store that stopped answering.

`classify` is the one mapping from the exceptions they raise to a `Fault`: the component (Harbor's
health names), the status and the message a client is told. berth.guard turns them into answers.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_SQLITE_FULL = 13
_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


@dataclass(frozen=True, slots=True)
class Fault:
    """A dependency failed: which one (Harbor's health component name), the status, what to tell the client."""

    component: str
    status: int
    message: str


STORAGE_FULL = Fault("registry", 507, "no space left on the blob store")
STORAGE_FILE_LIMIT = Fault("registry", 507, "the blob store's file size limit was reached")
STORAGE_READ_ONLY = Fault("registry", 503, "the blob store is read-only")
STORAGE_IO = Fault("registry", 503, "the blob store failed (I/O error)")
STORAGE_UNAVAILABLE = Fault("registry", 503, "blob store unavailable")
STORAGE_DENIED = Fault("registry", 503, "the blob store refused berth's credentials")
DATABASE_FULL = Fault("database", 507, "no space left for the database")
DATABASE_UNAVAILABLE = Fault("database", 503, "database unavailable")


def classify(exc: BaseException) -> Fault | None:
    """The fault behind exc (or behind what caused it), or None for anything else (a bug: 500).

    A full disk anywhere in the chain wins over the "unavailable" that wraps it (SQLAlchemy raises
    SQLite's "database or disk is full" as an OperationalError).
    """
    chain = list(_chain(exc))
    for rule in (_space_fault, _database_fault, _storage_fault):
        for error in chain:
            fault = rule(error)
            if fault is not None:
                return fault
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """exc, the exceptions it was raised from or during (and a DBAPI error's original), and the members
    of exception groups."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        related = (error.__cause__, error.__context__, getattr(error, "orig", None))
        pending.extend(e for e in related if isinstance(e, BaseException))


def _space_fault(error: BaseException) -> Fault | None:
    import asyncpg.exceptions as pg

    if isinstance(error, pg.DiskFullError):
        return DATABASE_FULL
    if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL:
        return DATABASE_FULL
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return STORAGE_FULL
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return STORAGE_FILE_LIMIT
    return None


def _database_fault(error: BaseException) -> Fault | None:
    import asyncpg.exceptions as pg
    from sqlalchemy import exc as sa

    if isinstance(error, pg.PostgresConnectionError | pg.OperatorInterventionError | pg.InsufficientResourcesError
                  | pg.InterfaceError):
        return DATABASE_UNAVAILABLE
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return DATABASE_UNAVAILABLE
    if isinstance(error, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError):
        return DATABASE_UNAVAILABLE
    # asyncpg raises a refused or reset connection as a plain OSError, unwrapped by SQLAlchemy
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror) and _raised_in(error, _DATABASE_MODULES):
        return DATABASE_UNAVAILABLE
    return None


def _storage_fault(error: BaseException) -> Fault | None:
    from obstore.exceptions import BaseError as ObstoreError
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    if isinstance(error, OSError) and error.errno == errno.EROFS:
        return STORAGE_READ_ONLY
    if isinstance(error, OSError) and error.errno == errno.EIO:
        return STORAGE_IO
    if isinstance(error, PermissionDeniedError | UnauthenticatedError):
        return STORAGE_DENIED
    if isinstance(error, ObstoreError) and not isinstance(error, FileNotFoundError):
        return STORAGE_UNAVAILABLE
    return None


def _raised_in(error: BaseException, modules: tuple[str, ...]) -> bool:
    return any(
        frame.f_globals.get("__name__", "").startswith(modules) for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def describe(exc: BaseException) -> str:
    """The exception's type and first line, for the log (obstore appends a long debug dump)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def log_failure(logger: Any, event: str, exc: BaseException, **fields: Any) -> Fault | None:
    """Log a failure once: a fault as one line naming it and its cause, anything else with its traceback."""
    fault = classify(exc)
    if fault is None:
        logger.error(event, exc_info=exc, **fields)
    else:
        logger.error(f"{event}: {fault.message}", component=fault.component, cause=describe(exc), **fields)
    return fault
