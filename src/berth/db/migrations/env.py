"""Alembic environment: runs migrations on berth's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import event, pool
from sqlalchemy.ext.asyncio import create_async_engine

from berth.db.models import Base

target_metadata = Base.metadata


def _do_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_wal)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run)
    await engine.dispose()


def _sqlite_wal(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


asyncio.run(_run_async())
