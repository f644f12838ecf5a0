"""Online GC under fire: two berth processes on one PostgreSQL database and one data folder; threads
push images that share layers (uploads, re-pushes, cross-repository mounts), move tags, delete
artifacts and run GC, interleaved at random (hypothesis). Afterwards, once a last run is past the
grace window: every stored manifest pulls with all its blobs at the right digest, and no blob file
is left that no manifest references."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Server, start_berth
from tests.integration.helpers import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, canonical_json, descriptor, sha256
from tests.integration.test_gc import _database_env, _run_gc, _sql

GRACE = 2.0
REPOSITORIES = ("library/a", "library/b", "library/c")
TAGS = ("t0", "t1")
#: layers images are made of: few, so that images share them and re-push them
LAYERS = [hashlib.sha256(f"layer {i}".encode()).digest() * (64 + 16 * i) for i in range(5)]


def _image(seed: int, layers: tuple[int, ...]) -> tuple[bytes, list[bytes]]:
    """The manifest and blobs (config first) of an image made of pool layers `layers`."""
    config = canonical_json({"architecture": "amd64", "os": "linux", "config": {"Env": [f"SEED={seed}"]},
                             "rootfs": {"type": "layers", "diff_ids": [sha256(LAYERS[i]) for i in layers]}})
    blobs = [config, *(LAYERS[i] for i in layers)]
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": descriptor(OCI_CONFIG, config),
                               "layers": [descriptor(OCI_LAYER_GZIP, LAYERS[i]) for i in layers]})
    return manifest, blobs


@dataclass(frozen=True)
class Push:
    node: int
    repository: str
    tag: str
    seed: int
    layers: tuple[int, ...]
    mount_from: str | None  # mount each blob from there first (cross-repository mount)


@dataclass(frozen=True)
class Delete:
    node: int
    repository: str
    seed: int
    layers: tuple[int, ...]
    through_api: bool  # the Harbor API, else /v2 DELETE by digest


@dataclass(frozen=True)
class Collect:
    node: int
    delete_untagged: bool


_images = st.tuples(st.integers(0, 3), st.lists(st.integers(0, len(LAYERS) - 1), min_size=1, max_size=3, unique=True)
                    .map(tuple))
_nodes = st.integers(0, 1)
_repos = st.sampled_from(REPOSITORIES)
operations = st.one_of(
    st.builds(lambda n, r, t, i, m: Push(n, r, t, i[0], i[1], m), _nodes, _repos, st.sampled_from(TAGS), _images,
              st.none() | _repos),
    st.builds(lambda n, r, i, a: Delete(n, r, i[0], i[1], a), _nodes, _repos, _images, st.booleans()),
    st.builds(Collect, _nodes, st.booleans()),
)
#: per thread: its operations, with a pause (seconds) before each, so runs overlap pushes at random
programs = st.lists(st.lists(st.tuples(st.sampled_from([0.0, 0.05, 0.3]), operations), min_size=2, max_size=6),
                    min_size=3, max_size=3)


@pytest.fixture(scope="module")
def nodes(database_urls, tmp_path_factory) -> Iterator[list[Server]]:
    """Two berth processes sharing one PostgreSQL database and one data folder (filesystem driver)."""
    # several nodes on one database: cached lookups trusted for a second, as the README asks of them
    env = {**_database_env("postgresql", database_urls), "BERTH_GC_GRACE_SECONDS": str(GRACE),
           "BERTH_TAG_CACHE_TTL": "1"}
    data_dir = tmp_path_factory.mktemp("gc-nodes") / "data"
    started = [start_berth(data_dir, env, projects=("library",))]
    try:
        started.append(start_berth(data_dir, env, projects=("library",)))
        yield started
    finally:
        for server in started:
            server.stop()


def _push(http: httpx.Client, op: Push) -> None:
    manifest, blobs = _image(op.seed, op.layers)
    for attempt in range(3):
        for blob in blobs:
            digest = sha256(blob)
            if attempt == 0 and http.head(f"/v2/{op.repository}/blobs/{digest}").status_code == 200:
                continue  # already there: a client skips it (and GC may take the link before the PUT)
            if op.mount_from and op.mount_from != op.repository:
                mounted = http.post(f"/v2/{op.repository}/blobs/uploads/",
                                    params={"mount": digest, "from": op.mount_from})
                if mounted.status_code == 201:
                    continue
                assert mounted.status_code == 202, mounted.text  # not mountable: an upload session instead
                location = mounted.headers["Location"]
            else:
                started = http.post(f"/v2/{op.repository}/blobs/uploads/")
                assert started.status_code == 202, started.text
                location = started.headers["Location"]
            done = http.put(location, params={"digest": digest}, content=blob,
                            headers={"Content-Type": "application/octet-stream"})
            assert done.status_code == 201, done.text
        put = http.put(f"/v2/{op.repository}/manifests/{op.tag}", content=manifest,
                       headers={"Content-Type": OCI_MANIFEST})
        if put.status_code == 201:
            return
        # a blob skipped or mounted above went meanwhile (unreferenced past the grace): push it again
        assert put.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in put.text, put.text
    raise AssertionError(f"the push of {op} never went through")


def _delete(http: httpx.Client, op: Delete) -> None:
    digest = sha256(_image(op.seed, op.layers)[0])
    if op.through_api:
        project, repository = op.repository.split("/", 1)
        response = http.delete(f"/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{digest}")
        assert response.status_code in (200, 404), response.text
    else:
        response = http.delete(f"/v2/{op.repository}/manifests/{digest}")
        assert response.status_code in (202, 404), response.text


def _collect(http: httpx.Client, op: Collect) -> None:
    response = http.post("/api/v2.0/system/gc/schedule", json={
        "schedule": {"type": "Manual"}, "parameters": {"delete_untagged": op.delete_untagged, "workers": 2}})
    if response.status_code == 409:
        return  # another thread's run is going on: that one interleaves with this thread's work
    assert response.status_code == 201, response.text
    gc_id = response.headers["Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = http.get(f"/api/v2.0/system/gc/{gc_id}").json()
        if run["job_status"] not in ("Pending", "Running"):
            assert run["job_status"] == "Success", http.get(f"/api/v2.0/system/gc/{gc_id}/log").text
            return
        time.sleep(0.1)
    raise AssertionError("GC did not finish")


def _run_program(nodes: list[Server], program: list[tuple[float, Push | Delete | Collect]],
                 failures: list[BaseException]) -> None:
    clients = [server.client() for server in nodes]
    try:
        for pause, op in program:
            time.sleep(pause)
            http = clients[op.node]
            if isinstance(op, Push):
                _push(http, op)
            elif isinstance(op, Delete):
                _delete(http, op)
            else:
                _collect(http, op)
    except BaseException as error:  # noqa: BLE001  (reported by the main thread)
        failures.append(error)
    finally:
        for client in clients:
            client.close()


def _stored_blob_digests(data_dir: Path) -> set[str]:
    root = data_dir / "storage" / "blobs"
    return {f"{path.parent.parent.parent.name}:{path.parent.name}" for path in root.glob("*/*/*/data")}


def _assert_everything_pulls_and_nothing_else_is_kept(nodes: list[Server]) -> None:
    server = nodes[0]
    manifests = _sql(server, "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id")
    referenced: set[str] = set()
    with server.client() as http:
        for name, digest in manifests:
            pulled = http.get(f"/v2/{name}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
            assert pulled.status_code == 200 and sha256(pulled.content) == digest, (name, digest, pulled.text)
            document = json.loads(pulled.content)
            for layer in [document["config"], *document["layers"]]:
                blob = http.get(f"/v2/{name}/blobs/{layer['digest']}", follow_redirects=True)
                assert blob.status_code == 200, (name, layer["digest"], blob.status_code)
                assert sha256(blob.content) == layer["digest"], (name, layer["digest"], "wrong bytes")
                referenced.add(layer["digest"])
    stored = _stored_blob_digests(server.data_dir)
    rows = {digest for (digest,) in _sql(server, "SELECT digest FROM blobs")}
    assert stored - referenced == set(), "blob files no manifest references survived a run past the grace"
    assert rows == stored, f"rows without files {rows - stored}, files without rows {stored - rows}"
    [(marked,)] = _sql(server, "SELECT count(*) FROM blobs WHERE gc_marked_at IS NOT NULL")
    assert marked == 0


#: BERTH_GC_EXAMPLES=50 to hunt longer than make test does
@settings(max_examples=int(os.environ.get("BERTH_GC_EXAMPLES", "4")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program=programs)
def test_pushes_mounts_deletes_and_gc_runs_interleaved_on_two_nodes_lose_nothing_and_keep_no_garbage(
    nodes, program,
) -> None:
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_run_program, args=(nodes, ops, failures)) for ops in program]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if failures:
        raise failures[0]
    time.sleep(GRACE + 0.5)
    with nodes[1].client() as http:
        _run_gc(http)
    _assert_everything_pulls_and_nothing_else_is_kept(nodes)
