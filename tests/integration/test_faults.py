"""Faults under a running berth: a full disk, a stopped PostgreSQL, a stopped S3 server.

Each fault is real (a 40 MiB tmpfs as the data folder, `pg_ctl stop`, the moto process killed) and hits
the real server process. Checked every time: the status and the protocol's error body (OCI JSON on /v2,
Harbor's shape on /api/v2.0), a message naming what failed, one log line with the cause, nothing
partial left visible, `/api/v2.0/health` naming the component, and the next request working once the
fault is gone, without restarting berth.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH_FILE, Server, start_berth
from tests.object_stores import S3_BUCKET, S3_CREDENTIALS, start_moto, stop_server
from tests.postgres_cluster import PostgresCluster

from .helpers import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Image,
    build_image,
    canonical_json,
    descriptor,
    sha256,
    with_query,
    write_oci_layout,
)

MiB = 1024 * 1024


def _assert_oci_fault(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert response.json() == {"errors": [{"code": "UNAVAILABLE", "message": message}]}


def _assert_harbor_fault(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.json() == {"errors": [{"code": "UNAVAILABLE", "message": message}]}


def _assert_logged_once(server: Server, message: str, request: httpx.Request, cause: str) -> None:
    """One log line for the failed request, with the cause, and no traceback after it."""
    lines = server.log().splitlines()
    where = f"method={request.method} path={request.url.path} "
    hits = [i for i, line in enumerate(lines) if f"request failed: {message}" in line and where in line]
    assert len(hits) == 1, [lines[i] for i in hits]
    assert cause in lines[hits[0]], lines[hits[0]]
    following = lines[hits[0] + 1] if hits[0] + 1 < len(lines) else ""
    assert not following.startswith("Traceback"), following


def _health(server: Server) -> dict[str, dict[str, str]]:
    with server.client(auth=None) as client:
        response = client.get("/api/v2.0/health")
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in response.json()["components"]}


def _wait_health(server: Server, component: str, status: str, timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        entry = _health(server)[component]
        if entry["status"] == status or time.monotonic() > deadline:
            assert entry["status"] == status, entry
            return entry
        time.sleep(0.2)


def _push(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    """POST then one PUT with the whole blob, as curl-based clients and the bench push."""
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    return client.put(with_query(started.headers["location"], digest=sha256(data)), content=data,
                      headers={"Content-Type": "application/octet-stream"})


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- a full disk -------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MiB tmpfs, mounted for the test (berth's whole data folder lives on it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"a 40 MiB tmpfs cannot be mounted here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


@pytest.fixture
def berth_on_small_disk(small_disk: Path) -> Iterator[Server]:
    server = start_berth(small_disk, projects=("faults",))  # the log goes next to it, off the small disk
    yield server
    server.stop()


def _fill(path: Path) -> None:
    """Write zeros to path until the file system is full."""
    with path.open("wb", buffering=0) as out:
        block = bytes(MiB)
        while True:
            try:
                out.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        while True:  # the last partial block
            try:
                out.write(bytes(4096))
            except OSError:
                return


def test_a_blob_larger_than_the_free_space_answers_507_and_leaves_nothing(berth_on_small_disk: Server) -> None:
    server = berth_on_small_disk
    storage = server.data_dir / "storage"
    big = os.urandom(60 * MiB)
    with server.client() as client:
        response = _push(client, "faults/big", big)
        _assert_oci_fault(response, 507, "no space left on the blob store")
        assert "Traceback" not in response.text
        assert client.head(f"/v2/faults/big/blobs/{sha256(big)}").status_code == 404
        upload = response.request.url.path
        assert client.get(upload).status_code == 404  # the failed session is gone, not left half-written
        # POST ?digest= (monolithic) and a chunked PATCH hit the same wall
        monolithic = client.post("/v2/faults/big/blobs/uploads/", params={"digest": sha256(big)}, content=big)
        _assert_oci_fault(monolithic, 507, "no space left on the blob store")
        location = client.post("/v2/faults/big/blobs/uploads/").headers["location"]
        first = os.urandom(MiB)
        assert client.patch(location, content=first, headers={"Content-Range": f"0-{MiB - 1}"}).status_code == 202
        patched = client.patch(location, content=big, headers={"Content-Range": f"{MiB}-{MiB + len(big) - 1}"})
        _assert_oci_fault(patched, 507, "no space left on the blob store")
        # a failed chunk is not kept: the session stays at the bytes it had, and can go on or be cancelled
        status = client.get(location)
        assert status.status_code == 204 and status.headers["range"] == f"0-{MiB - 1}"
        assert client.delete(location).status_code == 204

        assert _files(storage / "tmp") == [] and _files(storage / "uploads") == [] and _files(storage / "blobs") == []
        # the space is free again: the next (smaller) push works
        small = os.urandom(5 * MiB)
        assert _push(client, "faults/big", small).status_code == 201
        assert client.get(f"/v2/faults/big/blobs/{sha256(small)}").content == small
    _assert_logged_once(server, "no space left on the blob store", response.request, "No space left on device")
    assert "Traceback" not in server.log()


def test_health_shows_the_blob_store_unhealthy_while_the_disk_is_full(berth_on_small_disk: Server) -> None:
    server = berth_on_small_disk
    assert _health(server)["registry"]["status"] == "healthy"
    filler = server.data_dir / "filler"
    _fill(filler)
    try:
        registry = _health(server)["registry"]
        assert registry["status"] == "unhealthy"
        assert registry["error"].startswith("no space left on the blob store ("), registry
        with server.client() as client:
            pushed = client.post("/v2/faults/tiny/blobs/uploads/", params={"digest": sha256(b"tiny")}, content=b"tiny")
            _assert_oci_fault(pushed, 507, "no space left on the blob store")
    finally:
        filler.unlink()
    assert _health(server)["registry"] == {"name": "registry", "status": "healthy"}
    with server.client() as client:
        assert _push(client, "faults/tiny", b"tiny").status_code == 201


def test_skopeo_sees_insufficient_storage_and_the_next_copy_works(berth_on_small_disk: Server, skopeo, tmp_path) -> None:
    server = berth_on_small_disk
    layer, config = os.urandom(60 * MiB), canonical_json({"architecture": "amd64", "os": "linux"})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                               "layers": [descriptor(OCI_LAYER_GZIP, layer)]})
    layout = write_oci_layout(tmp_path / "layout", {"big": Image(manifest, OCI_MANIFEST, [config, layer]),
                                                    "small": build_image(7)})

    def copy(tag: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [skopeo, "--insecure-policy", "--tmpdir", str(tmp_path), "copy", "--dest-tls-verify=false",
             f"oci:{layout}:{tag}", f"docker://{server.host}/faults/app:{tag}"],
            capture_output=True, text=True, timeout=120, env={**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)},
        )

    big = copy("big")
    # Docker-family clients print only the status line of a 5xx (the JSON body is for curl, oras, Harbor clients)
    assert big.returncode != 0 and "507 Insufficient Storage" in big.stderr, big.stderr
    assert copy("small").returncode == 0
    with server.client() as client:
        assert client.head(f"/v2/faults/app/blobs/{sha256(layer)}").status_code == 404
        assert client.get("/v2/faults/app/tags/list").json()["tags"] == ["small"]
    storage = server.data_dir / "storage"
    assert _files(storage / "tmp") == [] and _files(storage / "uploads") == []


# -- a stopped PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_a_stopped_database_answers_503_and_berth_recovers_when_it_returns(postgres, tmp_path) -> None:
    server = start_berth(tmp_path / "data", {"BERTH_DATABASE_URL": postgres.url}, projects=("faults",))
    try:
        with server.client() as client:
            assert _push(client, "faults/app", b"before").status_code == 201
            # the database goes away in the middle of a push: the body arrives, the bytes are stored,
            # recording the blob fails
            blob = os.urandom(2 * MiB)

            def body() -> Iterator[bytes]:
                yield blob[:MiB]
                postgres.stop()
                yield blob[MiB:]

            mid = client.post("/v2/faults/app/blobs/uploads/", params={"digest": sha256(blob)}, content=body())
            _assert_oci_fault(mid, 503, "database unavailable")
            assert "Traceback" not in mid.text
            tags = client.get("/v2/faults/app/tags/list")
            _assert_oci_fault(tags, 503, "database unavailable")
            projects = client.get("/api/v2.0/projects")
            _assert_harbor_fault(projects, 503, "database unavailable")
            created = client.post("/api/v2.0/projects", json={"project_name": "during", "metadata": {"public": "false"}})
            _assert_harbor_fault(created, 503, "database unavailable")
            database = _health(server)["database"]
            assert database["status"] == "unhealthy" and database["error"].startswith("database unavailable: ")
            assert _health(server)["registry"]["status"] == "healthy"

            postgres.start()  # berth is not restarted
            _wait_health(server, "database", "healthy")
            assert client.head(f"/v2/faults/app/blobs/{sha256(blob)}").status_code == 404  # never recorded
            assert _push(client, "faults/app", blob).status_code == 201
            assert client.get(f"/v2/faults/app/blobs/{sha256(blob)}").content == blob
            assert client.get("/v2/faults/app/tags/list").status_code == 200
            assert client.get("/api/v2.0/projects").status_code == 200
        for failed in (mid, tags, projects, created):
            _assert_logged_once(server, "database unavailable", failed.request, "cause=")
        # background work polling the database meanwhile logs one line per failed attempt, no traceback
        lines = server.log().splitlines()
        for i, line in enumerate(lines):
            if "claiming jobs failed" in line or "firing schedules failed" in line:
                assert "failed: database unavailable" in line and "cause=" in line, line
                assert i + 1 == len(lines) or not lines[i + 1].startswith("Traceback"), lines[i + 1]
    finally:
        server.stop()


# -- a stopped S3 server -----------------------------------------------------------------------------------


def test_a_stopped_blob_store_answers_503_and_berth_recovers_when_it_returns(tmp_path) -> None:
    moto = start_moto(tmp_path / "moto.log")
    port = int(moto.endpoint.rsplit(":", 1)[1])
    options = {"url": f"s3://{S3_BUCKET}", "endpoint": moto.endpoint, "allow_http": True, **S3_CREDENTIALS,
               "retry_config": {"max_retries": 0}}  # fail at once rather than after obstore's 10 retries
    server = start_berth(tmp_path / "data", {"BERTH_STORAGE_DRIVER": "objectstore",
                                             "BERTH_STORAGE_OPTIONS": json.dumps(options)}, projects=("faults",))
    try:
        with server.client() as client:
            stored = os.urandom(MiB)
            assert _push(client, "faults/s3", stored).status_code == 201
            stop_server(moto)

            pull = client.get(f"/v2/faults/s3/blobs/{sha256(stored)}")
            _assert_oci_fault(pull, 503, "blob store unavailable")  # an error, not a 200 cut short
            blob = os.urandom(MiB)
            push = _push(client, "faults/s3", blob)
            _assert_oci_fault(push, 503, "blob store unavailable")
            assert "Traceback" not in push.text
            assert client.head(f"/v2/faults/s3/blobs/{sha256(blob)}").status_code == 404
            assert client.get(push.request.url.path).status_code == 404  # the session is gone
            registry = _health(server)["registry"]
            assert registry["status"] == "unhealthy" and registry["error"].startswith("blob store unavailable: ")
            assert _health(server)["database"]["status"] == "healthy"

            moto = start_moto(tmp_path / "moto-again.log", port)  # an empty bucket at the same address
            _wait_health(server, "registry", "healthy")
            assert _push(client, "faults/s3", blob).status_code == 201
            assert client.get(f"/v2/faults/s3/blobs/{sha256(blob)}").content == blob
        _assert_logged_once(server, "blob store unavailable", push.request, "GenericError")
        _assert_logged_once(server, "blob store unavailable", pull.request, "GenericError")
    finally:
        server.stop()
        stop_server(moto)

