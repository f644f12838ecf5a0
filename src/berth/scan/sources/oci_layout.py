"""An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) as a blob source."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import orjson

from berth import mediatypes
from berth.references import InvalidDigest, is_digest_reference, parse_digest
from berth.scan.sources.base import (
    BlobMissing,
    ManifestNotFound,
    SourceError,
    check_digest,
    sniff_media_type,
    verified_stream,
)

#: the annotation that names a manifest in index.json (a tag, for `reference`)
REF_NAME = "org.opencontainers.image.ref.name"


class OCILayoutSource:
    """Reads an image layout written by skopeo, oras, buildkit or a test.

    `manifest(None)` is the layout's only manifest, or index.json itself (an OCI index) when it
    lists several; a tag matches the `org.opencontainers.image.ref.name` annotation.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not (self.root / "index.json").is_file():
            raise SourceError(f"{self.root} is not an OCI image layout (no index.json)")

    def _index(self) -> dict:
        return orjson.loads((self.root / "index.json").read_bytes())

    def _blob_path(self, digest: str) -> Path:
        try:
            parsed = parse_digest(digest)
        except InvalidDigest as exc:
            raise BlobMissing(f"not a digest: {digest}") from exc
        return self.root / "blobs" / parsed.algorithm / parsed.hex

    def manifest(self, reference: str | None) -> tuple[str, bytes]:
        index = self._index()
        descriptors = [d for d in index.get("manifests", []) if isinstance(d, dict)]
        if reference is None:
            if len(descriptors) != 1:
                return mediatypes.OCI_INDEX, (self.root / "index.json").read_bytes()
            reference = str(descriptors[0].get("digest", ""))
        elif not is_digest_reference(reference):
            named = [d for d in descriptors if d.get("annotations", {}).get(REF_NAME) == reference]
            if not named:
                raise ManifestNotFound(f"no manifest tagged {reference!r} in {self.root}")
            reference = str(named[0].get("digest", ""))
        path = self._blob_path(reference)
        if not path.is_file():
            raise ManifestNotFound(f"no manifest {reference} in {self.root}")
        data = path.read_bytes()
        check_digest(reference, data)
        declared = next((d.get("mediaType") for d in descriptors if d.get("digest") == reference), None)
        return (declared if isinstance(declared, str) and declared else sniff_media_type(data)), data

    def open_blob(self, digest: str) -> BinaryIO:
        path = self._blob_path(digest)
        try:
            raw = path.open("rb", buffering=0)
        except FileNotFoundError as exc:
            raise BlobMissing(f"no blob {digest} in {self.root}") from exc
        return verified_stream(raw, digest)
