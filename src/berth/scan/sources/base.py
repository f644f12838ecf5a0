"""Where the scanner reads an image from: manifests by reference, blobs as verified byte streams."""

from __future__ import annotations

import io
from typing import BinaryIO, Protocol

import orjson

from berth import mediatypes
from berth.references import InvalidDigest, parse_digest


class SourceError(Exception):
    """The image could not be read from its source."""


class ManifestNotFound(SourceError):
    """No manifest under that reference."""


class BlobMissing(SourceError):
    """No blob under that digest (a foreign layer, a registry that lost it)."""


class DigestMismatch(SourceError):
    """The bytes read do not hash to the digest they were asked for."""


class BlobSource(Protocol):
    """Synchronous reads of one repository's manifests and blobs."""

    def manifest(self, reference: str | None) -> tuple[str, bytes]:
        """(media type, exact bytes) of the manifest a tag or digest names; ManifestNotFound if none."""

    def open_blob(self, digest: str) -> BinaryIO:
        """A stream of the blob's bytes, verified against `digest` as it is read (DigestMismatch at
        the end); BlobMissing if absent. Never the whole blob in memory."""


class VerifyingReader(io.RawIOBase):
    """Hashes what passes through and checks it against the digest when the stream ends."""

    def __init__(self, raw: BinaryIO | io.RawIOBase, digest: str) -> None:
        parsed = parse_digest(digest)
        self._raw = raw
        self._digest = digest
        self._hash = parsed.hasher()
        self._expected = parsed.hex
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self._raw.read(len(buffer))
        if not data:
            self._check()
            return 0
        buffer[: len(data)] = data
        self._hash.update(data)
        return len(data)

    def _check(self) -> None:
        if not self._checked:
            self._checked = True
            if self._hash.hexdigest() != self._expected:
                raise DigestMismatch(f"blob {self._digest} does not match its content")

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def verified_stream(raw: BinaryIO | io.RawIOBase, digest: str, buffer_size: int = 1 << 20) -> BinaryIO:
    return io.BufferedReader(VerifyingReader(raw, digest), buffer_size)  # type: ignore[return-value]


def check_digest(digest: str, data: bytes) -> None:
    """DigestMismatch unless data hashes to digest (manifests fetched by digest)."""
    try:
        parsed = parse_digest(digest)
    except InvalidDigest as exc:
        raise ManifestNotFound(f"not a digest: {digest}") from exc
    hasher = parsed.hasher()
    hasher.update(data)
    if hasher.hexdigest() != parsed.hex:
        raise DigestMismatch(f"manifest {digest} does not match its content")


def sniff_media_type(data: bytes) -> str:
    """The manifest's own `mediaType`, or what its shape says (OCI makes the field optional)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError("manifest is not JSON") from exc
    if not isinstance(document, dict):
        raise SourceError("manifest is not a JSON object")
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if "manifests" in document:
        return mediatypes.OCI_INDEX
    if "layers" in document:
        return mediatypes.OCI_MANIFEST
    raise SourceError("manifest names no media type")
