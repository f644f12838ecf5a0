"""The OCI distribution-spec grammar for repository names, tags and digests.

Pure parsing, no I/O; every name or digest is validated here before it reaches
SQL or a storage path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")

#: algorithm -> length of the lowercase hex encoding
DIGEST_ALGORITHMS = {"sha256": 64, "sha512": 128}


class InvalidName(ValueError):
    """A repository name outside the grammar."""


class InvalidTag(ValueError):
    """A tag outside the grammar."""


class InvalidDigest(ValueError):
    """A digest that is malformed."""


class UnsupportedDigest(InvalidDigest):
    """A well-formed digest whose algorithm berth does not implement."""


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) is not None


def validate_name(name: str) -> str:
    if not is_valid_name(name):
        raise InvalidName(name)
    return name


def is_valid_tag(tag: str) -> bool:
    return _TAG_RE.fullmatch(tag) is not None


def validate_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise InvalidTag(tag)
    return tag


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)


def parse_digest(text: str) -> Digest:
    """Parse `algorithm:hex`; raise InvalidDigest or UnsupportedDigest."""
    match = _DIGEST_RE.fullmatch(text)
    if match is None:
        raise InvalidDigest(text)
    algorithm, encoded = match.groups()
    length = DIGEST_ALGORITHMS.get(algorithm)
    if length is None:
        raise UnsupportedDigest(text)
    if len(encoded) != length or not all(c in "0123456789abcdef" for c in encoded):
        raise InvalidDigest(text)
    return Digest(algorithm, encoded)


def is_digest_reference(reference: str) -> bool:
    """A manifest reference is a digest when it has a colon (tags cannot)."""
    return ":" in reference


def is_manifest_reference(reference: str) -> bool:
    """A tag, or a digest (a colon; whether the digest is well formed is checked later, 400 if not).

    Anything else cannot name a manifest: distribution's router does not even match it.
    """
    return is_digest_reference(reference) or is_valid_tag(reference)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
