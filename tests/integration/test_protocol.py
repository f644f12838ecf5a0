"""Protocol details of /v2 on berth alone.

Ranges, pagination, chunked uploads, mounts, tags, media types, names, digests, and a few edges.
"""

from __future__ import annotations

import base64
import random
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Server

from .helpers import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_JSON,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    V2,
    build_artifact,
    build_image,
    build_index,
    canonical_json,
    descriptor,
    error_codes,
    next_link,
    sha256,
    sha512,
    snapshot_store,
    unique,
    with_query,
)


def blob_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# -- blob ranges ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=500-5000", 500, 999),
        ("bytes=999-999", 999, 999),
    ],
)
def test_blob_range_get_answers_206_with_the_requested_bytes(v2, range_header, first, last):
    name = unique("ranges/app")
    data = blob_bytes(1000, 1)
    digest = v2.push_blob(name, data)

    response = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": range_header})

    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/1000"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.content == data[first : last + 1]
    assert response.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("range_header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_blob_range_answers_416_with_the_blob_size(v2, range_header):
    name = unique("ranges/app")
    digest = v2.push_blob(name, blob_bytes(1000, 2))

    response = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": range_header})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1000"


def test_blob_get_without_range_serves_the_whole_blob_and_advertises_ranges(v2):
    name = unique("ranges/app")
    data = blob_bytes(70_000, 3)
    digest = v2.push_blob(name, data)

    whole = v2.http.get(f"/v2/{name}/blobs/{digest}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    head = v2.http.head(f"/v2/{name}/blobs/{digest}")
    assert head.status_code == 200 and head.headers["Content-Length"] == "70000" and head.content == b""
    ignored = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "lines=1-2"})
    assert ignored.status_code == 200 and ignored.content == data


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (0, None),  # whole blob, several 4 MiB map windows and 1 MiB pieces
        (5000, None),  # unaligned start
        (4 * 1024 * 1024 - 100, 4 * 1024 * 1024 + 100),  # across a window boundary
        (300_000, 300_000 + 1024 * 1024),  # exactly one piece past the inline-read size
        (9 * 1024 * 1024 + 1, None),  # inside the last, partial window
    ],
)
def test_large_blob_bodies_and_ranges_are_byte_exact(v2, first, last):
    name = unique("ranges/large")
    data = blob_bytes(9 * 1024 * 1024 + 123, 9)
    digest = v2.push_blob(name, data)
    end = len(data) - 1 if last is None else last
    headers = {} if (first, last) == (0, None) else {"Range": f"bytes={first}-{'' if last is None else last}"}

    response = v2.http.get(f"/v2/{name}/blobs/{digest}", headers=headers)

    assert response.status_code == (200 if not headers else 206)
    assert response.headers["Content-Length"] == str(end - first + 1)
    assert response.content == data[first : end + 1]


# -- pagination ----------------------------------------------------------------------------------------------


def push_tags(v2, name: str, tags: list[str]) -> str:
    image = build_image(seed=5, layers=1)
    v2.push_image(name, image, tags[0])
    for tag in tags[1:]:
        assert v2.put_manifest(name, tag, image.manifest, image.media_type).status_code == 201
    return image.digest


def test_tags_list_is_asciibetical_and_paginates_with_n_last_and_link(v2):
    name = unique("pages/app")
    tags = ["v1.0", "latest", "A", "B1", "a", "b", "V2", "0", "_x", "v1.0-rc1"]
    push_tags(v2, name, tags)

    everything = v2.http.get(f"/v2/{name}/tags/list")
    assert everything.json() == {"name": name, "tags": sorted(tags)}
    assert "Link" not in everything.headers

    pages, url = [], f"/v2/{name}/tags/list?n=3"
    while url is not None:
        response = v2.http.get(url)
        assert response.status_code == 200
        pages.append(response.json()["tags"])
        url = next_link(response)
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["n"] == ["3"] and query["last"] == [pages[-1][-1]]
            assert urlsplit(url).path == f"/v2/{name}/tags/list"
    assert pages == [sorted(tags)[i : i + 3] for i in range(0, len(tags), 3)]

    after_b = v2.http.get(f"/v2/{name}/tags/list", params={"last": "b"}).json()["tags"]
    assert after_b == [t for t in sorted(tags) if t > "b"]
    middle = v2.http.get(f"/v2/{name}/tags/list", params={"n": 2, "last": "B1"})
    assert middle.json()["tags"] == ["V2", "_x"] and next_link(middle) is not None
    exact = v2.http.get(f"/v2/{name}/tags/list", params={"n": len(tags)})
    assert exact.json()["tags"] == sorted(tags)
    zero = v2.http.get(f"/v2/{name}/tags/list", params={"n": 0})
    assert zero.status_code == 200 and zero.json()["tags"] == [] and "Link" not in zero.headers
    past_end = v2.http.get(f"/v2/{name}/tags/list", params={"last": "zzz"})
    assert past_end.json()["tags"] == [] and "Link" not in past_end.headers


@pytest.mark.parametrize("n", ["-1", "x", "1.5"])
def test_tags_list_rejects_a_malformed_page_size(v2, n):
    name = unique("pages/app")
    push_tags(v2, name, ["v1"])
    response = v2.http.get(f"/v2/{name}/tags/list", params={"n": n})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


def test_catalog_paginates_with_n_last_and_link(v2):
    prefix = v2.create_project(unique("catalog"))
    names = [f"{prefix}/{suffix}" for suffix in ("c", "a", "b/x", "b")]
    for name in names:
        push_tags(v2, name, ["v1"])

    first = v2.http.get("/v2/_catalog", params={"n": 2, "last": prefix})
    assert first.status_code == 200
    assert first.json() == {"repositories": sorted(names)[:2]}
    link = next_link(first)
    assert link is not None and urlsplit(link).path == "/v2/_catalog"
    assert parse_qs(urlsplit(link).query) == {"n": ["2"], "last": [sorted(names)[1]]}
    second = v2.http.get(link)
    assert second.json()["repositories"][:2] == sorted(names)[2:]

    zero = v2.http.get("/v2/_catalog", params={"n": 0})
    assert zero.json() == {"repositories": []} and "Link" not in zero.headers
    everything = v2.list_all("/v2/_catalog", "repositories", n=7)
    assert everything == sorted(everything) and set(names) <= set(everything)


# -- chunked uploads -----------------------------------------------------------------------------------------


def test_out_of_order_chunk_is_refused_with_416_and_the_status_shows_what_was_received(v2):
    name = unique("chunks/app")
    data = blob_bytes(300, 6)
    started = v2.start_upload(name)
    first = v2.http.patch(started.headers["Location"], content=data[:100], headers={"Content-Range": "0-99"})
    assert first.status_code == 202 and first.headers["Range"] == "0-99"
    location = first.headers["Location"]

    for bad_range, chunk in (("200-299", data[200:]), ("0-99", data[:100]), ("50-149", data[50:150])):
        refused = v2.http.patch(location, content=chunk, headers={"Content-Range": bad_range})
        assert refused.status_code == 416, bad_range
        status = v2.http.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-99"
        assert status.headers["Location"].endswith(urlsplit(location).path)
        assert status.headers["Docker-Upload-UUID"] in location

    bad_close = v2.http.put(
        with_query(location, digest=sha256(data)), content=data[150:], headers={"Content-Range": "150-299"}
    )
    assert bad_close.status_code == 416
    second = v2.http.patch(location, content=data[100:200], headers={"Content-Range": "100-199"})
    assert second.status_code == 202 and second.headers["Range"] == "0-199"
    done = v2.http.put(
        with_query(location, digest=sha256(data)), content=data[200:], headers={"Content-Range": "200-299"}
    )
    assert done.status_code == 201, done.text
    assert v2.http.get(f"/v2/{name}/blobs/{sha256(data)}").content == data


def test_chunks_without_content_range_are_appended_in_order(v2):
    name = unique("chunks/app")
    data = blob_bytes(5000, 7)
    location = v2.start_upload(name).headers["Location"]
    for start in range(0, 5000, 1000):
        response = v2.http.patch(location, content=data[start : start + 1000])
        assert response.status_code == 202 and response.headers["Range"] == f"0-{start + 999}"
        location = response.headers["Location"]
    done = v2.http.put(with_query(location, digest=sha256(data)))
    assert done.status_code == 201
    assert done.headers["Location"] == f"/v2/{name}/blobs/{sha256(data)}"
    assert v2.http.get(done.headers["Location"]).content == data


def stop_gracefully(server: Server) -> None:
    """SIGTERM; uvicorn finishes in-flight work, then re-raises the signal (exit status -15 is the clean one)."""
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()


def test_chunked_upload_started_before_a_restart_is_finished_after_it(fresh_berth, start_server):
    name = "restart/app"
    data = blob_bytes(3 * 1024 * 1024 + 17, 8)
    third = len(data) // 3
    with httpx.Client(base_url=fresh_berth.url, timeout=60, auth=fresh_berth.auth) as http:
        location = http.post(f"/v2/{name}/blobs/uploads/").headers["Location"]
        r = http.patch(location, content=data[:third], headers={"Content-Range": f"0-{third - 1}"})
        assert r.status_code == 202
        r = http.patch(location, content=data[third : 2 * third], headers={"Content-Range": f"{third}-{2 * third - 1}"})
        assert r.status_code == 202 and r.headers["Range"] == f"0-{2 * third - 1}"
    stop_gracefully(fresh_berth)

    restarted = start_server(data_dir=fresh_berth.data_dir, port=fresh_berth.port)
    with httpx.Client(base_url=restarted.url, timeout=60, auth=restarted.auth) as http:
        status = http.get(location)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{2 * third - 1}"
        wrong = http.put(with_query(location, digest=sha256(data)))
        assert wrong.status_code == 400 and error_codes(wrong) == ["DIGEST_INVALID"]  # incomplete: digest differs

        location = http.post(f"/v2/{name}/blobs/uploads/").headers["Location"]
        r = http.patch(location, content=data[: 2 * third], headers={"Content-Range": f"0-{2 * third - 1}"})
        assert r.status_code == 202
    stop_gracefully(restarted)

    again = start_server(data_dir=fresh_berth.data_dir, port=fresh_berth.port)
    with httpx.Client(base_url=again.url, timeout=60, auth=again.auth) as http:
        done = http.put(
            with_query(location, digest=sha256(data)),
            content=data[2 * third :],
            headers={"Content-Range": f"{2 * third}-{len(data) - 1}"},
        )
        assert done.status_code == 201, done.text
        assert done.headers["Docker-Content-Digest"] == sha256(data)
        pulled = http.get(f"/v2/{name}/blobs/{sha256(data)}")
        assert pulled.status_code == 200 and pulled.content == data
        assert http.get(location).status_code == 404
    leftovers = [p for p in (fresh_berth.data_dir / "storage" / "uploads").rglob("*") if p.is_file()]
    assert leftovers == []
    assert snapshot_store(fresh_berth.data_dir).rows["uploads"] == 0


def _stored_bytes(storage: Path) -> int:
    return sum(p.stat().st_size for p in storage.rglob("*") if p.is_file())


def test_a_chunk_cut_off_by_a_killed_server_never_reaches_the_blob(fresh_berth, start_server):
    """The server dies while a chunk of other bytes is half stored; after a restart the upload
    goes on from the recorded size, the digest is recomputed from what is stored, and the blob is exact."""
    name = "restart/killed"
    mib = 1 << 20
    data = blob_bytes(3 * mib + 5, 9)
    storage = fresh_berth.data_dir / "storage"
    with httpx.Client(base_url=fresh_berth.url, timeout=60, auth=fresh_berth.auth) as http:
        location = http.post(f"/v2/{name}/blobs/uploads/").headers["Location"]
        r = http.patch(location, content=data[:mib], headers={"Content-Range": f"0-{mib - 1}"})
        assert r.status_code == 202
        location = r.headers["Location"]
    before = _stored_bytes(storage)
    garbage = blob_bytes(2 * mib, 10)
    target = urlsplit(location)
    credentials = base64.b64encode(":".join(fresh_berth.auth).encode()).decode()
    head = (
        f"PATCH {target.path}{'?' + target.query if target.query else ''} HTTP/1.1\r\n"
        f"Host: {fresh_berth.host}\r\nAuthorization: Basic {credentials}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Range: {mib}-{3 * mib - 1}\r\n"
        f"Content-Length: {2 * mib}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", fresh_berth.port)) as sock:
        sock.sendall(head.encode() + garbage[: 3 * mib // 2])
        deadline = time.monotonic() + 30
        while _stored_bytes(storage) < before + mib and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored_bytes(storage) >= before + mib, "the half chunk never reached the disk"
        fresh_berth.stop(signal.SIGKILL)

    restarted = start_server(data_dir=fresh_berth.data_dir, port=fresh_berth.port)
    with httpx.Client(base_url=restarted.url, timeout=60, auth=restarted.auth) as http:
        status = http.get(location)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{mib - 1}"
        r = http.patch(location, content=data[mib : 2 * mib], headers={"Content-Range": f"{mib}-{2 * mib - 1}"})
        assert r.status_code == 202 and r.headers["Range"] == f"0-{2 * mib - 1}"
        done = http.put(
            with_query(r.headers["Location"], digest=sha256(data)),
            content=data[2 * mib :],
            headers={"Content-Range": f"{2 * mib}-{len(data) - 1}"},
        )
        assert done.status_code == 201, done.text
        pulled = http.get(f"/v2/{name}/blobs/{sha256(data)}")
        assert pulled.status_code == 200 and pulled.content == data
    assert not [p for p in (storage / "uploads").rglob("*") if p.is_file()]
    stop_gracefully(restarted)


def test_cancelled_upload_is_gone_and_its_location_answers_404(v2):
    name = unique("chunks/app")
    location = v2.start_upload(name).headers["Location"]
    assert v2.http.patch(location, content=b"x" * 10).status_code == 202
    assert v2.http.delete(location).status_code == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = v2.request(method, with_query(location, digest=sha256(b"x" * 10)), content=b"")
        assert response.status_code == 404, method
        assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


def test_upload_session_belongs_to_its_repository(v2):
    name, other = unique("chunks/app"), unique("chunks/other")
    v2.push_blob(other, b"make the other repository exist")
    location = v2.start_upload(name).headers["Location"]
    stolen = location.replace(f"/v2/{name}/", f"/v2/{other}/")
    response = v2.http.patch(stolen, content=b"abc")
    assert response.status_code == 404 and error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


# -- mounts --------------------------------------------------------------------------------------------------


def test_mount_without_from_links_a_blob_that_any_repository_holds(v2):
    source, target = unique("mount/source"), unique("mount/target")
    data = blob_bytes(2000, 9)
    digest = v2.push_blob(source, data)

    response = v2.http.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})

    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert v2.http.get(f"/v2/{target}/blobs/{digest}").content == data


@pytest.mark.parametrize(
    "source_kind", ["absent-digest", "repository-without-blob", "unknown-repository", "invalid-name"]
)
def test_mount_that_cannot_happen_opens_a_fresh_upload_session(v2, source_kind):
    source, target = unique("mount/source"), unique("mount/target")
    data = blob_bytes(500, 10)
    held = v2.push_blob(unique("mount/holder"), data)
    v2.push_blob(source, b"something else")
    mount, from_ = {
        "absent-digest": (sha256(b"never pushed"), source),
        "repository-without-blob": (held, source),
        "unknown-repository": (held, unique("mount/nobody")),
        "invalid-name": (held, "../" + source),
    }[source_kind]

    response = v2.http.post(f"/v2/{target}/blobs/uploads/", params={"mount": mount, "from": from_})

    assert response.status_code == 202
    assert v2.http.head(f"/v2/{target}/blobs/{mount}").status_code == 404
    done = v2.http.put(with_query(response.headers["Location"], digest=sha256(data)), content=data)
    assert done.status_code == 201
    assert v2.http.get(f"/v2/{target}/blobs/{sha256(data)}").content == data


# -- manifests and tags --------------------------------------------------------------------------------------


def test_manifest_put_by_digest_with_tag_params_creates_each_tag_and_answers_oci_tag(v2):
    name = unique("tags/app")
    image = build_image(seed=12, layers=1)
    for blob in image.blobs:
        v2.push_blob(name, blob)

    response = v2.http.put(
        f"/v2/{name}/manifests/{image.digest}?tag=a&tag=b&tag=1.0",
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )

    assert response.status_code == 201
    assert response.headers.get_list("OCI-Tag", split_commas=True) == ["a", "b", "1.0"]
    assert response.headers["Location"] == f"/v2/{name}/manifests/{image.digest}"
    for tag in ("a", "b", "1.0"):
        got = v2.get_manifest(name, tag)
        assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == image.digest
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["1.0", "a", "b"]


def test_manifest_put_with_an_invalid_tag_param_creates_nothing(v2):
    name = unique("tags/app")
    image = build_image(seed=13, layers=1)
    v2.push_image(name, image, "keep")
    other = build_image(seed=14, layers=1)
    for blob in other.blobs:
        v2.push_blob(name, blob)
    response = v2.http.put(
        f"/v2/{name}/manifests/{other.digest}?tag=good&tag=-bad",
        content=other.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 400 and error_codes(response) == ["TAG_INVALID"]
    assert v2.get_manifest(name, other.digest).status_code == 404
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["keep"]


def test_delete_by_tag_removes_only_that_tag(v2):
    name = unique("tags/app")
    digest = push_tags(v2, name, ["a", "b"])

    assert v2.http.delete(f"/v2/{name}/manifests/a").status_code == 202

    assert v2.get_manifest(name, "a").status_code == 404
    assert v2.get_manifest(name, "b").headers["Docker-Content-Digest"] == digest
    assert v2.get_manifest(name, digest).status_code == 200
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["b"]
    again = v2.http.delete(f"/v2/{name}/manifests/a")
    assert again.status_code == 404 and error_codes(again) == ["MANIFEST_UNKNOWN"]


@pytest.mark.parametrize("reference", [".INVALID_MANIFEST_NAME", "-lead", "a" * 129, "a+b"])
def test_a_reference_neither_tag_nor_digest_is_an_unknown_manifest_but_an_invalid_tag_to_push(v2, reference):
    """The OCI conformance suite's nonexistent-manifest cases: 404 MANIFEST_UNKNOWN on GET, HEAD and DELETE
    (distribution's router does not match such a reference); a PUT names a tag, so it is TAG_INVALID."""
    name = unique("edges/refs")
    image = build_image(seed=15, layers=1)
    v2.push_image(name, image, "keep")

    for method in ("GET", "DELETE"):
        response = v2.http.request(method, f"/v2/{name}/manifests/{reference}")
        assert response.status_code == 404 and error_codes(response) == ["MANIFEST_UNKNOWN"], method
    assert v2.http.head(f"/v2/{name}/manifests/{reference}").status_code == 404
    pushed = v2.put_manifest(name, reference, image.manifest, OCI_MANIFEST)
    assert pushed.status_code == 400 and error_codes(pushed) == ["TAG_INVALID"]
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["keep"]


def test_delete_by_digest_removes_the_manifest_with_its_tags_and_referrers_entry(v2):
    name = unique("tags/app")
    digest = push_tags(v2, name, ["a", "b"])
    image = build_image(seed=5, layers=1)
    referrer = build_artifact(b"sig", subject=image)
    for blob in referrer.blobs:
        v2.push_blob(name, blob)
    assert v2.put_manifest(name, referrer.digest, referrer.manifest, OCI_MANIFEST).status_code == 201
    assert len(v2.http.get(f"/v2/{name}/referrers/{digest}").json()["manifests"]) == 1

    assert v2.http.delete(f"/v2/{name}/manifests/{referrer.digest}").status_code == 202
    assert v2.http.get(f"/v2/{name}/referrers/{digest}").json()["manifests"] == []
    assert v2.http.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
    for reference in ("a", "b", digest):
        assert v2.get_manifest(name, reference).status_code == 404
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == []


def test_retagging_moves_the_tag_to_the_new_manifest(v2):
    name = unique("tags/app")
    first, second = build_image(seed=15, layers=1), build_image(seed=16, layers=1)
    v2.push_image(name, first, "latest")
    assert v2.get_manifest(name, "latest").headers["Docker-Content-Digest"] == first.digest
    v2.push_image(name, second, "latest")
    got = v2.get_manifest(name, "latest")
    assert got.headers["Docker-Content-Digest"] == second.digest and got.content == second.manifest
    assert v2.get_manifest(name, first.digest).status_code == 200


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_image_and_index_keep_their_media_types_and_exact_bytes(v2, docker):
    name = unique("types/app")
    amd64 = build_image(seed=17, layers=2, docker=docker)
    arm64 = build_image(seed=18, layers=1, docker=docker, architecture="arm64")
    index = build_index([amd64, arm64], [("linux", "amd64"), ("linux", "arm64")], docker=docker)

    v2.push_image(name, index, "multi")

    expected_index_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    expected_image_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    for reference, item, media_type in (
        ("multi", index, expected_index_type),
        (index.digest, index, expected_index_type),
        (amd64.digest, amd64, expected_image_type),
        (arm64.digest, arm64, expected_image_type),
    ):
        got = v2.get_manifest(name, reference)
        assert got.status_code == 200
        assert got.headers["Content-Type"] == media_type
        assert got.headers["Docker-Content-Digest"] == item.digest
        assert got.content == item.manifest
        head = v2.http.head(f"/v2/{name}/manifests/{reference}", headers={"Accept": media_type})
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(item.manifest))
        assert head.headers["Content-Type"] == media_type


def test_artifact_with_artifact_type_is_served_as_pushed(v2):
    name = unique("types/artifact")
    artifact = build_artifact(
        b'{"sbom": true}',
        artifact_type="application/vnd.example.sbom.v1+json",
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )
    v2.push_image(name, artifact, "sbom")
    got = v2.get_manifest(name, "sbom")
    assert got.headers["Content-Type"] == OCI_MANIFEST
    assert got.content == artifact.manifest
    assert got.json()["artifactType"] == "application/vnd.example.sbom.v1+json"


def test_content_type_is_the_stored_media_type_when_the_client_accepts_it(v2):
    name = unique("types/negotiation")
    image = build_image(seed=19, layers=1)
    for blob in image.blobs:
        v2.push_blob(name, blob)
    # parameters on Content-Type are ignored on push, and never sent back
    put = v2.put_manifest(name, "v1", image.manifest, OCI_MANIFEST + "; charset=utf-8")
    assert put.status_code == 201
    for accept in (OCI_MANIFEST, "*/*", f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5", None):
        headers = {"Accept": accept} if accept else {}
        got = v2.http.get(f"/v2/{name}/manifests/v1", headers=headers)
        assert got.status_code == 200
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.json()["mediaType"] == got.headers["Content-Type"]

    # a manifest without a mediaType field is served with the Content-Type it was pushed with
    bare = canonical_json({k: v for k, v in image.doc.items() if k != "mediaType"})
    assert v2.put_manifest(name, "bare", bare, OCI_MANIFEST).status_code == 201
    assert v2.get_manifest(name, "bare").headers["Content-Type"] == OCI_MANIFEST


def test_a_manifest_the_client_does_not_accept_is_refused_or_resolved_to_linux_amd64(v2):
    name = unique("types/negotiation")
    oci = build_image(seed=32, layers=1)
    v2.push_image(name, oci, "oci")
    refused = v2.get_manifest(name, "oci", accept=DOCKER_MANIFEST)
    assert refused.status_code == 404 and error_codes(refused) == ["MANIFEST_UNKNOWN"]

    amd64 = build_image(seed=33, layers=1, docker=True)
    arm64 = build_image(seed=34, layers=1, docker=True, architecture="arm64")
    listing = build_index([arm64, amd64], [("linux", "arm64"), ("linux", "amd64")], docker=True)
    v2.push_image(name, listing, "list")
    # a client that reads only Docker image manifests gets the linux/amd64 image of a manifest list
    resolved = v2.get_manifest(name, "list", accept=DOCKER_MANIFEST)
    assert resolved.status_code == 200
    assert resolved.headers["Content-Type"] == DOCKER_MANIFEST
    assert resolved.headers["Docker-Content-Digest"] == amd64.digest and resolved.content == amd64.manifest
    whole = v2.get_manifest(name, "list", accept=f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}")
    assert whole.headers["Docker-Content-Digest"] == listing.digest


def test_manifests_are_served_by_the_digest_of_their_exact_bytes(v2):
    name = unique("types/bytes")
    image = build_image(seed=20, layers=1)
    for blob in image.blobs:
        v2.push_blob(name, blob)
    pretty = b"{\n  " + image.manifest[1:-1].replace(b',"', b',\n  "') + b"\n}\n"
    response = v2.put_manifest(name, "pretty", pretty, OCI_MANIFEST)
    assert response.headers["Docker-Content-Digest"] == sha256(pretty) != image.digest
    assert v2.get_manifest(name, sha256(pretty)).content == pretty


# -- names and digests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["team/app/api", "a.b/c_d/e__f/g-h/i--j", "x"])
def test_nested_and_punctuated_repository_names_work_end_to_end(v2, shape):
    name = f"{v2.create_project(unique('nested'))}/{shape}"
    image = build_image(seed=23, layers=1)
    v2.push_image(name, image, "v1")
    assert v2.get_manifest(name, "v1").content == image.manifest
    assert v2.http.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["v1"]}
    assert v2.http.get(f"/v2/{name}/blobs/{sha256(image.blobs[1])}").content == image.blobs[1]
    assert name in v2.list_all("/v2/_catalog", "repositories")


def test_a_255_character_name_is_accepted(v2):
    prefix = v2.create_project(unique("long"))
    name = prefix + "/" + "/".join(["a" * 49] * 5)
    name = name[:255].rstrip("/")
    name += "b" * (255 - len(name))
    assert len(name) == 255
    image = build_image(seed=24, layers=1)
    v2.push_image(name, image, "v1")
    assert v2.get_manifest(name, "v1").status_code == 200
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["v1"]


def test_sha512_blobs_upload_chunked_and_monolithic_and_are_served_by_their_digest(v2):
    name = unique("digests/app")
    data = blob_bytes(4000, 25)
    digest = sha512(data)

    started = v2.start_upload(name, **{"digest-algorithm": "sha512"})
    assert started.status_code == 202
    patched = v2.http.patch(started.headers["Location"], content=data[:1500], headers={"Content-Range": "0-1499"})
    assert patched.status_code == 202
    done = v2.http.put(
        with_query(patched.headers["Location"], digest=digest),
        content=data[1500:],
        headers={"Content-Range": f"1500-{len(data) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    got = v2.http.get(f"/v2/{name}/blobs/{digest}")
    assert got.status_code == 200 and got.content == data and got.headers["Docker-Content-Digest"] == digest

    other = blob_bytes(100, 26)
    single = v2.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha512(other)}, content=other)
    assert single.status_code == 201 and single.headers["Docker-Content-Digest"] == sha512(other)
    assert v2.http.get(f"/v2/{name}/blobs/{sha512(other)}").content == other
    # the same bytes are not known under their sha256
    assert v2.http.head(f"/v2/{name}/blobs/{sha256(other)}").status_code == 404


def test_a_manifest_pushed_by_sha512_digest_is_served_by_that_reference(v2):
    name = unique("digests/app")
    layer = blob_bytes(300, 27)
    config = b"{}"
    v2.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha512(layer)}, content=layer).raise_for_status()
    v2.push_blob(name, config)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.empty.v1+json", config),
            "layers": [{"mediaType": "application/octet-stream", "digest": sha512(layer), "size": len(layer)}],
        }
    )
    digest = sha512(manifest)

    put = v2.put_manifest(name, digest, manifest, OCI_MANIFEST, tag="sha512")
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest

    got = v2.get_manifest(name, digest)
    assert got.status_code == 200 and got.content == manifest
    assert got.headers["Docker-Content-Digest"] == digest
    assert v2.get_manifest(name, "sha512").content == manifest
    assert v2.http.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
    assert v2.get_manifest(name, "sha512").status_code == 404


def test_base_endpoint_announces_the_api_version(v2):
    for path in ("/v2/", "/v2"):
        response = v2.http.get(path)
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    missing = v2.http.get(f"/v2/{unique('x')}/manifests/latest")
    assert missing.headers["Docker-Distribution-API-Version"] == "registry/2.0"


# -- edges ---------------------------------------------------------------------------------------------------


def test_the_empty_blob_pushes_every_way_and_serves_zero_bytes(v2):
    name = unique("edges/empty")
    empty = sha256(b"")
    single = v2.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": empty}, content=b"")
    assert single.status_code == 201
    location = v2.start_upload(name).headers["Location"]
    assert v2.http.put(with_query(location, digest=empty)).status_code == 201

    got = v2.http.get(f"/v2/{name}/blobs/{empty}")
    assert got.status_code == 200 and got.content == b"" and got.headers["Content-Length"] == "0"
    head = v2.http.head(f"/v2/{name}/blobs/{empty}")
    assert head.status_code == 200 and head.headers["Content-Length"] == "0"
    assert head.headers["Docker-Content-Digest"] == empty
    ranged = v2.http.get(f"/v2/{name}/blobs/{empty}", headers={"Range": "bytes=0-"})
    assert ranged.status_code == 416 and ranged.headers["Content-Range"] == "bytes */0"


def test_manifests_and_blobs_are_visible_only_in_their_own_repository(v2):
    name, other = unique("edges/one"), unique("edges/two")
    image = build_image(seed=28, layers=1)
    v2.push_image(name, image, "v1")
    v2.push_blob(other, b"other exists")
    assert v2.get_manifest(other, image.digest).status_code == 404
    assert v2.get_manifest(other, "v1").status_code == 404
    assert v2.http.head(f"/v2/{other}/blobs/{sha256(image.blobs[1])}").status_code == 404
    assert v2.http.delete(f"/v2/{other}/manifests/{image.digest}").status_code == 404
    assert v2.get_manifest(name, image.digest).status_code == 200


def test_referrers_descriptors_follow_the_spec_for_each_kind_of_referrer(v2):
    name = unique("edges/referrers")
    image = build_image(seed=29, layers=1)
    v2.push_image(name, image, "v1")
    # an image manifest without artifactType: its config media type stands in
    plain = build_artifact(
        b"plain", artifact_type=None, config_media_type="application/vnd.example.config+json", subject=image
    )
    # an index without artifactType: no artifactType at all
    child = build_artifact(b"child")
    for item in (plain, child):
        for blob in item.blobs:
            v2.push_blob(name, blob)
        assert v2.put_manifest(name, item.digest, item.manifest, OCI_MANIFEST).status_code == 201
    index_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [child.descriptor()],
        "subject": image.descriptor(),
        "annotations": {"kind": "index"},
    }
    index = canonical_json(index_doc)
    put = v2.put_manifest(name, sha256(index), index, OCI_INDEX)
    assert put.status_code == 201 and put.headers["OCI-Subject"] == image.digest

    listing = v2.http.get(f"/v2/{name}/referrers/{image.digest}").json()["manifests"]
    by_digest = {d["digest"]: d for d in listing}
    assert by_digest == {
        plain.digest: plain.descriptor(artifactType="application/vnd.example.config+json"),
        sha256(index): {
            "mediaType": OCI_INDEX,
            "digest": sha256(index),
            "size": len(index),
            "annotations": {"kind": "index"},
        },
    }
    filtered = v2.http.get(
        f"/v2/{name}/referrers/{image.digest}", params={"artifactType": "application/vnd.example.config+json"}
    )
    assert [d["digest"] for d in filtered.json()["manifests"]] == [plain.digest]
    # referrers are per repository; a registry with the referrers API never answers it with 404
    elsewhere = v2.http.get(f"/v2/{unique('edges/none')}/referrers/{image.digest}")
    assert elsewhere.status_code == 200 and elsewhere.json()["manifests"] == []


def push_referrers(v2, name: str, subject, count: int, artifact_type) -> list[str]:
    """`count` small artifacts whose subject is `subject` (`artifact_type(i)` each), by digest; their digests."""
    v2.push_blob(name, EMPTY_JSON)

    def push(i: int) -> str:
        doc = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type(i),
            "config": descriptor(OCI_EMPTY, EMPTY_JSON), "layers": [descriptor(OCI_EMPTY, EMPTY_JSON)],
            "subject": subject.descriptor(), "annotations": {"i": str(i)},
        }
        body = canonical_json(doc)
        response = v2.put_manifest(name, sha256(body), body, OCI_MANIFEST)
        assert response.status_code == 201, response.text
        return sha256(body)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(push, range(count)))


def walk_referrers(v2, url: str, **params) -> tuple[list[dict], list[httpx.Response]]:
    """Follow the Link headers from `url` to the end: every descriptor listed, and each page's response."""
    descriptors, responses = [], []
    response = v2.http.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == OCI_INDEX
        body = response.json()
        assert body["schemaVersion"] == 2 and body["mediaType"] == OCI_INDEX
        descriptors += body["manifests"]
        responses.append(response)
        link = next_link(response)
        if link is None:
            return descriptors, responses
        response = v2.http.get(link)


def test_referrers_page_with_n_and_link_and_without_n_stop_at_the_page_limit(v2):
    name = unique("edges/many-referrers")
    image = build_image(seed=30, layers=1)
    v2.push_image(name, image, "v1")
    kinds = ("application/vnd.example.sig", "application/vnd.example.sbom", "application/vnd.example.vex")
    digests = push_referrers(v2, name, image, 1_030, lambda i: kinds[i % 3])
    url = f"/v2/{name}/referrers/{image.digest}"

    # without n: pages of 1,000 (the documented limit), then the rest
    listed, pages = walk_referrers(v2, url)
    assert [len(p.json()["manifests"]) for p in pages] == [1_000, 30]
    assert sorted(d["digest"] for d in listed) == sorted(digests)  # each once: none lost, none twice
    assert "Link" not in pages[-1].headers
    assert all(d["artifactType"] in kinds and d["size"] > 0 for d in listed)

    # with n: pages of n, n kept in the Link, Link absent on the last page
    listed, pages = walk_referrers(v2, url, n=400)
    assert [len(p.json()["manifests"]) for p in pages] == [400, 400, 230]
    assert "n=400" in next_link(pages[0]) and "Link" not in pages[-1].headers
    assert len({d["digest"] for d in listed}) == len(listed) == 1_030

    # n above the limit is cut to the limit; n=0 lists nothing and links nowhere
    assert len(v2.http.get(url, params={"n": 5_000}).json()["manifests"]) == 1_000
    empty = v2.http.get(url, params={"n": 0})
    assert empty.json()["manifests"] == [] and "Link" not in empty.headers
    assert error_codes(v2.http.get(url, params={"n": "x"})) == ["PAGINATION_NUMBER_INVALID"]

    # artifactType filtering pages too, and its Link keeps the filter
    listed, pages = walk_referrers(v2, url, n=100, artifactType=kinds[1])
    expected = [d for i, d in enumerate(digests) if i % 3 == 1]
    assert sorted(d["digest"] for d in listed) == sorted(expected) and len(listed) == len(set(map(str, listed)))
    assert {d["artifactType"] for d in listed} == {kinds[1]}
    assert len(pages) == 4 and all(p.headers["OCI-Filters-Applied"] == "artifactType" for p in pages)
    assert "artifactType=application%2Fvnd.example.sbom" in next_link(pages[0])


def test_concurrent_pushes_of_the_same_image_all_succeed(berth):
    name = unique("edges/race")
    image = build_image(seed=30, layers=3)

    def push(_: int) -> str:
        with V2(berth.url, auth=berth.auth) as client:
            return client.push_image(name, image, "latest").headers["Docker-Content-Digest"]

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(push, range(8)))

    assert digests == [image.digest] * 8
    with V2(berth.url, auth=berth.auth) as client:
        assert client.get_manifest(name, "latest").content == image.manifest
        assert client.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["latest"]
