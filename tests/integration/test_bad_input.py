"""Bad requests get the spec's status and error code, and leave berth's store exactly as it was.

"The store" is the data folder's files (no stray upload parts, temp files or
blobs) and the row count of every SQL table, snapshotted around each request.
The server is one SQLite berth of this module's own, so nothing else writes
to it between snapshots.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server, start_berth

from .helpers import (
    DOCKER_SCHEMA1,
    OCI_INDEX,
    OCI_MANIFEST,
    V2,
    Image,
    StoreSnapshot,
    assert_store_unchanged,
    build_image,
    build_index,
    canonical_json,
    descriptor,
    error_codes,
    sha256,
    snapshot_store,
    with_query,
)

BASE = "library/base"
MD5 = "md5:" + "0" * 32


@dataclass
class Store:
    server: Server
    v2: V2
    image: Image

    def snapshot(self) -> StoreSnapshot:
        return snapshot_store(self.server.data_dir)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Store]:
    """A berth of this module's own with one image in library/base (so bad requests meet an existing repository)."""
    server = start_berth(tmp_path_factory.mktemp("bad-input") / "data")
    image = build_image(seed=60, layers=2)
    with V2(server.url, auth=server.auth) as client:
        client.push_image(BASE, image, "v1")
        yield Store(server, client, image)
    server.stop()


@pytest.fixture
def unchanged(store) -> Iterator[None]:
    """Asserts, after the test, that the store is what it was before it."""
    before = store.snapshot()
    yield
    assert_store_unchanged(before, store.snapshot())


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert error_codes(response) == [code]


# -- manifests -----------------------------------------------------------------------------------------------


def manifest_with(store: Store, **changes: object) -> bytes:
    doc = store.image.doc
    doc.update(changes)
    return canonical_json(doc)


def _schema1() -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": BASE,
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(b"x")}],
            "history": [{"v1Compatibility": "{}"}],
            "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "e30"}],
        }
    ).encode()


BAD_MANIFESTS = {
    "truncated-json": (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",',
        OCI_MANIFEST,
    ),
    "not-json": (b"\x00\xffnot json", OCI_MANIFEST),
    "json-array": (b"[1, 2, 3]", OCI_MANIFEST),
    "schema1-signed": (_schema1(), DOCKER_SCHEMA1),
    "schema1-as-json": (_schema1(), "application/json"),
    "schema-version-3": (b'{"schemaVersion":3,"mediaType":"application/vnd.oci.image.manifest.v1+json"}', OCI_MANIFEST),
    "unknown-media-type": (b'{"schemaVersion":2,"mediaType":"text/plain"}', "text/plain"),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_invalid_manifest_is_manifest_invalid(store, unchanged, case):
    body, content_type = BAD_MANIFESTS[case]
    expect(store.v2.put_manifest(BASE, "bad", body, content_type), 400, "MANIFEST_INVALID")
    assert store.v2.get_manifest(BASE, "bad").status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        "no-config",
        "layers-not-a-list",
        "layer-without-digest",
        "layer-with-bad-digest",
        "negative-size",
        "content-type-mismatch",
        "annotations-not-strings",
        "index-without-manifests",
    ],
)
def test_structurally_wrong_manifest_is_manifest_invalid(store, unchanged, change):
    doc = store.image.doc
    content_type = OCI_MANIFEST
    if change == "no-config":
        del doc["config"]
        doc["mediaType"] = OCI_MANIFEST
    elif change == "layers-not-a-list":
        doc["layers"] = {"0": doc["layers"][0]}
    elif change == "layer-without-digest":
        del doc["layers"][0]["digest"]
    elif change == "layer-with-bad-digest":
        doc["layers"][0]["digest"] = "sha256:xyz"
    elif change == "negative-size":
        doc["layers"][0]["size"] = -1
    elif change == "content-type-mismatch":
        content_type = OCI_INDEX
    elif change == "annotations-not-strings":
        doc["annotations"] = {"n": 1}
    elif change == "index-without-manifests":
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX}
        content_type = OCI_INDEX
    expect(store.v2.put_manifest(BASE, "bad", canonical_json(doc), content_type), 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_manifest_over_4_mib_is_refused_with_413(store, unchanged, framing):
    padding = "x" * (4 * 1024 * 1024)
    body = manifest_with(store, annotations={"padding": padding})
    assert len(body) > 4 * 1024 * 1024
    content = body if framing == "content-length" else iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    response = store.v2.http.put(f"/v2/{BASE}/manifests/huge", content=content, headers={"Content-Type": OCI_MANIFEST})
    expect(response, 413, "SIZE_INVALID")


def test_manifest_of_exactly_4_mib_is_accepted(store):
    body = manifest_with(store, annotations={"padding": ""})
    body = manifest_with(store, annotations={"padding": "x" * (4 * 1024 * 1024 - len(body))})
    assert len(body) == 4 * 1024 * 1024
    response = store.v2.put_manifest(BASE, "big", body, OCI_MANIFEST)
    assert response.status_code == 201
    assert store.v2.get_manifest(BASE, "big").content == body
    assert store.v2.http.delete(f"/v2/{BASE}/manifests/{sha256(body)}").status_code == 202


def test_manifest_pushed_under_a_digest_it_does_not_have_is_digest_invalid(store, unchanged):
    body = store.image.manifest
    expect(store.v2.put_manifest(BASE, sha256(body + b" "), body, OCI_MANIFEST), 400, "DIGEST_INVALID")


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("sha256:abc", "DIGEST_INVALID"),
        ("sha256:" + "A" * 64, "DIGEST_INVALID"),
        ("sha256:" + "0" * 63, "DIGEST_INVALID"),
        ("sha256:", "DIGEST_INVALID"),
        (MD5, "UNSUPPORTED"),
    ],
)
def test_manifest_reference_with_a_bad_digest_is_refused(store, unchanged, reference, code):
    expect(store.v2.put_manifest(BASE, reference, store.image.manifest, OCI_MANIFEST), 400, code)
    expect(store.v2.get_manifest(BASE, reference), 400, code)
    expect(store.v2.http.delete(f"/v2/{BASE}/manifests/{reference}"), 400, code)


@pytest.mark.parametrize("tag", ["-leading-dash", ".dot", "x" * 129, "a+b"])
def test_invalid_tag_is_tag_invalid(store, unchanged, tag):
    expect(store.v2.put_manifest(BASE, tag, store.image.manifest, OCI_MANIFEST), 400, "TAG_INVALID")


def test_manifest_naming_absent_blobs_is_manifest_blob_unknown(store, unchanged):
    layers = store.image.doc["layers"] + [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"absent")]
    expect(
        store.v2.put_manifest(BASE, "missing", manifest_with(store, layers=layers), OCI_MANIFEST),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )
    config = descriptor("application/vnd.oci.image.config.v1+json", b"absent config")
    expect(
        store.v2.put_manifest(BASE, "missing", manifest_with(store, config=config), OCI_MANIFEST),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )


def test_manifest_naming_blobs_of_another_repository_is_manifest_blob_unknown(store, unchanged):
    expect(
        store.v2.put_manifest("library/elsewhere", "v1", store.image.manifest, OCI_MANIFEST),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )


def test_index_naming_absent_children_is_manifest_blob_unknown(store, unchanged):
    absent = build_image(seed=61, layers=1)
    index = build_index([store.image, absent], [("linux", "amd64"), ("linux", "arm64")])
    expect(store.v2.put_manifest(BASE, "index", index.manifest, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


def test_referrer_naming_an_absent_subject_is_accepted_but_absent_blobs_are_not(store, unchanged):
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/x",
        "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
        "layers": [descriptor("application/octet-stream", b"absent payload")],
        "subject": descriptor(OCI_MANIFEST, b"absent subject"),
    }
    expect(store.v2.put_manifest(BASE, "referrer", canonical_json(doc), OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")


# -- blob uploads --------------------------------------------------------------------------------------------


def test_monolithic_upload_with_the_wrong_digest_is_digest_invalid(store, unchanged):
    response = store.v2.http.post(
        f"/v2/{BASE}/blobs/uploads/", params={"digest": sha256(b"other")}, content=b"x" * 5000
    )
    expect(response, 400, "DIGEST_INVALID")
    assert store.v2.http.head(f"/v2/{BASE}/blobs/{sha256(b'x' * 5000)}").status_code == 404


@pytest.mark.parametrize(
    ("digest", "code"),
    [
        ("sha256:zz", "DIGEST_INVALID"),
        ("nonsense", "DIGEST_INVALID"),
        (MD5, "UNSUPPORTED"),
        ("sha256:" + "0" * 65, "DIGEST_INVALID"),
    ],
)
def test_monolithic_upload_with_a_bad_digest_parameter_is_refused(store, unchanged, digest, code):
    expect(store.v2.http.post(f"/v2/{BASE}/blobs/uploads/", params={"digest": digest}, content=b"data"), 400, code)
    expect(store.v2.http.post(f"/v2/{BASE}/blobs/uploads/", params={"mount": digest, "from": BASE}), 400, code)
    expect(store.v2.http.get(f"/v2/{BASE}/blobs/{digest}"), 400, code)


def test_upload_with_an_unsupported_digest_algorithm_is_unsupported(store, unchanged):
    expect(store.v2.start_upload(BASE, **{"digest-algorithm": "md5"}), 400, "UNSUPPORTED")


def test_closing_put_with_the_wrong_digest_is_digest_invalid_and_ends_the_session(store, unchanged):
    location = store.v2.start_upload(BASE).headers["Location"]
    assert store.v2.http.patch(location, content=b"a" * 1000, headers={"Content-Range": "0-999"}).status_code == 202
    expect(store.v2.http.put(with_query(location, digest=sha256(b"b" * 1000))), 400, "DIGEST_INVALID")
    expect(store.v2.http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


class TestWithinAnOpenUpload:
    """A bad request inside an open session leaves the session as it was (snapshot taken once it is open)."""

    @pytest.fixture
    def session(self, store) -> Iterator[str]:
        location = store.v2.start_upload(BASE).headers["Location"]
        first = store.v2.http.patch(location, content=b"a" * 100, headers={"Content-Range": "0-99"})
        assert first.status_code == 202
        yield first.headers["Location"]
        assert store.v2.http.delete(location).status_code == 204

    @pytest.fixture
    def unchanged_session(self, store, session) -> Iterator[str]:
        before = store.snapshot()
        yield session
        assert_store_unchanged(before, store.snapshot())
        status = store.v2.http.get(session)
        assert status.status_code == 204 and status.headers["Range"] == "0-99"

    def test_content_length_that_disagrees_with_content_range_is_size_invalid(self, store, unchanged_session):
        response = store.v2.http.patch(unchanged_session, content=b"b" * 50, headers={"Content-Range": "100-199"})
        expect(response, 400, "SIZE_INVALID")
        closing = store.v2.http.put(
            with_query(unchanged_session, digest=sha256(b"a" * 100 + b"b" * 50)),
            content=b"b" * 50,
            headers={"Content-Range": "100-199"},
        )
        expect(closing, 400, "SIZE_INVALID")

    @pytest.mark.parametrize("content_range", ["200-299", "0-99", "50-149", "101-200"])
    def test_out_of_order_chunk_is_416(self, store, unchanged_session, content_range):
        first, last = (int(x) for x in content_range.split("-"))
        response = store.v2.http.patch(
            unchanged_session, content=b"c" * (last - first + 1), headers={"Content-Range": content_range}
        )
        assert response.status_code == 416

    def test_out_of_order_final_chunk_on_the_closing_put_is_416(self, store, unchanged_session):
        response = store.v2.http.put(
            with_query(unchanged_session, digest=sha256(b"a" * 100 + b"c" * 100)),
            content=b"c" * 100,
            headers={"Content-Range": "150-249"},
        )
        assert response.status_code == 416

    @pytest.mark.parametrize("content_range", ["bytes=abc", "9-0", "-5", "1-2-3"])
    def test_malformed_content_range_is_refused(self, store, unchanged_session, content_range):
        response = store.v2.http.patch(unchanged_session, content=b"d", headers={"Content-Range": content_range})
        expect(response, 416, "RANGE_INVALID")

    def test_closing_put_without_a_digest_is_digest_invalid_and_keeps_the_session(self, store, unchanged_session):
        expect(store.v2.http.put(unchanged_session), 400, "DIGEST_INVALID")
        expect(store.v2.http.put(with_query(unchanged_session, digest="sha256:short")), 400, "DIGEST_INVALID")

    def test_another_repository_cannot_touch_the_session(self, store, unchanged_session):
        stolen = unchanged_session.replace(f"/v2/{BASE}/", "/v2/library/elsewhere/")
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            response = store.v2.request(method, with_query(stolen, digest=sha256(b"a" * 100)), content=b"")
            assert response.status_code == 404, method
            assert error_codes(response)[0] in ("BLOB_UPLOAD_UNKNOWN", "NAME_UNKNOWN")


@pytest.mark.parametrize("upload_id", ["0b7e2c4e-4f9a-4c36-9d1e-a8f7c2f0e0aa", "not-a-uuid", "%2E%2E", "x" * 300])
@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_upload_id_is_blob_upload_unknown(store, unchanged, upload_id, method):
    url = f"/v2/{BASE}/blobs/uploads/{upload_id}?digest={sha256(b'q')}"
    response = store.v2.request(method, url, content=b"q")
    expect(response, 404, "BLOB_UPLOAD_UNKNOWN")


# -- names ---------------------------------------------------------------------------------------------------

INVALID_NAMES = {
    "dot-dot": "%2E%2E/x",
    "dot-dot-inside": "a/%2E%2E/%2E%2E/b",
    "dot": "a/%2E/b",
    "uppercase": "Library/App",
    "too-long": "a" * 256,
    "too-long-nested": "/".join(["a" * 50] * 5) + "/abcde",
    "empty-component": "a//b",
    "leading-separator": "-a/b",
    "trailing-separator": "a_/b",
    "triple-underscore": "a___b",
    "space": "a%20b",
}


@pytest.mark.parametrize("case", list(INVALID_NAMES))
def test_invalid_repository_name_is_name_invalid_everywhere(store, unchanged, case):
    name = INVALID_NAMES[case]
    image = store.image
    requests = [
        ("GET", f"/v2/{name}/tags/list", b""),
        ("GET", f"/v2/{name}/manifests/v1", b""),
        ("HEAD", f"/v2/{name}/manifests/v1", b""),
        ("PUT", f"/v2/{name}/manifests/v1", image.manifest),
        ("DELETE", f"/v2/{name}/manifests/v1", b""),
        ("GET", f"/v2/{name}/blobs/{sha256(image.blobs[0])}", b""),
        ("DELETE", f"/v2/{name}/blobs/{sha256(image.blobs[0])}", b""),
        ("POST", f"/v2/{name}/blobs/uploads/", b""),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(b'z')}", b"z"),
        ("POST", f"/v2/{name}/blobs/uploads/?mount={sha256(image.blobs[0])}&from={BASE}", b""),
        ("GET", f"/v2/{name}/referrers/{image.digest}", b""),
    ]
    for method, url, body in requests:
        response = store.v2.request(method, url, content=body, headers={"Content-Type": OCI_MANIFEST})
        assert response.status_code == 400, (method, url, response.status_code)
        if method != "HEAD":
            assert error_codes(response) == ["NAME_INVALID"], (method, url)


def test_mount_from_an_invalid_name_never_reads_outside_the_repository(store):
    before = store.snapshot()
    response = store.v2.http.post(
        "/v2/library/target/blobs/uploads/", params={"mount": sha256(store.image.blobs[0]), "from": "../" + BASE}
    )
    assert response.status_code == 202  # an upload session instead of a mount
    assert store.v2.http.head(f"/v2/library/target/blobs/{sha256(store.image.blobs[0])}").status_code == 404
    assert store.v2.http.delete(response.headers["Location"]).status_code == 204
    after = store.snapshot()
    assert {k: v for k, v in after.rows.items() if k != "repositories"} == {
        k: v for k, v in before.rows.items() if k != "repositories"
    }


# -- unknown things ------------------------------------------------------------------------------------------


def test_unknown_blob_and_manifest_are_404_with_their_codes(store, unchanged):
    expect(store.v2.http.get(f"/v2/{BASE}/blobs/{sha256(b'unknown')}"), 404, "BLOB_UNKNOWN")
    assert store.v2.http.head(f"/v2/{BASE}/blobs/{sha256(b'unknown')}").status_code == 404
    expect(store.v2.http.delete(f"/v2/{BASE}/blobs/{sha256(b'unknown')}"), 404, "BLOB_UNKNOWN")
    expect(store.v2.get_manifest(BASE, "unknown"), 404, "MANIFEST_UNKNOWN")
    expect(store.v2.get_manifest(BASE, sha256(b"unknown")), 404, "MANIFEST_UNKNOWN")
    assert store.v2.http.head(f"/v2/{BASE}/manifests/unknown").status_code == 404
    expect(store.v2.http.delete(f"/v2/{BASE}/manifests/{sha256(b'unknown')}"), 404, "MANIFEST_UNKNOWN")
    expect(store.v2.http.delete(f"/v2/{BASE}/manifests/unknown"), 404, "MANIFEST_UNKNOWN")


def test_unknown_repository_is_404(store, unchanged):
    expect(store.v2.http.get("/v2/library/nobody/tags/list"), 404, "NAME_UNKNOWN")
    assert store.v2.get_manifest("library/nobody", "v1").status_code == 404
    assert store.v2.http.get(f"/v2/library/nobody/blobs/{sha256(store.image.blobs[0])}").status_code == 404
    assert store.v2.http.delete(f"/v2/library/nobody/manifests/{store.image.digest}").status_code == 404


def test_a_rejected_push_does_not_create_its_repository(store, unchanged):
    expect(
        store.v2.put_manifest("library/brand-new", "v1", store.image.manifest, OCI_MANIFEST),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )
    expect(store.v2.put_manifest("library/brand-new", "v1", b"{", OCI_MANIFEST), 400, "MANIFEST_INVALID")
    wrong = store.v2.http.post("/v2/library/brand-new/blobs/uploads/", params={"digest": sha256(b"a")}, content=b"b")
    expect(wrong, 400, "DIGEST_INVALID")
    assert "library/brand-new" not in store.v2.list_all("/v2/_catalog", "repositories")


def test_unsupported_methods_are_405(store, unchanged):
    response = store.v2.http.post(f"/v2/{BASE}/manifests/v1", content=store.image.manifest)
    assert response.status_code == 405
    assert "PUT" in response.headers["Allow"]
    assert store.v2.http.put(f"/v2/{BASE}/tags/list").status_code == 405


# -- interrupted requests ------------------------------------------------------------------------------------


def send_cut_off(server: Server, method: str, path: str, headers: dict[str, str], declared: int, sent: bytes) -> None:
    """Send a request that promises `declared` body bytes, send only `sent`, then hang up."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", f"Content-Length: {declared}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
        time.sleep(0.3)  # let the server start streaming the body to storage


def eventually_unchanged(store: Store, before: StoreSnapshot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert_store_unchanged(before, store.snapshot())
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_patch_cut_off_mid_body_leaves_the_upload_as_it_was(store):
    data = random.Random(70).randbytes(3 * 1024 * 1024)
    location = store.v2.start_upload(BASE).headers["Location"]
    first = store.v2.http.patch(
        location, content=data[: 1024 * 1024], headers={"Content-Range": f"0-{1024 * 1024 - 1}"}
    )
    assert first.status_code == 202
    before = store.snapshot()

    send_cut_off(
        store.server,
        "PATCH",
        location,
        {"Content-Range": f"{1024 * 1024}-{3 * 1024 * 1024 - 1}"},
        2 * 1024 * 1024,
        data[1024 * 1024 : 2 * 1024 * 1024],
    )

    eventually_unchanged(store, before)
    status = store.v2.http.get(location)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{1024 * 1024 - 1}"
    # the session goes on from where it was, and its digest is still right
    done = store.v2.http.put(
        with_query(location, digest=sha256(data)),
        content=data[1024 * 1024 :],
        headers={"Content-Range": f"{1024 * 1024}-{len(data) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert store.v2.http.get(f"/v2/{BASE}/blobs/{sha256(data)}").content == data
    assert store.v2.http.delete(f"/v2/{BASE}/blobs/{sha256(data)}").status_code == 202


def test_a_monolithic_push_cut_off_mid_body_stores_nothing(store):
    data = random.Random(71).randbytes(2 * 1024 * 1024)
    before = store.snapshot()
    send_cut_off(
        store.server, "POST", f"/v2/{BASE}/blobs/uploads/?digest={sha256(data)}", {}, len(data), data[: len(data) // 2]
    )
    eventually_unchanged(store, before)
    assert store.v2.http.head(f"/v2/{BASE}/blobs/{sha256(data)}").status_code == 404


def test_an_upload_goes_on_after_refused_chunks_with_the_right_digest(store):
    data = random.Random(72).randbytes(3000)
    location = store.v2.start_upload(BASE).headers["Location"]
    assert store.v2.http.patch(location, content=data[:1000], headers={"Content-Range": "0-999"}).status_code == 202
    refused = [
        store.v2.http.patch(location, content=data[1000:1500], headers={"Content-Range": "1000-1999"}),
        store.v2.http.patch(location, content=data[2000:], headers={"Content-Range": "2000-2999"}),
        store.v2.http.patch(location, content=data[:1000], headers={"Content-Range": "0-999"}),
    ]
    assert [r.status_code for r in refused] == [400, 416, 416]
    assert (
        store.v2.http.patch(location, content=data[1000:2000], headers={"Content-Range": "1000-1999"}).status_code
        == 202
    )
    done = store.v2.http.put(
        with_query(location, digest=sha256(data)), content=data[2000:], headers={"Content-Range": "2000-2999"}
    )
    assert done.status_code == 201, done.text
    assert store.v2.http.get(f"/v2/{BASE}/blobs/{sha256(data)}").content == data
    assert store.v2.http.delete(f"/v2/{BASE}/blobs/{sha256(data)}").status_code == 202
    # the blob's bytes stay until garbage collection; only its link is gone
    assert store.v2.http.head(f"/v2/{BASE}/blobs/{sha256(data)}").status_code == 404
