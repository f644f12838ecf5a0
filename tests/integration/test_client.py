"""berth.client against real servers: retries against a small local HTTP server that misbehaves on
purpose, then paging, Harbor's errors and robot credentials against a running berth."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berth.client import HarborClient, HarborError
from berth.config import Settings
from berth.services.project_creation import create_project
from berth.services.registry import Registry
from berth.services.users import ADMIN_ID
from tests.certs import write_self_signed
from tests.conftest import Server, free_port, start_berth

FAST = {"backoff": 0.01, "max_backoff": 0.05}


class Flaky:
    """A local HTTP server that answers each request with the next of `answers` (status, headers),
    then 200 with `{"ok": true}`; it records (method, path, time) of every request."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[str, str, float]] = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                import time

                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                flaky.seen.append((self.command, self.path, time.monotonic()))
                status, headers = flaky.answers.pop(0) if flaky.answers else (200, {})
                body = b'{"ok": true}' if status == 200 else b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}'
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def flaky() -> Iterator[Flaky]:
    server = Flaky()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def fresh(flaky: Flaky) -> Flaky:
    flaky.answers.clear()
    flaky.seen.clear()
    return flaky


def test_get_is_retried_through_two_503s(fresh: Flaky) -> None:
    fresh.answers[:] = [(503, {}), (503, {})]
    with HarborClient(fresh.url, "admin", "pw", **FAST) as client:
        assert client.get("/projects") == {"ok": True}
    assert [(method, path) for method, path, _ in fresh.seen] == [("GET", "/api/v2.0/projects")] * 3


def test_retries_give_up_with_harbors_error(fresh: Flaky) -> None:
    fresh.answers[:] = [(503, {})] * 3
    with HarborClient(fresh.url, retries=2, **FAST) as client, pytest.raises(HarborError) as caught:
        client.get("/projects")
    assert (caught.value.status, caught.value.code, caught.value.message) == (503, "UNAVAILABLE", "busy")
    assert str(caught.value) == "GET /projects: 503 UNAVAILABLE: busy"
    assert len(fresh.seen) == 3


def test_retry_after_is_honoured(fresh: Flaky) -> None:
    fresh.answers[:] = [(429, {"Retry-After": "1"})]
    with HarborClient(fresh.url, backoff=0.01, max_backoff=5.0) as client:
        assert client.post("/projects", json={"project_name": "x"}).status_code == 200
    (_, _, first), (_, _, second) = fresh.seen
    assert second - first >= 0.95  # the backoff alone would have waited at most 0.01 s


def test_post_is_not_retried_on_502(fresh: Flaky) -> None:
    fresh.answers[:] = [(502, {})]
    with HarborClient(fresh.url, **FAST) as client, pytest.raises(HarborError) as caught:
        client.post("/projects", json={"project_name": "x"})
    assert caught.value.status == 502
    assert len(fresh.seen) == 1  # the first POST may have created the project: never sent twice


def test_put_is_retried_on_502_and_504(fresh: Flaky) -> None:
    fresh.answers[:] = [(502, {}), (504, {})]
    with HarborClient(fresh.url, **FAST) as client:
        assert client.put("/projects/1", json={}).status_code == 200
    assert len(fresh.seen) == 3


def test_connection_refused_is_retried_then_reported() -> None:
    port = free_port()  # nothing listens there
    with HarborClient(f"http://127.0.0.1:{port}", retries=2, **FAST) as client:
        with pytest.raises(HarborError) as caught:
            client.post("/projects", json={})
    assert caught.value.status == 0 and caught.value.code == "CONNECTION_ERROR"


def test_connection_refused_then_the_server_comes_up(fresh: Flaky) -> None:
    """Connection refused, retried with backoff, until the server answers: the request then succeeds."""
    port = free_port()
    late = threading.Timer(0.3, lambda: _forward(port, fresh))
    late.start()
    try:
        with HarborClient(f"http://127.0.0.1:{port}", retries=8, backoff=0.05, max_backoff=0.2) as client:
            assert client.get("/systeminfo") == {"ok": True}
    finally:
        late.cancel()
    assert [path for _, path, _ in fresh.seen] == ["/api/v2.0/systeminfo"]


def _forward(port: int, target: Flaky) -> None:
    """Serve `target`'s handler on `port` too (the late server of the test above)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), target.server.RequestHandlerClass)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def test_tls_is_verified_by_default_and_a_ca_bundle_is_taken(fresh: Flaky, tmp_path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), fresh.server.RequestHandlerClass)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    accepted = []
    get_request = server.get_request
    server.get_request = lambda: accepted.append(1) or get_request()  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        with HarborClient(url, **FAST) as client, pytest.raises(HarborError) as untrusted:
            client.get("/systeminfo")
        assert untrusted.value.code == "CONNECTION_ERROR" and "CERTIFICATE_VERIFY_FAILED" in untrusted.value.message
        assert len(accepted) == 1 and fresh.seen == []  # one failed handshake, not tried again
        with HarborClient(url, verify=str(cert), **FAST) as client:
            assert client.get("/systeminfo") == {"ok": True}
    finally:
        server.shutdown()
        server.server_close()


# -- against berth

PROJECTS = 1000


@pytest.fixture(scope="module")
def berth(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("client") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(berth: Server) -> Iterator[HarborClient]:
    assert berth.auth is not None
    with HarborClient(berth.url, *berth.auth) as client:
        yield client


async def _create_projects(server: Server, names: list[str]) -> None:
    """Create projects in-process through berth's own createProject logic, on the running server's data:
    2-3 times faster than as many API requests, which the paging under test does not need."""
    registry = Registry.open(Settings(data_dir=server.data_dir))
    try:
        for name in names:
            await create_project(registry, name, owner_id=ADMIN_ID, sysadmin=True, unrestricted=True, metadata={})
    finally:
        await registry.close()


def test_paging_over_1000_projects(berth: Server, admin: HarborClient) -> None:
    names = [f"page-{i:04d}" for i in range(PROJECTS)]
    with ThreadPoolExecutor(4) as pool:  # a few through the API, concurrently on the client's pool
        ids = list(pool.map(lambda name: admin.create_project({"project_name": name}), names[:20]))
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 20
    asyncio.run(_create_projects(berth, names[20:]))
    listed = [p["name"] for p in admin.paginate("/projects", params={"q": "name=~page-"}, page_size=100)]
    assert sorted(listed) == names  # every project exactly once
    assert len(listed) == PROJECTS
    typed = [p["name"] for p in admin.iter_list_projects(q="name=~page-00", page_size=7)]  # 15 pages
    assert sorted(typed) == names[:100]
    assert len(admin.list_projects(q="name=~page-", page=3, page_size=50)) == 50


def test_harbor_errors_carry_code_and_message(admin: HarborClient) -> None:
    with pytest.raises(HarborError) as missing:
        admin.get("/projects/no-such-project")
    assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")
    assert "no-such-project" in missing.value.message
    admin.post("/projects", json={"project_name": "twice"})
    with pytest.raises(HarborError) as conflict:
        admin.post("/projects", json={"project_name": "twice"})
    assert (conflict.value.status, conflict.value.code) == (409, "CONFLICT")
    assert "twice" in conflict.value.message
    with pytest.raises(HarborError) as repository:  # a repository name with a slash: encoded twice, as Harbor wants
        admin.get_repository("twice", "a/b")
    assert (repository.value.status, repository.value.message) == (404, "repository twice/a/b not found")


def test_a_robot_credential_works(berth: Server, admin: HarborClient) -> None:
    admin.post("/projects", json={"project_name": "robots"})
    robot = admin.post("/robots", json={
        "name": "reader", "level": "project", "duration": 30, "permissions": [
            {"kind": "project", "namespace": "robots", "access": [{"resource": "repository", "action": "list"}]}],
    }).json()
    assert robot["name"] == "robot$robots+reader"
    with HarborClient(berth.url, robot["name"], robot["secret"]) as client:
        assert client.get("/projects/robots/repositories") == []
        with pytest.raises(HarborError) as denied:
            client.delete("/projects/robots")
    assert denied.value.status in (401, 403)
    with HarborClient(berth.url, robot["name"], "wrong") as client, pytest.raises(HarborError) as refused:
        client.get("/projects/robots/repositories")
    assert refused.value.status == 401

