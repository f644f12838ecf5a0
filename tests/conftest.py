"""Shared fixtures: real server processes (berth, the docker-registry peer, PostgreSQL)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.object_stores import azurite_server, moto_server  # noqa: F401  (shared fixtures)

REPO = Path(__file__).resolve().parent.parent
BERTH = str(Path(sys.executable).with_name("berth"))
ADMIN_PASSWORD = "Harbor12345"
#: projects the integration tests push into (the first path segment of their repository names)
TEST_PROJECTS = (
    "artifacts", "ranges", "pages", "chunks", "mount", "tags", "types", "digests", "edges", "parity",
    "large", "restart", "mirror", "b", "bad", "plain", "team",
)
#: the test files that take longest (a `--durations` run), longest first. `make test` hands whole files
#: to its two workers in collection order, so these go first: a long file started last would leave
#: one worker idle while the other finishes it.
SLOW_FILES = (
    "tests/integration/test_gc.py", "tests/contract/test_api_fuzz.py", "tests/integration/test_event_burst.py",
    "tests/integration/test_protocol.py", "tests/integration/test_jobs.py", "tests/integration/test_scan_jobs.py",
    "tests/integration/test_scanning_registry.py", "tests/integration/test_gc_concurrency.py",
    "tests/integration/test_cli_object_store.py", "tests/integration/test_outbox_crash.py",
    "tests/integration/test_large_blobs.py", "tests/integration/test_allowlist_expiry.py",
    "tests/integration/test_retention.py", "tests/integration/test_ui.py", "tests/integration/test_replication_events.py",
    "tests/integration/test_ui_security.py",
    "tests/integration/test_ui_project.py",
    "tests/integration/test_ui_admin.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `sqlite_only` files run their database-parametrized tests on SQLite alone. Deselected here, not
    # by overriding the `database` fixture in the file: the session `berth` server would then be
    # cached under the override, outlive the switch to PostgreSQL and serve the next file's
    # PostgreSQL tests from SQLite.
    dropped = [item for item in items if item.get_closest_marker("sqlite_only")
               and getattr(item, "callspec", None) and item.callspec.params.get("database") == "postgresql"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [item for item in items if item not in gone]
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(SLOW_FILES)))


# credentials for skopeo (containers-auth.json format; start_berth adds each server). Passed to skopeo
# as REGISTRY_AUTH_FILE in its own environment only: docker-registry would read that variable as config.
AUTH_FILE = Path(f"/tmp/berth-tests-{os.getpid()}-auth.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass
class Server:
    """A registry process on 127.0.0.1 (berth or the peer)."""

    kind: str
    port: int
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str] | None:
        """The admin's credentials on berth (None for the peer, which runs without auth)."""
        if self.kind != "berth":
            return None
        return ("admin", self.env.get("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD))

    @property
    def admin_password(self) -> str:
        assert self.auth is not None
        return self.auth[1]

    def client(self, auth: tuple[str, str] | None | bool = True) -> httpx.Client:
        """An HTTP client on the server: as admin by default, anonymous with auth=None."""
        return httpx.Client(base_url=self.url, timeout=60.0, auth=self.auth if auth is True else auth or None)

    def create_project(self, *names: str, public: bool = False) -> None:
        """Create projects as admin (nothing happens for those that exist)."""
        with self.client() as http:
            for name in names:
                body = {"project_name": name, "metadata": {"public": str(public).lower()}}
                response = http.post("/api/v2.0/projects", json=body)
                assert response.status_code in (201, 409), response.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _remember_credentials(host: str, user: str, password: str) -> None:
    import base64
    import json

    auths = json.loads(AUTH_FILE.read_text()) if AUTH_FILE.exists() else {"auths": {}}
    auths["auths"][host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    AUTH_FILE.write_text(json.dumps(auths))


@functools.cache
def _migrated_sqlite() -> Path:
    """An empty SQLite database at the newest migration, made once per test process by berth's own
    run_migrations. start_berth starts a new SQLite data folder from a copy, so that each of the
    suite's hundred-odd server starts does not run every migration again (0.4 s each). The
    PostgreSQL servers, and test_migrations, still migrate from nothing."""
    folder = Path(tempfile.mkdtemp(prefix="berth-template-"))
    atexit.register(shutil.rmtree, folder, True)
    url = f"sqlite+aiosqlite:///{folder / 'berth.db'}"
    subprocess.run([sys.executable, "-c", f"from berth.db.session import run_migrations; run_migrations({url!r})"],
                   check=True)
    return folder / "berth.db"


def start_berth(
    data_dir: Path, env: dict[str, str] | None = None, port: int | None = None,
    projects: tuple[str, ...] = TEST_PROJECTS, admin_password: str | None = ADMIN_PASSWORD,
) -> Server:
    """A berth process with `admin_password` (unless env sets another) and `projects` created.
    admin_password=None leaves the password to berth (generated at first start) and creates nothing."""
    env = {**({"BERTH_ADMIN_PASSWORD": admin_password} if admin_password else {}), **(env or {})}
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    if "BERTH_DATABASE_URL" not in env and not (data_dir / "berth.db").exists():
        shutil.copyfile(_migrated_sqlite(), data_dir / "berth.db")
    log_path = data_dir.parent / f"berth-{port}.log"
    full_env = {**os.environ, **(env or {})}
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [BERTH, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = Server("berth", port, process, data_dir, log_path, env)
    try:
        wait_http(f"{server.url}/v2/", process)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"berth did not start:\n{server.log()}") from None
    if admin_password is None:
        return server
    assert server.auth is not None
    _remember_credentials(server.host, *server.auth)
    server.create_project(*projects)
    return server


def start_adapter(data_dir: Path, api_key: str) -> Server:
    """`berth scanner serve` on berth's data folder and database, with a credential and 1 s polls."""
    port = free_port()
    env = {**os.environ, "BERTH_SCANNER_API_KEY": api_key, "BERTH_SCANNER_REFRESH_AFTER_SECONDS": "1"}
    log_path = data_dir.parent / f"scanner-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [BERTH, "scanner", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    server = Server("scanner", port, process, data_dir, log_path)
    try:
        wait_http(f"{server.url}/probe/healthy", process)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"the scanner adapter did not start:\n{server.log()}") from None
    return server


def start_peer(root: Path, log_level: str = "warn", port: int | None = None) -> Server:
    """The Debian docker-registry (CNCF distribution 2.8) with deletes enabled; at log_level "info" its
    log has a line per request (`http.request.uri`), for tests that check what was asked of it."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed (make test installs it)")
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"log:\n  level: {log_level}\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log_path = root / "peer.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    server = Server("peer", port, process, root / "data", log_path)
    wait_http(f"{server.url}/v2/", process)
    return server


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory) -> dict[str, str | None]:
    """Database URLs the integration suite runs on: SQLite always, PostgreSQL when BERTH_TEST_POSTGRES_URL is set."""
    return {"sqlite": None, "postgresql": os.environ.get("BERTH_TEST_POSTGRES_URL")}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, database_urls) -> str:
    kind = request.param
    if kind == "postgresql" and not database_urls["postgresql"]:
        if os.environ.get("CI"):
            pytest.fail("BERTH_TEST_POSTGRES_URL is not set: make test starts PostgreSQL and sets it")
        pytest.skip("PostgreSQL not configured (run through make test)")
    return kind


def _fresh_postgres_database(base_url: str, name: str) -> str:
    """Create an empty database `name` next to base_url's and return its URL. Under pytest-xdist
    each worker gets its own (`name_gw0`, `name_gw1`): they share one PostgreSQL cluster."""
    import asyncio

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        name = f"{name}_{worker}"

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def create() -> None:
        engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    return base_url.rsplit("/", 1)[0] + "/" + name


def _session_berth(database: str, database_urls: dict[str, str | None], tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp(f"berth-{database}")
    env = {}
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_it")  # type: ignore[arg-type]
    server = start_berth(root / "data", env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def berth_sqlite(database_urls, tmp_path_factory) -> Iterator[Server]:
    yield from _session_berth("sqlite", database_urls, tmp_path_factory)


@pytest.fixture(scope="session")
def berth_postgresql(database_urls, tmp_path_factory) -> Iterator[Server]:
    yield from _session_berth("postgresql", database_urls, tmp_path_factory)


@pytest.fixture(scope="session")
def berth(request, database) -> Server:
    """One berth server per database kind, shared by the session's integration tests. Both live for
    the whole session: `make test` runs a file's SQLite tests, then its PostgreSQL ones, then the
    next file's, and a server parametrized by the database would be restarted at each switch."""
    return request.getfixturevalue(f"berth_{database}")


@pytest.fixture(autouse=True)
def _berth_matches_database(request) -> None:
    """A test parametrized by the database gets the session server of that database (pytest once
    handed a PostgreSQL test the SQLite server, cached under a file's fixture override)."""
    if "berth" in request.fixturenames and "database" in request.fixturenames:
        server, database = request.getfixturevalue("berth"), request.getfixturevalue("database")
        root = server.log_path.parent.name  # _session_berth's berth-sqlite0, berth-postgresql0
        if root.startswith(("berth-sqlite", "berth-postgresql")):
            assert root.startswith(f"berth-{database}"), f"{request.node.nodeid} is served by {root}"


@pytest.fixture
def fresh_berth(tmp_path) -> Iterator[Server]:
    """A berth server of the test's own (SQLite), for tests that restart or inspect the store."""
    server = start_berth(tmp_path / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def peer(tmp_path_factory) -> Iterator[Server]:
    server = start_peer(tmp_path_factory.mktemp("peer"))
    yield server
    server.stop()
