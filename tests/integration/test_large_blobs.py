"""1 GiB layers stream through berth: pushed monolithic and chunked, pulled back intact, in flat server memory.

The bytes are generated on the fly (never held whole by the test either) and
the server's resident memory is sampled in a thread during each transfer.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Iterator

import httpx
import pytest

from tests.memory import PeakRss

from .helpers import with_query

GIB = 1 << 30
MIB = 1 << 20
#: how much the server's RSS may grow while moving a 1 GiB blob
RSS_ALLOWANCE = 100 * MIB

pytestmark = pytest.mark.slow


def generated(size: int, seed: int, start: int = 0) -> Iterator[bytes]:
    """Deterministic pseudo-random bytes [start, size) in 1 MiB chunks: one random block stamped with each index."""
    block = random.Random(seed).randbytes(MIB)
    assert start % MIB == 0
    for index in range(start // MIB, (size + MIB - 1) // MIB):
        yield (index.to_bytes(8, "big") + block[8:])[: min(MIB, size - index * MIB)]


def generated_digest(size: int, seed: int) -> str:
    hasher = hashlib.sha256()
    for chunk in generated(size, seed):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def limited(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield next(chunks)


def warm_up(http: httpx.Client, name: str) -> None:
    """One small push and pull first, so the baseline includes everything a first request loads."""
    data = b"warm" * 300_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = http.post(f"/v2/{name}/blobs/uploads/").headers["Location"]
    http.patch(location, content=data[:600_000], headers={"Content-Range": "0-599999"}).raise_for_status()
    http.put(
        with_query(location, digest=digest),
        content=data[600_000:],
        headers={"Content-Range": f"600000-{len(data) - 1}"},
    ).raise_for_status()
    http.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data).raise_for_status()
    assert http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=5-100000"}).status_code == 206
    assert http.get(f"/v2/{name}/blobs/{digest}").content == data


def pull_digest(http: httpx.Client, name: str, digest: str) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    with http.stream("GET", f"/v2/{name}/blobs/{digest}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(GIB)
        assert response.headers["Docker-Content-Digest"] == digest
        for chunk in response.iter_bytes(MIB):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def finish(server) -> None:
    server.stop()
    shutil.rmtree(server.data_dir / "storage", ignore_errors=True)  # 1 GiB per test is not worth keeping


@pytest.mark.timeout(300)
def test_a_1_gib_layer_pushed_in_one_request_streams_through_in_flat_memory(fresh_berth):
    name = "large/monolithic"
    digest = generated_digest(GIB, seed=1)
    with httpx.Client(base_url=fresh_berth.url, timeout=300, auth=fresh_berth.auth) as http:
        warm_up(http, name)
        with PeakRss(fresh_berth.process.pid) as push_memory:
            response = http.post(
                f"/v2/{name}/blobs/uploads/",
                params={"digest": digest},
                content=generated(GIB, seed=1),
                headers={"Content-Length": str(GIB), "Content-Type": "application/octet-stream"},
            )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == digest
        head = http.head(f"/v2/{name}/blobs/{digest}")
        assert head.status_code == 200 and head.headers["Content-Length"] == str(GIB)

        with PeakRss(fresh_berth.process.pid) as pull_memory:
            assert pull_digest(http, name, digest) == (digest, GIB)
    assert push_memory.growth < RSS_ALLOWANCE, f"push grew the server by {push_memory.growth / MIB:.0f} MiB"
    assert pull_memory.growth < RSS_ALLOWANCE, f"pull grew the server by {pull_memory.growth / MIB:.0f} MiB"
    finish(fresh_berth)


@pytest.mark.timeout(300)
def test_a_1_gib_layer_pushed_in_chunks_streams_through_in_flat_memory(fresh_berth):
    name = "large/chunked"
    digest = generated_digest(GIB, seed=2)
    chunk_size = 256 * MIB
    with httpx.Client(base_url=fresh_berth.url, timeout=300, auth=fresh_berth.auth) as http:
        warm_up(http, name)
        source = generated(GIB, seed=2)
        with PeakRss(fresh_berth.process.pid) as push_memory:
            location = http.post(f"/v2/{name}/blobs/uploads/").headers["Location"]
            for start in range(0, GIB - chunk_size, chunk_size):
                response = http.patch(
                    location,
                    content=limited(source, chunk_size // MIB),
                    headers={"Content-Range": f"{start}-{start + chunk_size - 1}", "Content-Length": str(chunk_size)},
                )
                assert response.status_code == 202, response.text
                assert response.headers["Range"] == f"0-{start + chunk_size - 1}"
                location = response.headers["Location"]
            response = http.put(
                with_query(location, digest=digest),
                content=source,
                headers={"Content-Range": f"{GIB - chunk_size}-{GIB - 1}", "Content-Length": str(chunk_size)},
            )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == digest

        with PeakRss(fresh_berth.process.pid) as pull_memory:
            assert pull_digest(http, name, digest) == (digest, GIB)
        ranged = http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": f"bytes={GIB - MIB}-"})
        assert ranged.status_code == 206 and ranged.content == list(generated(GIB, seed=2, start=GIB - MIB))[0]
    assert push_memory.growth < RSS_ALLOWANCE, f"push grew the server by {push_memory.growth / MIB:.0f} MiB"
    assert pull_memory.growth < RSS_ALLOWANCE, f"pull grew the server by {pull_memory.growth / MIB:.0f} MiB"
    leftovers = [p for p in (fresh_berth.data_dir / "storage").rglob("*") if p.is_file() and "blobs" not in p.parts]
    assert leftovers == []
    finish(fresh_berth)
