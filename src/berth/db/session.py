"""The database handle: an async engine, Core connections for reads and serialized writes."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass(slots=True)
class _Callbacks:
    committed: list[Callable[[], None]] = field(default_factory=list)
    rolled_back: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


#: what each open write transaction runs when it ends (not in `conn.info`: that belongs to the pooled
#: DBAPI connection, and cannot be read once a failed transaction has invalidated the connection)
_ENDINGS: weakref.WeakKeyDictionary[AsyncConnection, _Callbacks] = weakref.WeakKeyDictionary()


def after_commit(conn: AsyncConnection, callback: Callable[[], None]) -> None:
    """Call `callback` once the write transaction `conn` belongs to has committed (never if it rolls
    back): wake a worker, send what must only leave once the change is durable."""
    callbacks = _ENDINGS.setdefault(conn, _Callbacks()).committed
    if callback not in callbacks:
        callbacks.append(callback)


def after_rollback(conn: AsyncConnection, callback: Callable[[], Awaitable[None]]) -> None:
    """Await `callback` once the write transaction `conn` belongs to has rolled back on an error (and
    released SQLite's write lock), before the error goes on: record that something was refused."""
    _ENDINGS.setdefault(conn, _Callbacks()).rolled_back.append(callback)


class Database:
    """Owns the engine. `read()` gives a connection; `write()` a transaction.

    SQLite allows one writer at a time: write transactions from this process are
    queued on an asyncio lock instead of failing with "database is locked", and
    BEGIN IMMEDIATE makes other processes wait on busy_timeout.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, pool_size=8, max_overflow=8)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            self.engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        endings = _Callbacks()
        try:
            async with self._transaction() as conn:
                try:
                    yield conn
                finally:
                    endings = _ENDINGS.pop(conn, endings)
        except Exception:
            for later in endings.rolled_back:
                await later()
            raise
        for callback in endings.committed:  # only reached when the transaction committed
            callback()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            await conn.execution_options(berth_write=True)
            async with conn.begin():
                yield conn

    def insert(self, table):  # type: ignore[no-untyped-def]
        """An INSERT that supports on_conflict_do_nothing/do_update on this database."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's own transaction handling is off so that _sqlite_begin can emit BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    # Writers take the write lock up front (no deadlock on lock upgrade); readers stay deferred
    # and so never wait for a writer in WAL mode.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("berth_write") else "BEGIN")


def run_migrations(url: str) -> None:
    """Bring the schema to the newest Alembic revision (blocking; call before serving).

    Alembic is imported only when there is something to do: it stays in the serving process for
    good once loaded, and an up-to-date database (every start but the first after an upgrade)
    does not need its 10 MiB."""
    if asyncio.run(_stored_revision(url)) == head_revision():
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def head_revision() -> str:
    """The newest migration's revision id: the chain is linear and each id is its file's number
    (`0011_event_outbox.py` is revision "0011"; a unit test holds Alembic to the same answer)."""
    return max(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


async def _stored_revision(url: str) -> str | None:
    """The revision the database is at, or None (a new database, or one Alembic has not stamped)."""
    from sqlalchemy import pool, text
    from sqlalchemy.exc import DBAPIError

    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except DBAPIError:
        return None
    finally:
        await engine.dispose()
    return rows[0] if len(rows) == 1 else None
