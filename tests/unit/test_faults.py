"""berth.faults.classify on real failures, and FaultGuard turning them into answers."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import Receive, Scope, Send

from berth.guard import FaultGuard
from berth.oci.errors import error_response
from berth import faults
from berth.storage.objectstore import from_url


def _raised(action) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - the point is to keep it
        return exc
    raise AssertionError("no exception")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_full_disk_is_storage_full() -> None:
    def write_to_a_full_device() -> None:
        with open("/dev/full", "wb", buffering=0) as device:  # always answers ENOSPC
            device.write(b"x")

    assert faults.classify(_raised(write_to_a_full_device)) is faults.STORAGE_FULL


def test_a_full_sqlite_database_wins_over_the_operational_error_that_wraps_it() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(text("PRAGMA max_page_count = 2"))  # SQLite answers SQLITE_FULL past it
        conn.execute(text("CREATE TABLE t (x TEXT)"))

        def fill() -> None:
            for _ in range(100):
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 4000})

        error = _raised(fill)
    assert isinstance(getattr(error, "orig", None), sqlite3.OperationalError)
    assert faults.classify(error) is faults.DATABASE_FULL


def test_a_refused_postgresql_connection_is_database_unavailable() -> None:
    async def connect() -> None:
        engine = create_async_engine(f"postgresql+asyncpg://berth@127.0.0.1:{_closed_port()}/postgres")
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    error = _raised(lambda: asyncio.run(connect()))
    assert isinstance(error, ConnectionRefusedError)  # asyncpg's own, not wrapped by SQLAlchemy
    assert faults.classify(error) is faults.DATABASE_UNAVAILABLE


def test_a_refused_connection_elsewhere_is_not_blamed_on_the_database() -> None:
    def connect() -> None:
        with socket.create_connection(("127.0.0.1", _closed_port()), timeout=2):
            pass

    assert faults.classify(_raised(connect)) is None


def test_an_unreachable_object_store_is_storage_unavailable_and_a_missing_object_is_not_a_fault() -> None:
    dead = from_url("s3://nowhere", {"endpoint": f"http://127.0.0.1:{_closed_port()}", "allow_http": True,
                                     "access_key_id": "x", "secret_access_key": "y", "region": "us-east-1",
                                     "retry_config": {"max_retries": 0}})
    memory = from_url("memory://")

    async def read(driver, key: str) -> None:  # type: ignore[no-untyped-def]
        async for _ in driver.read(key):
            pass

    assert faults.classify(_raised(lambda: asyncio.run(dead.stat("blobs/x")))) is faults.STORAGE_UNAVAILABLE
    missing = _raised(lambda: asyncio.run(read(memory, "blobs/x")))
    assert isinstance(missing, FileNotFoundError) and faults.classify(missing) is None


def test_a_bug_is_not_a_fault() -> None:
    assert faults.classify(_raised(lambda: {}["key"])) is None


def test_the_cause_is_the_first_line_of_the_message() -> None:
    assert faults.describe(OSError(28, "No space left on device")) == "OSError: [Errno 28] No space left on device"
    assert faults.describe(RuntimeError("one\ntwo")) == "RuntimeError: one"


def _guarded(error: BaseException, *, after_start: bool = False) -> FaultGuard:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        raise error

    return FaultGuard(app, lambda status, code, message: error_response(status, code, message))


async def _get(app: FaultGuard) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth") as client:
        return await client.get("/v2/x/blobs/y")


async def test_the_guard_answers_a_fault_in_the_fronts_format() -> None:
    response = await _get(_guarded(OSError(28, "No space left on device")))
    assert response.status_code == 507
    assert response.json() == {"errors": [{"code": "UNAVAILABLE", "message": "no space left on the blob store"}]}


async def test_the_guard_answers_a_bug_with_500_unknown_and_no_traceback() -> None:
    response = await _get(_guarded(KeyError("secret internals")))
    assert response.status_code == 500
    assert response.json() == {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}


async def test_the_guard_sends_nothing_more_once_the_answer_has_begun() -> None:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v2/x/blobs/y", "headers": []}
    await _guarded(OSError(5, "Input/output error"), after_start=True)(scope, receive, send)  # type: ignore[arg-type]
    # the server closes the connection short of the 10 announced bytes: the client sees the failure
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["more_body"] is True


@pytest.mark.parametrize("errno_value, fault", [(122, faults.STORAGE_FULL), (27, faults.STORAGE_FILE_LIMIT),
                                                (30, faults.STORAGE_READ_ONLY), (5, faults.STORAGE_IO)])
def test_disk_errors_by_errno(errno_value: int, fault: faults.Fault) -> None:
    assert faults.classify(OSError(errno_value, "x")) is fault
