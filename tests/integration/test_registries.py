"""Registry endpoints (/registries, ping, info, the adapter types) against real registries on
127.0.0.1: the Debian docker-registry and a second berth speaking Harbor's API."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from berth.replication import adapters
from berth.replication.adapters import Endpoint, create_adapter
from tests.conftest import Server, free_port, start_berth

from .helpers import V2, build_image
from .test_audit_log import wait_for

API = "/api/v2.0"
PASSWORD = "Harbor12345"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Iterator[Server]:
    """The berth whose endpoints are under test (SQLite: its stored column is read back)."""
    server = start_berth(tmp_path_factory.mktemp("source") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Server]:
    """A second berth: the `harbor` adapter's other side."""
    server = start_berth(tmp_path_factory.mktemp("target") / "data", projects=("library", "team"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(source: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=source.url + API, auth=source.auth, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def garbage() -> Iterator[str]:
    """An HTTP server that answers every GET with 200 and a page that is no registry's."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _create(api: httpx.Client, **body: object) -> httpx.Response:
    return api.post("/registries", json=body)


def _id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _message(response: httpx.Response) -> str:
    return response.json()["errors"][0]["message"]


# --- CRUD and validation ------------------------------------------------------------------------------


def test_registry_crud_as_harbor_answers_it(api, peer, target):
    created = _create(api, name="peer-crud", type="docker-registry", url=peer.url + "/", description="the peer")
    registry_id = _id(created)
    assert created.headers["Location"] == f"{API}/registries/{registry_id}"
    got = api.get(f"/registries/{registry_id}").json()
    assert got["name"] == "peer-crud" and got["type"] == "docker-registry" and got["url"] == peer.url
    assert "insecure" not in got  # false is left out, as Harbor does (omitempty)
    assert got["status"] == "healthy" and got["description"] == "the peer"
    assert got["creation_time"].endswith("Z") and "credential" not in got

    assert _create(api, name="peer-crud", type="docker-registry", url=peer.url).status_code == 409

    assert api.put(f"/registries/{registry_id}", json={"description": "changed"}).status_code == 200
    assert api.get(f"/registries/{registry_id}").json()["description"] == "changed"

    listed = api.get("/registries", params={"q": "name=peer-crud"})
    assert listed.headers["X-Total-Count"] == "1" and listed.json()[0]["id"] == registry_id
    assert api.get("/registries", params={"name": "er-cr"}).json()[0]["id"] == registry_id

    assert api.delete(f"/registries/{registry_id}").status_code == 200
    assert api.get(f"/registries/{registry_id}").status_code == 404
    assert api.delete(f"/registries/{registry_id}").status_code == 404


def test_list_pages_and_sorts(api, peer):
    ids = [_id(_create(api, name=f"page-{n}", type="docker-registry", url=peer.url)) for n in range(3)]
    first = api.get("/registries", params={"q": "name=~page-", "sort": "-name", "page_size": 2})
    assert first.headers["X-Total-Count"] == "3" and 'rel="next"' in first.headers["Link"]
    assert [r["name"] for r in first.json()] == ["page-2", "page-1"]
    second = api.get("/registries", params={"q": "name=~page-", "sort": "-name", "page_size": 2, "page": 2})
    assert [r["name"] for r in second.json()] == ["page-0"]
    for registry_id in ids:
        api.delete(f"/registries/{registry_id}")


@pytest.mark.parametrize(("body", "message"), [
    ({"type": "docker-registry", "url": "http://127.0.0.1:1"}, "name cannot be empty"),
    ({"name": "x" * 65, "type": "docker-registry", "url": "http://127.0.0.1:1"}, "the max length of name is 64"),
    ({"name": "bad-url", "type": "docker-registry", "url": "ftp://127.0.0.1/"}, "invalid HTTP scheme: ftp"),
    ({"name": "bad-url", "type": "docker-registry", "url": "http://"}, "invalid URL"),
    ({"name": "bad-type", "type": "aws-ecr", "url": "http://127.0.0.1:1"},
     "registry type aws-ecr is not supported by berth: the supported types are docker-registry, harbor, docker-hub"),
    ({"name": "bad-type", "type": "nonsense", "url": "http://127.0.0.1:1"}, "invalid registry type 'nonsense'"),
    ({"name": "bad-cred", "type": "harbor", "url": "http://127.0.0.1:1", "credential": {"type": "token"}},
     "invalid credential type 'token'"),
    ({"name": "bad-ca", "type": "harbor", "url": "https://127.0.0.1:1", "ca_certificate": "not a PEM"},
     "invalid CA certificate"),
    ({"name": "down", "type": "docker-registry", "url": "http://127.0.0.1:1"}, "the registry is unhealthy: unreachable"),
])
def test_invalid_registries_are_refused_with_harbors_400(api, body, message):
    response = _create(api, **body)
    assert response.status_code == 400, response.text
    assert _message(response).startswith(message)


def test_only_system_admins_manage_registries(api, source, peer):
    user = {"username": "regular", "email": "regular@example.com", "realname": "R", "password": PASSWORD}
    assert api.post("/users", json=user).status_code in (201, 409)
    registry_id = _id(_create(api, name="peer-rbac", type="docker-registry", url=peer.url))
    with httpx.Client(base_url=source.url + API, auth=("regular", PASSWORD)) as regular, \
            httpx.Client(base_url=source.url + API) as anonymous:
        for client, status in ((regular, 403), (anonymous, 401)):
            assert client.get("/registries").status_code == status
            assert client.get(f"/registries/{registry_id}").status_code == status
            assert client.post("/registries", json={"name": "x", "type": "harbor", "url": peer.url}).status_code == status
            assert client.post("/registries/ping", json={"id": registry_id}).status_code == status
            assert client.get("/replication/adapters").status_code == status
            assert client.delete(f"/registries/{registry_id}").status_code == status
    api.delete(f"/registries/{registry_id}")


def test_credential_is_sealed_masked_and_kept_on_update(api, source, target):
    secret = target.admin_password
    registry_id = _id(_create(api, name="target-sealed", type="harbor", url=target.url,
                              credential={"type": "basic", "access_key": "admin", "access_secret": secret}))
    got = api.get(f"/registries/{registry_id}").json()
    assert got["credential"] == {"type": "basic", "access_key": "admin", "access_secret": "*****"}
    row = _stored_row(source.data_dir / "berth.db", registry_id)
    assert row["access_key"] == "admin" and row["access_secret"] and secret not in row["access_secret"]
    # the masked value sent back (as Harbor's UI does) keeps the secret: the re-check still passes
    assert api.put(f"/registries/{registry_id}", json={"access_secret": "*****", "name": "target-kept"}).status_code == 200
    assert _stored_row(source.data_dir / "berth.db", registry_id)["access_secret"] == row["access_secret"]
    assert api.post("/registries/ping", json={"id": registry_id}).status_code == 200
    # a wrong secret is refused with the reason, and the stored one stays
    wrong = api.put(f"/registries/{registry_id}", json={"access_secret": "wrong-Password1"})
    assert wrong.status_code == 400 and "wrong credentials" in _message(wrong)
    assert _stored_row(source.data_dir / "berth.db", registry_id)["access_secret"] == row["access_secret"]
    wanted = {("create", "target-sealed"), ("update", "target-kept")}
    audit = wait_for(lambda: api.get("/audit-logs", params={"q": "resource_type=registry", "sort": "-op_time"}).json(),
                     lambda rows: {(entry["operation"], entry["resource"]) for entry in rows} >= wanted)
    assert {(entry["operation"], entry["resource"]) for entry in audit} >= wanted
    api.delete(f"/registries/{registry_id}")


def _stored_row(path: Path, registry_id: int) -> dict[str, str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.row_factory = sqlite3.Row
        return dict(connection.execute("SELECT * FROM registries WHERE id = ?", (registry_id,)).fetchone())
    finally:
        connection.close()


# --- ping ---------------------------------------------------------------------------------------------


def _ping(api: httpx.Client, **body: object) -> httpx.Response:
    return api.post("/registries/ping", json=body)


def test_ping_the_docker_registry(api, peer):
    assert _ping(api, type="docker-registry", url=peer.url).status_code == 200
    registry_id = _id(_create(api, name="peer-ping", type="docker-registry", url=peer.url))
    assert _ping(api, id=registry_id).status_code == 200
    # the body's fields over the stored ones
    moved = _ping(api, id=registry_id, url="http://127.0.0.1:1")
    assert moved.status_code == 400 and "unreachable" in _message(moved)
    api.delete(f"/registries/{registry_id}")


def test_ping_berth_as_harbor_with_and_without_the_right_credentials(api, target):
    assert _ping(api, type="harbor", url=target.url, access_key="admin",
                 access_secret=target.admin_password).status_code == 200
    assert _ping(api, type="harbor", url=target.url).status_code == 200  # reachable without a credential
    wrong = _ping(api, type="harbor", url=target.url, access_key="admin", access_secret="not-the-Password1")
    assert wrong.status_code == 400
    assert _message(wrong).startswith("the registry is unhealthy: wrong credentials")


def test_ping_reasons(api, peer, garbage):
    unreachable = _ping(api, type="docker-registry", url=f"http://127.0.0.1:{free_port()}")
    assert unreachable.status_code == 400
    assert _message(unreachable).startswith("the registry is unhealthy: unreachable")
    tls = _ping(api, type="docker-registry", url=peer.url.replace("http://", "https://"))
    assert tls.status_code == 400 and _message(tls).startswith("the registry is unhealthy: TLS error")
    not_registry = _ping(api, type="docker-registry", url=garbage)
    assert not_registry.status_code == 400
    assert _message(not_registry).startswith("the registry is unhealthy: not a registry")
    not_harbor = _ping(api, type="harbor", url=peer.url)
    assert not_harbor.status_code == 400
    assert _message(not_harbor).startswith("the registry is unhealthy: not a Harbor registry")
    assert _message(_ping(api, url=peer.url)) == "type or url cannot be empty"
    assert _ping(api, id=999999).status_code == 404


# --- info and the adapter types -----------------------------------------------------------------------


def test_info_of_each_adapter(api, peer, target):
    peer_id = _id(_create(api, name="peer-info", type="docker-registry", url=peer.url))
    target_id = _id(_create(api, name="target-info", type="harbor", url=target.url,
                            credential={"access_key": "admin", "access_secret": target.admin_password}))
    info = api.get(f"/registries/{peer_id}/info").json()
    assert info["type"] == "docker-registry" and info["supported_triggers"] == ["manual", "scheduled"]
    assert [f["type"] for f in info["supported_resource_filters"]] == ["name", "tag", "resource"]
    info = api.get(f"/registries/{target_id}/info").json()
    assert info["type"] == "harbor" and info["supported_copy_by_chunk"] is True
    assert "label" in [f["type"] for f in info["supported_resource_filters"]]
    assert api.get("/registries/999999/info").status_code == 404
    api.delete(f"/registries/{peer_id}")
    api.delete(f"/registries/{target_id}")


def test_adapter_types_list_harbors_and_mark_berths(api):
    types = api.get("/replication/adapters").json()
    assert {"docker-registry", "harbor", "docker-hub", "aws-ecr"} <= set(types)
    infos = api.get("/replication/adapterinfos").json()
    assert set(infos) == set(types)
    assert {name for name, info in infos.items() if info["supported"]} == {"docker-registry", "harbor", "docker-hub"}
    assert infos["docker-hub"]["endpoint_pattern"]["endpoints"][0]["value"] == "https://hub.docker.com"


# --- the adapters' listings -----------------------------------------------------------------------------


def _listing(endpoint: Endpoint, repository: str) -> tuple[list[str], list[str]]:
    async def run() -> tuple[list[str], list[str]]:
        async with create_adapter(endpoint) as adapter:
            return [name async for name in adapter.repositories()], await adapter.tags(repository)

    return asyncio.run(run())


def test_adapters_list_repositories_and_tags_page_by_page(peer, target, monkeypatch):
    monkeypatch.setattr(adapters, "PAGE_SIZE", 2)  # three tags: two pages through Link
    image = build_image(seed=7101)
    for server, repository in ((peer, "mirror/app"), (target, "team/app")):
        with V2(server.url, auth=server.auth) as v2:
            for tag in ("1.0", "1.1", "2.0"):
                assert v2.push_image(repository, image, tag).status_code == 201
    repositories, tags = _listing(Endpoint(type="docker-registry", url=peer.url), "mirror/app")
    assert "mirror/app" in repositories and sorted(tags) == ["1.0", "1.1", "2.0"]
    credential = {"access_key": "admin", "access_secret": target.admin_password}
    repositories, tags = _listing(Endpoint(type="harbor", url=target.url, **credential), "team/app")
    assert "team/app" in repositories and sorted(tags) == ["1.0", "1.1", "2.0"]
    # the distribution API of berth too, with token auth for the catalog and the tags
    repositories, tags = _listing(Endpoint(type="docker-registry", url=target.url, **credential), "team/app")
    assert "team/app" in repositories and sorted(tags) == ["1.0", "1.1", "2.0"]
    assert _listing(Endpoint(type="docker-registry", url=peer.url), "no/such")[1] == []
