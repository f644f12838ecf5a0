"""Online garbage collection: the /system/gc API and `berth gc`, what they reclaim, and what they never
touch (a blob a push is linking, a blob a manifest references), on the filesystem and on S3."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sqlalchemy import text

from berth.db.models import Base
from berth.db.session import Database
from tests.conftest import BERTH, Server, _fresh_postgres_database, start_berth
from tests.integration.helpers import (
    V2, StoreSnapshot, assert_store_unchanged, build_image, sha256, snapshot_store,
)

GRACE = "2"
ENV = {"BERTH_GC_GRACE_SECONDS": GRACE, "BERTH_JOB_POLL_SECONDS": "0.2", "BERTH_METRIC_ENABLED": "true"}


def _blob_file(data_dir: Path, digest: str) -> Path:
    algorithm, hex_ = digest.split(":")
    return data_dir / "storage" / "blobs" / algorithm / hex_[:2] / hex_ / "data"


def _run_gc(client: httpx.Client, **parameters: object) -> dict:
    response = client.post("/api/v2.0/system/gc/schedule", json={"schedule": {"type": "Manual"},
                                                                 "parameters": parameters})
    assert response.status_code == 201, response.text
    gc_id = int(response.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = client.get(f"/api/v2.0/system/gc/{gc_id}").json()
        if run["job_status"] in ("Success", "Error", "Stopped"):
            assert run["job_status"] == "Success", client.get(f"/api/v2.0/system/gc/{gc_id}/log").text
            return run
        time.sleep(0.2)
    raise AssertionError("GC did not finish")


def _cli(server: Server, *args: str) -> subprocess.Popen[bytes]:
    """`berth gc` on the server's data folder and database."""
    return subprocess.Popen([BERTH, "gc", "--data-dir", str(server.data_dir), *args],
                            env={**os.environ, **server.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _database_url(server: Server) -> str:
    return server.env.get("BERTH_DATABASE_URL") or f"sqlite+aiosqlite:///{server.data_dir / 'berth.db'}"


def _sql(server: Server, statement: str, *rows: dict[str, object]) -> list[tuple]:
    """Run one statement on the server's database (once per parameter row, in one transaction)."""
    async def go() -> list[tuple]:
        db = Database(_database_url(server))
        try:
            async with db.write() as conn:
                if len(rows) > 1:
                    await conn.execute(text(statement), list(rows))
                    return []
                result = await conn.execute(text(statement), rows[0] if rows else {})
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await db.close()
    return asyncio.run(go())


def _snapshot(server: Server) -> StoreSnapshot:
    """The data folder's files and each table's row count, on either database."""
    if "BERTH_DATABASE_URL" not in server.env:
        return snapshot_store(server.data_dir)
    files = {path.relative_to(server.data_dir).as_posix(): path.stat().st_size
             for path in sorted(server.data_dir.rglob("*")) if path.is_file()}
    rows = {table: _sql(server, f'SELECT count(*) FROM "{table}"')[0][0]
            for table in Base.metadata.tables if table not in ("audit_logs", "event_outbox")}
    return StoreSnapshot(files, rows)


def _database_env(database: str, database_urls: dict[str, str | None]) -> dict[str, str]:
    """ENV, on a fresh PostgreSQL database when `database` is postgresql."""
    if database == "sqlite":
        return dict(ENV)
    if not database_urls["postgresql"]:
        if os.environ.get("CI"):
            pytest.fail("BERTH_TEST_POSTGRES_URL is not set: make test starts PostgreSQL and sets it")
        pytest.skip("PostgreSQL not configured (run through make test)")
    return {**ENV, "BERTH_DATABASE_URL": _fresh_postgres_database(database_urls["postgresql"], "berth_gc")}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, database_urls, tmp_path):
    server = start_berth(tmp_path / "data", _database_env(request.param, database_urls), projects=("library",))
    yield server
    server.stop()


def test_gc_reclaims_deleted_artifacts_moved_tags_and_empty_repositories(server) -> None:
    data = server.data_dir
    with V2(server.url, auth=server.auth) as v2, server.client() as client:
        kept, dropped, moved = build_image(1), build_image(2), build_image(3)
        v2.push_image("library/app", kept, "v1")
        v2.push_image("library/app", dropped, "v2")
        v2.push_image("library/gone", moved, "latest")
        # a tag moved away: the old image stays as an untagged artifact (deleted with delete_untagged)
        v2.push_image("library/app", build_image(4), "v1")
        v2.push_image("library/app", kept, "v1-again")
        assert v2.request("DELETE", f"/v2/library/app/manifests/{dropped.digest}").status_code == 202
        assert client.delete("/api/v2.0/projects/library/repositories/gone/artifacts/latest").status_code == 200
        time.sleep(float(GRACE) + 0.5)
        run = _run_gc(client, delete_untagged=True, workers=3)
        assert run["job_name"] == "GARBAGE_COLLECTION" and run["job_kind"] == "MANUAL"
        for blob in [*dropped.blobs, *moved.blobs]:
            if blob not in kept.blobs:
                assert not _blob_file(data, sha256(blob)).exists()
        for blob in kept.blobs:
            assert _blob_file(data, sha256(blob)).exists()
            pulled = v2.request("GET", f"/v2/library/app/blobs/{sha256(blob)}")
            assert pulled.status_code == 200 and hashlib.sha256(pulled.content).hexdigest() == sha256(blob)[7:]
        assert client.get("/api/v2.0/projects/library/repositories/gone").status_code == 404
        log = client.get(f"/api/v2.0/system/gc/{run['id']}/log")
        assert log.status_code == 200 and "freed" in log.text and "empty repositories: 1" in log.text
        history = client.get("/api/v2.0/system/gc", params={"page_size": 1})
        assert history.headers["X-Total-Count"] == "1" and history.json()[0]["id"] == run["id"]
        assert '"delete_untagged": true' in history.json()[0]["job_parameters"]
        metrics = httpx.get(server.url + "/metrics").text
        assert 'berth_gc_runs_total{status="Success"} 1.0' in metrics
        assert "berth_gc_freed_bytes_total" in metrics


def test_a_blob_being_pushed_is_never_collected(server) -> None:
    """Uploaded, not yet in a manifest: within the grace window GC keeps it, and the push completes."""
    with V2(server.url, auth=server.auth) as v2, server.client() as client:
        image = build_image(7)
        for blob in image.blobs:
            v2.push_blob("library/slow", blob)
        _run_gc(client)
        for blob in image.blobs:
            assert _blob_file(server.data_dir, sha256(blob)).exists()
        assert v2.put_manifest("library/slow", "v1", image.manifest, image.media_type).status_code == 201
        time.sleep(float(GRACE) + 0.5)
        _run_gc(client)
        for blob in image.blobs:
            assert v2.request("GET", f"/v2/library/slow/blobs/{sha256(blob)}").status_code == 200


def test_workers_out_of_range_is_refused_and_nothing_is_stored(server) -> None:
    with server.client() as client:
        for workers in (0, 11, -1):
            response = client.post("/api/v2.0/system/gc/schedule", json={
                "schedule": {"type": "Daily"}, "parameters": {"workers": workers}})
            assert response.status_code == 400
            assert f"Invalid number of workers:{workers}" in response.text
        assert client.get("/api/v2.0/system/gc/schedule").content in (b"", b"null")
        assert client.get("/api/v2.0/system/gc").json() == []
        ok = client.post("/api/v2.0/system/gc/schedule", json={
            "schedule": {"type": "Custom", "cron": "0 0 3 * * *"}, "parameters": {"workers": 2, "dry_run": True}})
        assert ok.status_code == 201
        schedule = client.get("/api/v2.0/system/gc/schedule").json()
        assert schedule["schedule"]["cron"] == "0 0 3 * * *" and '"workers": 2' in schedule["job_parameters"]
        assert client.get("/api/v2.0/system/gc/999999").status_code == 404
        assert client.put("/api/v2.0/system/gc/999999").status_code == 404


def test_gc_is_for_system_admins_only(server) -> None:
    with server.client() as client:
        client.post("/api/v2.0/users", json={"username": "dev", "email": "dev@example.com", "realname": "d",
                                             "password": "Passw0rd!x", "comment": ""})
    with server.client(auth=("dev", "Passw0rd!x")) as dev:
        assert dev.get("/api/v2.0/system/gc").status_code == 403
        assert dev.post("/api/v2.0/system/gc/schedule", json={"schedule": {"type": "Manual"}}).status_code == 403
    with server.client(auth=False) as anonymous:
        assert anonymous.get("/api/v2.0/system/gc").status_code == 401


def test_dry_run_reports_and_leaves_the_store_identical(server) -> None:
    with V2(server.url, auth=server.auth) as v2:
        image = build_image(11)
        v2.push_image("library/dry", image, "v1")
        assert v2.request("DELETE", f"/v2/library/dry/manifests/{image.digest}").status_code == 202
    time.sleep(float(GRACE) + 0.5)
    before = _snapshot(server)
    done = _cli(server, "--dry-run")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err.decode()
    assert f"would free {sum(len(b) for b in image.blobs)} bytes in {len(image.blobs)} blob(s)" in out.decode()
    assert_store_unchanged(before, _snapshot(server))


def _quota_matches_recount(server: Server) -> None:
    for project_id, used in _sql(server, "SELECT project_id, used_storage FROM quotas"):
        [(recount,)] = _sql(server, """
            SELECT coalesce(sum(size), 0) FROM (
              SELECT b.digest, b.size FROM blobs b JOIN repository_blobs rb ON rb.digest = b.digest
                JOIN repositories r ON r.id = rb.repository_id WHERE r.project_id = :p
              UNION SELECT m.digest, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE r.project_id = :p) AS held""", {"p": project_id})
        assert used is None or used == recount, (project_id, used, recount)


def test_quota_usage_equals_the_recount_after_pushes_deletes_mounts_and_runs(server) -> None:
    import random

    rng = random.Random(14)
    with V2(server.url, auth=server.auth) as v2, server.client() as client:
        pushed: list[tuple[str, str]] = []
        for round_ in range(3):
            for i in range(4):
                image = build_image(rng.randrange(6), layers=rng.randrange(1, 3))
                repo = f"library/q{rng.randrange(3)}"
                if pushed and rng.random() < 0.5:
                    source = rng.choice(pushed)[0]
                    for blob in image.blobs:
                        mounted = v2.request("POST", f"/v2/{repo}/blobs/uploads/",
                                             params={"mount": sha256(blob), "from": source})
                        if mounted.status_code != 201:
                            v2.push_blob(repo, blob)
                    assert v2.put_manifest(repo, f"t{i}", image.manifest, image.media_type).status_code == 201
                else:
                    v2.push_image(repo, image, f"t{i}")
                pushed.append((repo, image.digest))
            for repo, digest in rng.sample(pushed, 2):
                v2.request("DELETE", f"/v2/{repo}/manifests/{digest}")
            time.sleep(float(GRACE) + 0.3)
            _run_gc(client, delete_untagged=rng.random() < 0.5)
            client.get("/api/v2.0/quotas")
            _quota_matches_recount(server)
        for repo, digest in pushed:
            manifest = v2.get_manifest(repo, digest)
            if manifest.status_code == 200:
                for layer in manifest.json()["layers"] + [manifest.json()["config"]]:
                    blob = v2.request("GET", f"/v2/{repo}/blobs/{layer['digest']}")
                    assert blob.status_code == 200 and sha256(blob.content) == layer["digest"]


def _seed_garbage(server: Server, count: int) -> list[str]:
    """`count` blobs nothing references, last linked long ago, half with a row, half orphan files only."""
    old = datetime.now(UTC) - timedelta(days=1)
    digests, rows = [], []
    for i in range(count):
        data = f"garbage {i}".encode()
        digest = sha256(data)
        path = _blob_file(server.data_dir, digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (time.time() - 86400, time.time() - 86400))
        if i % 2 == 0:
            rows.append({"digest": digest, "size": len(data), "old": old})
        digests.append(digest)
    _sql(server, "INSERT INTO blobs (digest, size, created_at, last_linked_at) VALUES (:digest, :size, :old, :old)",
         *rows)
    return digests


def test_a_run_killed_mid_way_is_finished_by_the_next_with_no_dangling_reference(server) -> None:
    with V2(server.url, auth=server.auth) as v2:
        image = build_image(21)
        v2.push_image("library/live", image, "v1")
        garbage = _seed_garbage(server, 3000)
        killed = _cli(server, "--workers", "4")
        time.sleep(1.5)
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        # whatever the kill left (marks, rows without files, files without rows), pulls still work
        for blob in image.blobs:
            assert v2.request("GET", f"/v2/library/live/blobs/{sha256(blob)}").status_code == 200
        again = _cli(server)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err.decode()
        assert not any(_blob_file(server.data_dir, digest).exists() for digest in garbage)
        [(left,)] = _sql(server, "SELECT count(*) FROM blobs WHERE gc_marked_at IS NOT NULL")
        dangling = _sql(server, "SELECT mb.digest FROM manifest_blobs mb LEFT JOIN blobs b "
                                "ON b.digest = mb.digest WHERE b.digest IS NULL")
        assert left == 0 and dangling == []
        for blob in image.blobs:
            pulled = v2.request("GET", f"/v2/library/live/blobs/{sha256(blob)}")
            assert pulled.status_code == 200 and pulled.content == blob


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_gc_on_s3_deletes_the_objects(database, database_urls, request, tmp_path) -> None:
    from tests.integration.test_object_storage import _storage_env

    env = {**_database_env(database, database_urls), **_storage_env("s3", request, False)}
    server = start_berth(tmp_path / "data", env, projects=("library",))
    try:
        with V2(server.url, auth=server.auth) as v2, server.client() as client:
            kept, dropped = build_image(31), build_image(32)
            v2.push_image("library/s3", kept, "v1")
            v2.push_image("library/s3", dropped, "v2")
            assert v2.request("DELETE", f"/v2/library/s3/manifests/{dropped.digest}").status_code == 202
            time.sleep(float(GRACE) + 0.5)
            run = _run_gc(client)
            log = client.get(f"/api/v2.0/system/gc/{run['id']}/log").text
            assert f"blobs: {len(dropped.blobs)} ({sum(len(b) for b in dropped.blobs)} bytes)" in log
            for blob in dropped.blobs:
                assert v2.request("GET", f"/v2/library/s3/blobs/{sha256(blob)}").status_code == 404
            for blob in kept.blobs:
                assert v2.request("GET", f"/v2/library/s3/blobs/{sha256(blob)}",
                                  follow_redirects=True).content == blob
    finally:
        server.stop()
