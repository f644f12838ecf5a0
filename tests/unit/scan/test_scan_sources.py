"""Blob sources: a real registry over HTTP (the docker-registry peer), registry auth and redirects on
the wire, and berth's own storage through its async driver."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from berth.db.models import Manifest, Repository
from berth.db.session import Database, run_migrations
from berth.references import parse_digest
from berth.scan.image import inventory
from berth.scan.sources import (
    BlobMissing,
    DigestMismatch,
    ManifestNotFound,
    OCILayoutSource,
    RegistryAuthError,
    RegistrySource,
    StorageSource,
    database_manifests,
)
from berth.storage.filesystem import FilesystemDriver
from berth.storage.paths import blob_path
from tests.scanimages import OCI_INDEX, OCI_MANIFEST, Layout, gzip_layer, sha256, tar_of

DEBIAN = 'ID=debian\nVERSION_ID="12"\n'
STATUS = "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n"


def two_platform_layout(root: Path) -> tuple[Layout, dict, dict]:
    layout = Layout(root)
    amd64 = layout.image([gzip_layer(tar_of({"etc/os-release": DEBIAN, "var/lib/dpkg/status": STATUS}))])
    arm64 = layout.image([gzip_layer(tar_of({"etc/os-release": DEBIAN}))], architecture="arm64")
    index = layout.index([(amd64, "linux/amd64"), (arm64, "linux/arm64")])
    layout.tag(index, "v1")
    return layout, index, amd64


def push(registry: str, repository: str, layout: Layout, manifests: list[tuple[dict, str]]) -> None:
    """Every blob of the layout, then the manifests (children before the index) by tag or digest."""
    with httpx.Client(base_url=registry) as client:
        manifest_digests = {descriptor["digest"] for descriptor, _ in manifests}
        for digest, data in layout.blobs.items():
            if digest in manifest_digests:
                continue
            started = client.post(f"/v2/{repository}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["location"]
            done = client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=data)
            assert done.status_code == 201, done.text
        for descriptor, reference in manifests:
            answer = client.put(
                f"/v2/{repository}/manifests/{reference}",
                content=layout.blobs[descriptor["digest"]],
                headers={"Content-Type": descriptor["mediaType"]},
            )
            assert answer.status_code == 201, answer.text


def test_registry_source_reads_an_index_from_a_real_registry(peer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout, index, amd64 = two_platform_layout(tmp_path)
    arm64 = next(
        d for d in json.loads(layout.blobs[index["digest"]])["manifests"] if d["platform"]["architecture"] == "arm64"
    )
    push(peer.url, "scan/multi", layout, [(amd64, amd64["digest"]), (arm64, arm64["digest"]), (index, "v1")])

    with RegistrySource(peer.url, "scan/multi") as source:
        media_type, data = source.manifest("v1")
        assert media_type == OCI_INDEX and sha256(data) == index["digest"]
        result = inventory(source, "v1")
        with pytest.raises(ManifestNotFound):
            source.manifest("nope")
        with pytest.raises(BlobMissing):
            source.open_blob(sha256(b"never pushed"))
    assert result.manifest_digest == amd64["digest"]
    assert [(p.name, p.ecosystem) for p in result.packages] == [("tzdata", "Debian:12")]
    assert result.skipped == []


# The auth dance and redirects, against a registry and a blob store spoken to over httpx's transport


BLOB = b"layer bytes"
BLOB_DIGEST = sha256(BLOB)
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()


class WireRegistry:
    """A registry that wants a Bearer token from its realm (given Basic alice:secret) and redirects
    blob GETs to `blob_host`; it records what every request carried."""

    def __init__(self, blob_host: str = "storage.example") -> None:
        self.blob_host = blob_host
        self.seen: list[tuple[str, str | None]] = []
        self.blob_body = BLOB

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        self.seen.append((str(request.url), auth))
        if request.url.host == "auth.example":
            if auth != "Basic " + base64.b64encode(b"alice:secret").decode():
                return httpx.Response(401)
            assert request.url.params["scope"] == "repository:team/app:pull"
            assert request.url.params["service"] == "registry.example"
            return httpx.Response(200, json={"token": "T0KEN"})
        if request.url.host == self.blob_host and request.url.path.startswith("/bucket/"):
            return httpx.Response(200, content=self.blob_body)
        if auth != "Bearer T0KEN":
            challenge = (
                'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if request.url.path.endswith("/manifests/v1"):
            assert OCI_INDEX in request.headers["accept"] and OCI_MANIFEST in request.headers["accept"]
            return httpx.Response(200, content=MANIFEST, headers={"Content-Type": OCI_MANIFEST})
        if request.url.path == f"/v2/team/app/blobs/{BLOB_DIGEST}":
            return httpx.Response(307, headers={"Location": f"https://{self.blob_host}/bucket/object?sig=1"})
        return httpx.Response(404)


def wire_source(registry: WireRegistry, **credentials: str) -> RegistrySource:
    client = httpx.Client(transport=httpx.MockTransport(registry))
    return RegistrySource("https://registry.example", "team/app", client=client, **credentials)


def test_bearer_token_dance_with_basic_credentials() -> None:
    registry = WireRegistry()
    source = wire_source(registry, username="alice", password="secret")
    assert source.manifest("v1") == (OCI_MANIFEST, MANIFEST)
    assert [url.split("?")[0] for url, _ in registry.seen] == [
        "https://registry.example/v2/team/app/manifests/v1",
        "https://auth.example/token",
        "https://registry.example/v2/team/app/manifests/v1",
    ]
    source.manifest("v1")  # the token is kept
    assert len(registry.seen) == 4


def test_harbor_style_authorization_value_is_used_for_the_token() -> None:
    registry = WireRegistry()
    source = wire_source(registry, authorization="Basic " + base64.b64encode(b"alice:secret").decode())
    assert source.manifest("v1")[1] == MANIFEST


def test_refused_credentials_are_an_auth_error() -> None:
    with pytest.raises(RegistryAuthError):
        wire_source(WireRegistry(), username="alice", password="wrong").manifest("v1")


def test_blob_redirect_to_another_host_drops_authorization() -> None:
    registry = WireRegistry()
    source = wire_source(registry, username="alice", password="secret")
    with source.open_blob(BLOB_DIGEST) as blob:
        assert blob.read() == BLOB
    storage_requests = [auth for url, auth in registry.seen if url.startswith("https://storage.example/")]
    assert storage_requests == [None]
    assert ("https://registry.example/v2/team/app/blobs/" + BLOB_DIGEST, "Bearer T0KEN") in registry.seen


def test_blob_redirect_on_the_same_host_keeps_authorization() -> None:
    registry = WireRegistry(blob_host="registry.example")
    source = wire_source(registry, username="alice", password="secret")
    with source.open_blob(BLOB_DIGEST) as blob:
        assert blob.read() == BLOB
    assert registry.seen[-1] == ("https://registry.example/bucket/object?sig=1", "Bearer T0KEN")


def test_blob_that_does_not_match_its_digest() -> None:
    registry = WireRegistry()
    registry.blob_body = b"other bytes"
    with wire_source(registry, username="alice", password="secret").open_blob(BLOB_DIGEST) as blob:
        with pytest.raises(DigestMismatch):
            blob.read()


def test_basic_challenge_is_answered_with_the_credentials() -> None:
    expected = "Basic " + base64.b64encode(b"bob:pw").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": OCI_MANIFEST})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    source = RegistrySource("http://r.example", "a", username="bob", password="pw", client=client)
    assert source.manifest("v1") == (OCI_MANIFEST, MANIFEST)
    anonymous = RegistrySource("http://r.example", "a", client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(RegistryAuthError):
        anonymous.manifest("v1")


def test_manifest_by_digest_is_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=MANIFEST + b" ", headers={"Content-Type": OCI_MANIFEST})

    source = RegistrySource("http://r.example", "a", client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(DigestMismatch):
        source.manifest(sha256(MANIFEST))


# berth's own storage


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on its own thread, as the server's is while a scan runs on a worker thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


class StreamOnlyDriver(FilesystemDriver):
    """The filesystem driver without its local-file shortcut, so every read goes through the async stream."""

    def local_file(self, key: str) -> str | None:
        return None


def store(loop: asyncio.AbstractEventLoop, driver: FilesystemDriver, layout: Layout) -> None:
    async def write_all() -> None:
        for digest, data in layout.blobs.items():

            async def chunks(data: bytes = data):  # type: ignore[no-untyped-def]
                for start in range(0, len(data), 1000):
                    yield data[start : start + 1000]

            await driver.write(blob_path(parse_digest(digest)), chunks())

    asyncio.run_coroutine_threadsafe(write_all(), loop).result()


@pytest.mark.parametrize("driver_kind", [FilesystemDriver, StreamOnlyDriver])
def test_storage_source_reads_blobs_and_manifests_by_digest(loop, tmp_path: Path, driver_kind) -> None:  # type: ignore[no-untyped-def]
    layout, index, amd64 = two_platform_layout(tmp_path / "layout")
    driver = driver_kind(tmp_path / "storage")
    store(loop, driver, layout)
    manifests = {d: data for d, data in layout.blobs.items() if d in (index["digest"], amd64["digest"])}
    media_types = {index["digest"]: OCI_INDEX, amd64["digest"]: OCI_MANIFEST}

    async def lookup(digest: str) -> tuple[str, bytes] | None:
        return (media_types[digest], manifests[digest]) if digest in manifests else None

    source = StorageSource(driver, lookup, loop)
    result = inventory(source, index["digest"])
    assert result.manifest_digest == amd64["digest"]
    assert [p.name for p in result.packages] == ["tzdata"]
    with pytest.raises(ManifestNotFound):
        source.manifest("v1")  # tags are the database's
    with pytest.raises(BlobMissing):
        source.open_blob(sha256(b"absent")).read()
    with source.open_blob(amd64["digest"]) as blob:
        assert blob.read() == layout.blobs[amd64["digest"]]


def test_manifests_come_from_berth_database(loop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    run_migrations(url)
    layout = Layout(tmp_path / "layout")
    descriptor = layout.image([gzip_layer(tar_of({"etc/os-release": DEBIAN}))])
    database = Database(url)

    async def record() -> None:
        async with database.write() as conn:
            repository = (
                await conn.execute(insert(Repository).values(name="library/app").returning(Repository.id))
            ).scalar_one()
            content = layout.blobs[descriptor["digest"]]
            await conn.execute(
                insert(Manifest).values(
                    repository_id=repository,
                    digest=descriptor["digest"],
                    media_type=OCI_MANIFEST,
                    size=len(content),
                    content=content,
                )
            )

    asyncio.run_coroutine_threadsafe(record(), loop).result()
    driver = FilesystemDriver(tmp_path / "storage")
    store(loop, driver, layout)
    try:
        source = StorageSource(driver, database_manifests(database), loop)
        assert source.manifest(descriptor["digest"]) == (OCI_MANIFEST, layout.blobs[descriptor["digest"]])
        with pytest.raises(ManifestNotFound):
            source.manifest(sha256(b"no such manifest"))
        assert inventory(source, descriptor["digest"]).os.ecosystem == "Debian:12"
    finally:
        asyncio.run_coroutine_threadsafe(database.close(), loop).result()


def test_oci_layout_source_refuses_a_plain_directory(tmp_path: Path) -> None:
    from berth.scan.sources import SourceError

    with pytest.raises(SourceError):
        OCILayoutSource(tmp_path)
