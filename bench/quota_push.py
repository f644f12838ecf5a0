#!/usr/bin/env python3
"""What quota enforcement costs a push: median and p95 latency of a small blob push (POST + PUT) and
of a manifest PUT, into a project with a storage limit that already holds N blobs.

    .venv/bin/python bench/quota_push.py [N_EXISTING] [PUSHES] [DATABASE_URL]

The berth process runs whichever berth this Python imports: to compare with a version before
enforcement, run it again with PYTHONPATH=<that checkout>/src. Measured on 2026-11-27 (2 busy CPUs,
5000 blobs, 400 pushes): SQLite blob 6.7-7.7 -> 8.8-9.6 ms, manifest 3.3-3.9 -> 4.9-5.6 ms;
PostgreSQL blob 6.6-7.5 -> 9.2-12.3 ms, manifest 3.2-3.9 -> 4.8-6.1 ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import start_berth  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def main() -> None:
    existing = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    pushes = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    env = {"BERTH_DATABASE_URL": sys.argv[3]} if len(sys.argv) > 3 else {}
    server = start_berth(Path(tempfile.mkdtemp(prefix="quota-bench-")) / "data", env)
    try:
        with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
            http.post("/api/v2.0/projects", json={"project_name": "bench", "storage_limit": 1024**4})
            for i in range(existing):
                monolithic(http, f"bench/fill{i % 50}", os.urandom(64) + i.to_bytes(8, "big"))
            blob_ms, manifest_ms = [], []
            for i in range(pushes):
                layer = os.urandom(1000)
                blob_ms.append(timed(lambda: two_step(http, "bench/app", layer)))
                config = json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode()
                monolithic(http, "bench/app", config)
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": digest(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": digest(layer), "size": len(layer)}],
                }).encode()
                manifest_ms.append(timed(lambda: put_manifest(http, f"bench/app/manifests/t{i}", manifest)))
        print(f"{existing} blobs held: blob POST+PUT {summary(blob_ms)} | manifest PUT {summary(manifest_ms)}")
    finally:
        server.stop()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def monolithic(http: httpx.Client, repository: str, data: bytes) -> None:
    response = http.post(f"/v2/{repository}/blobs/uploads/", params={"digest": digest(data)}, content=data)
    assert response.status_code == 201, response.text


def two_step(http: httpx.Client, repository: str, data: bytes) -> None:
    started = http.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = http.put(started.headers["Location"], params={"digest": digest(data)}, content=data)
    assert done.status_code == 201, done.text


def put_manifest(http: httpx.Client, path: str, manifest: bytes) -> None:
    response = http.put(f"/v2/{path}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.text


def timed(action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered):.2f} ms, p95 {ordered[int(len(ordered) * 0.95)]:.2f} ms"


if __name__ == "__main__":
    main()
