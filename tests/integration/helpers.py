"""Building blocks for the integration suite: images and artifacts, OCI layouts, a raw /v2 client, store snapshots."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import sqlite3
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
EMPTY_JSON = b"{}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def unique(prefix: str) -> str:
    """A repository name no other test uses (the session's servers are shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def layer_tarball(seed: int, files: int = 3, file_size: int = 4096) -> tuple[bytes, bytes]:
    """A gzipped tar of `files` random files: (compressed blob, uncompressed tar)."""
    rng = random.Random(seed)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(files):
            data = rng.randbytes(file_size + rng.randrange(file_size))
            info = tarfile.TarInfo(f"layer{seed}/file{i}.bin")
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass
class _Pushable:
    """Manifest bytes with their media type."""

    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.manifest)


@dataclass
class Image(_Pushable):
    """An image or artifact manifest with the blobs it names, ready to push or to lay out on disk."""

    blobs: list[bytes] = field(default_factory=list)

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.doc.get("layers", [])]

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return descriptor(self.media_type, self.manifest, **extra)


@dataclass
class Index(_Pushable):
    """An image index (or Docker manifest list) and its child images."""

    children: list[Image] = field(default_factory=list)


def build_image(
    seed: int,
    layers: int = 2,
    *,
    docker: bool = False,
    architecture: str = "amd64",
    os_name: str = "linux",
    annotations: dict[str, str] | None = None,
) -> Image:
    """A runnable-looking image: a config with correct diff_ids and `layers` gzipped tar layers."""
    compressed, diff_ids = [], []
    for i in range(layers):
        blob, tar = layer_tarball(seed * 100 + i)
        compressed.append(blob)
        diff_ids.append(sha256(tar))
    config = canonical_json(
        {
            "architecture": architecture,
            "os": os_name,
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": [f"SEED={seed}"], "Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(layers)],
        }
    )
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP, b) for b in compressed],
    }
    if annotations:
        doc["annotations"] = annotations
    return Image(canonical_json(doc), media_type, [config, *compressed])


def build_index(children: list[Image], platforms: list[tuple[str, str]], *, docker: bool = False) -> Index:
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            child.descriptor(platform={"os": os_name, "architecture": arch})
            for child, (os_name, arch) in zip(children, platforms, strict=True)
        ],
    }
    return Index(canonical_json(doc), media_type, children)


def build_artifact(
    payload: bytes,
    *,
    artifact_type: str | None = "application/vnd.example.sbom.v1+json",
    config_media_type: str = OCI_EMPTY,
    layer_media_type: str = "application/spdx+json",
    subject: Image | Index | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    """An OCI 1.1 artifact manifest: the empty config (unless told) and one layer holding `payload`."""
    config = EMPTY_JSON
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = descriptor(config_media_type, config)
    doc["layers"] = [descriptor(layer_media_type, payload)]
    if subject is not None:
        doc["subject"] = descriptor(subject.media_type, subject.manifest)
    if annotations:
        doc["annotations"] = annotations
    return Image(canonical_json(doc), OCI_MANIFEST, [config, payload])


def write_oci_layout(root: Path, tagged: dict[str, Image | Index]) -> Path:
    """Write an OCI image layout (oci-layout, index.json, blobs/sha256/…) holding `tagged` images."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> None:
        (blobs / sha256(data).split(":", 1)[1]).write_bytes(data)

    entries = []
    for tag, item in tagged.items():
        images = item.children if isinstance(item, Index) else [item]
        for image in images:
            for blob in image.blobs:
                put(blob)
            put(image.manifest)
        put(item.manifest)
        entries.append(
            descriptor(item.media_type, item.manifest, annotations={"org.opencontainers.image.ref.name": tag})
        )
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    )
    return root


def read_oci_layout(root: Path, tag: str) -> tuple[dict[str, Any], bytes]:
    """(index.json entry, manifest bytes) for `tag` in an OCI layout."""
    index = json.loads((root / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return entry, layout_blob(root, entry["digest"])
    raise AssertionError(f"tag {tag} not in {root}/index.json: {index}")


def layout_blob(root: Path, digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":", 1)
    return (root / "blobs" / algorithm / hex_digest).read_bytes()


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query (httpx's params= would replace a Location's own query, e.g. _state)."""
    return str(httpx.URL(url).copy_merge_params(params))


def next_link(response: httpx.Response) -> str | None:
    """The target of a `Link: <url>; rel="next"` header, if any."""
    link = response.headers.get("Link")
    if link is None:
        return None
    target, _, relation = link.partition(";")
    assert relation.strip() == 'rel="next"', link
    return target.strip().removeprefix("<").removesuffix(">")


def error_codes(response: httpx.Response) -> list[str]:
    """The `code`s of a distribution-spec error body (asserting its shape)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("errors"), list) and body["errors"], body
    for error in body["errors"]:
        assert isinstance(error.get("code"), str) and error["code"].replace("_", "").isalpha(), error
        assert error["code"].isupper(), error
    return [error["code"] for error in body["errors"]]


class V2:
    """A small client for the raw /v2 protocol (no retries, no magic): what a test needs to script a session."""

    def __init__(self, base_url: str, timeout: float = 120.0, auth: tuple[str, str] | None = None) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=timeout, auth=auth)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> V2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_project(self, name: str, public: bool = False) -> str:
        """Create the project `name` through the Harbor API (the client's credentials must allow it)."""
        body = {"project_name": name, "metadata": {"public": "true" if public else "false"}}
        response = self.http.post("/api/v2.0/projects", json=body)
        assert response.status_code in (201, 409), response.text
        return name

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, url, **kwargs)

    def start_upload(self, name: str, **params: str) -> httpx.Response:
        return self.http.post(f"/v2/{name}/blobs/uploads/", params=params, headers={"Content-Length": "0"})

    def push_blob(self, name: str, data: bytes, digest: str | None = None) -> str:
        """POST then PUT (the flow every registry must support); returns the digest."""
        digest = digest or sha256(data)
        started = self.start_upload(name)
        assert started.status_code == 202, (started.status_code, started.text)
        done = self.http.put(
            with_query(started.headers["Location"], digest=digest),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, (done.status_code, done.text)
        return digest

    def put_manifest(
        self, name: str, reference: str, body: bytes, media_type: str | None, **params: Any
    ) -> httpx.Response:
        headers = {"Content-Type": media_type} if media_type else {}
        return self.http.put(f"/v2/{name}/manifests/{reference}", content=body, headers=headers, params=params)

    def push_image(self, name: str, image: Image | Index, reference: str | None = None) -> httpx.Response:
        """Push every blob and child, then the manifest under `reference` (a tag, or its digest)."""
        if isinstance(image, Index):
            for child in image.children:
                self.push_image(name, child)
        else:
            for blob in image.blobs:
                self.push_blob(name, blob)
        response = self.put_manifest(name, reference or image.digest, image.manifest, image.media_type)
        assert response.status_code == 201, (response.status_code, response.text)
        assert response.headers["Docker-Content-Digest"] == image.digest
        return response

    def list_all(self, path: str, key: str, **params: Any) -> list[str]:
        """Every item of a paginated list (catalog or tags), following `Link: <…>; rel="next"`."""
        items: list[str] = []
        url: str | None = path
        while url is not None:
            response = self.http.get(url, params=params if url == path else None)
            assert response.status_code == 200, (response.status_code, response.text)
            items += response.json()[key] or []
            url = next_link(response)
        return items

    def get_manifest(self, name: str, reference: str, accept: str | None = None) -> httpx.Response:
        accept = accept or ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
        return self.http.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": accept})


# -- store snapshots ---------------------------------------------------------------------------------------

_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class StoreSnapshot:
    """What a berth data folder holds: every file (with its size, outside the database) and each table's row count."""

    files: dict[str, int]
    rows: dict[str, int]


def snapshot_store(data_dir: Path) -> StoreSnapshot:
    files = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_dir() or path.name.endswith(_SQLITE_SIDE_FILES):
            continue
        relative = path.relative_to(data_dir).as_posix()
        try:
            files[relative] = 0 if path.name == "berth.db" else path.stat().st_size
        except FileNotFoundError:  # removed while we walked (a request still finishing)
            continue
    database = data_dir / "berth.db"
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # the event outbox and the audit log are written for the change a request makes, and the outbox
        # is drained into the audit log just after it: a previous test's event may be handed over during
        # this one. They log changes; they are not part of what a test changes
        rows = {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                for table in tables if table not in ("audit_logs", "event_outbox")}
    finally:
        connection.close()
    return StoreSnapshot(files, rows)


def assert_store_unchanged(before: StoreSnapshot, after: StoreSnapshot) -> None:
    added = sorted(set(after.files) - set(before.files))
    removed = sorted(set(before.files) - set(after.files))
    resized = sorted(k for k in set(before.files) & set(after.files) if before.files[k] != after.files[k])
    stray = [k for k in added if k.startswith(("storage/uploads/", "storage/tmp/", "storage/blobs/"))]
    assert not stray, f"stray files left in storage: {stray}"
    assert not added and not removed and not resized, f"files added {added}, removed {removed}, resized {resized}"
    changed = {
        t: (before.rows.get(t), after.rows.get(t))
        for t in set(before.rows) | set(after.rows)
        if before.rows.get(t) != after.rows.get(t)
    }
    assert not changed, f"row counts changed (before, after): {changed}"


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- a tiny Alpine image with known vulnerable packages (the OSV samples have CVE-2022-27449 for mariadb) --

OS_RELEASE = b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.2\nPRETTY_NAME="Alpine Linux v3.16"\n'
APK_INSTALLED = (
    b"P:musl\nV:1.2.3-r0\nA:x86_64\nL:MIT\no:musl\n\n"
    b"P:mariadb\nV:10.6.7-r0\nA:x86_64\nL:GPL-2.0-only\no:mariadb\n\n"
)
PYTHON_METADATA = b"Metadata-Version: 2.1\nName: cryptography\nVersion: 3.2.1\nLicense: Apache-2.0 OR BSD-3-Clause\n"


def file_layer(files: dict[str, bytes], padding: int = 0) -> tuple[bytes, str]:
    """(gzipped tar, diff_id) of a layer holding `files`, and `padding` zero bytes in one more file
    (cheap to build and to store, slow to read: a scan that takes a while). Streamed: the tar is
    never whole in memory."""
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0) as zipped:
        hashing = _Hashing(zipped)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                tar.addfile(info, io.BytesIO(data))
            if padding:
                info = tarfile.TarInfo("var/padding")
                info.size, info.mtime, info.mode = padding, 1_700_000_000, 0o644
                tar.addfile(info, _Zeros(padding))
    return compressed.getvalue(), "sha256:" + hashing.hash.hexdigest()


class _Hashing:
    """A write-only file that hashes what goes through it (the layer's diff_id)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.target.write(data)


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        count = min(len(buffer), self._left)
        buffer[:count] = bytes(count)
        self._left -= count
        return count


def tiny_alpine_image(marker: str = "", padding: int = 0) -> Image:
    """Two layers: an Alpine base with two apk packages, then a Python package on top. A `marker`
    makes an image of its own digest (reports are kept per digest), `padding` a slower scan."""
    base, base_diff = file_layer({"etc/os-release": OS_RELEASE, "lib/apk/db/installed": APK_INSTALLED})
    app, app_diff = file_layer({
        "usr/lib/python3.10/site-packages/cryptography-3.2.1.dist-info/METADATA": PYTHON_METADATA,
        **({"etc/hostname": marker.encode()} if marker else {}),
    }, padding)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]}})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                               "layers": [descriptor(OCI_LAYER_GZIP, base), descriptor(OCI_LAYER_GZIP, app)]})
    return Image(manifest, OCI_MANIFEST, [config, base, app])
