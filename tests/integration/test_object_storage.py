"""berth serving from object stores: S3 (moto) and Azure Blob (Azurite), with presigned redirects."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import httpx
import pytest

from tests.conftest import start_berth
from tests.object_stores import AZURE_ACCOUNT, AZURE_CONTAINER, AZURE_KEY, S3_BUCKET, S3_CREDENTIALS


def _storage_env(kind: str, request: pytest.FixtureRequest, redirect: bool) -> dict[str, str]:
    prefix = f"berth-{uuid.uuid4().hex[:8]}"
    if kind == "s3":
        server = request.getfixturevalue("moto_server")
        options = {"url": f"s3://{S3_BUCKET}", "prefix": prefix, "endpoint": server.endpoint, "allow_http": True,
                   **S3_CREDENTIALS}
    else:
        server = request.getfixturevalue("azurite_server")
        options = {"url": f"az://{AZURE_CONTAINER}", "prefix": prefix, "account_name": AZURE_ACCOUNT,
                   "account_key": AZURE_KEY, "endpoint": f"{server.endpoint}/{AZURE_ACCOUNT}", "allow_http": True}
    return {
        "BERTH_STORAGE_DRIVER": "objectstore",
        "BERTH_STORAGE_OPTIONS": json.dumps(options),
        "BERTH_STORAGE_REDIRECT": "true" if redirect else "false",
    }


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_push_pull_and_restart_on_an_object_store(kind, request, tmp_path) -> None:
    env = _storage_env(kind, request, redirect=False)
    server = start_berth(tmp_path / "data", env)
    first, second = os.urandom(3 * 1024 * 1024 + 17), os.urandom(9 * 1024 * 1024)
    blob = first + second
    try:
        with server.client() as client:
            location = client.post("/v2/team/app/blobs/uploads/").headers["location"]
            r = client.patch(location, content=first,
                             headers={"Content-Range": f"0-{len(first) - 1}", "Content-Type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            location = r.headers["location"]
    finally:
        server.stop()
    # the second chunk and the close happen after a restart: the digest is recomputed from stored parts
    server = start_berth(tmp_path / "data", env, port=server.port)
    try:
        with server.client() as client:
            r = client.patch(location, content=second,
                             headers={"Content-Range": f"{len(first)}-{len(blob) - 1}",
                                      "Content-Type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            assert r.headers["range"] == f"0-{len(blob) - 1}"
            r = client.put(location, params={"digest": _digest(blob)})
            assert r.status_code == 201, r.text
            got = client.get(f"/v2/team/app/blobs/{_digest(blob)}")
            assert got.status_code == 200 and got.content == blob
            ranged = client.get(f"/v2/team/app/blobs/{_digest(blob)}", headers={"Range": "bytes=100-199"})
            assert ranged.status_code == 206 and ranged.content == blob[100:200]
            small = b'{"architecture":"amd64","os":"linux"}'
            assert client.post("/v2/team/app/blobs/uploads/", params={"digest": _digest(small)}, content=small).status_code == 201
            manifest = json.dumps({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(small), "size": len(small)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(blob), "size": len(blob)}],
            }).encode()
            r = client.put("/v2/team/app/manifests/v1", content=manifest,
                           headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            assert r.status_code == 201, r.text
            assert client.get("/v2/team/app/manifests/v1").content == manifest
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_blob_get_redirects_to_a_presigned_url_when_configured(kind, request, tmp_path) -> None:
    server = start_berth(tmp_path / "data", _storage_env(kind, request, redirect=True))
    data = os.urandom(100_000)
    try:
        with server.client() as client:
            assert client.post("/v2/library/r/blobs/uploads/", params={"digest": _digest(data)}, content=data).status_code == 201
            r = client.get(f"/v2/library/r/blobs/{_digest(data)}")
            assert r.status_code == 307
            assert r.headers["docker-content-digest"] == _digest(data)
            url = r.headers["location"]
            assert url.startswith("http://127.0.0.1") and ("Signature" in url or "sig=" in url)
            assert httpx.get(url).content == data
            # HEAD still answers from berth itself
            head = client.head(f"/v2/library/r/blobs/{_digest(data)}")
            assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    finally:
        server.stop()
