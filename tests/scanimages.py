"""Container images built in a test: tar layers from Python, written as OCI image layout directories."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(
    files: Mapping[str, bytes | str], *, symlinks: Mapping[str, str] = {}, executable: tuple[str, ...] = ()
) -> bytes:
    """A tar with these regular files (in order; parents are not listed, as in many real layers)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name in executable else 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


@dataclass
class LayerBlob:
    """A layer's blob as pushed, and the uncompressed tar its diff_id names."""

    blob: bytes
    tar: bytes
    media_type: str


def gzip_layer(tar: bytes) -> LayerBlob:
    return LayerBlob(gzip.compress(tar, mtime=0), tar, LAYER_GZIP)


def zstd_layer(tar: bytes) -> LayerBlob:
    return LayerBlob(zstandard.ZstdCompressor().compress(tar), tar, LAYER_ZSTD)


def plain_layer(tar: bytes) -> LayerBlob:
    return LayerBlob(tar, tar, LAYER_TAR)


@dataclass
class Layout:
    """An OCI image layout directory being written."""

    root: Path
    blobs: dict[str, bytes] = field(default_factory=dict)
    entries: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self._write_index()

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, layers: list[LayerBlob], *, os: str = "linux", architecture: str = "amd64") -> dict:
        """An image manifest (and its config) over these layers; returns its descriptor."""
        config = {
            "os": os,
            "architecture": architecture,
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer.tar) for layer in layers]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(json.dumps(config).encode(), OCI_CONFIG),
            "layers": [self.blob(layer.blob, layer.media_type) for layer in layers],
        }
        return self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)

    def index(self, manifests: list[tuple[dict, str]]) -> dict:
        """An OCI index of (manifest descriptor, "os/arch") pairs."""
        listed = []
        for descriptor, platform in manifests:
            os, architecture = platform.split("/")
            listed.append({**descriptor, "platform": {"os": os, "architecture": architecture}})
        return self.blob(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}).encode(), OCI_INDEX
        )

    def tag(self, descriptor: dict, name: str) -> None:
        self.entries.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": name}})
        self._write_index()

    def _write_index(self) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries}
        (self.root / "index.json").write_text(json.dumps(index))
