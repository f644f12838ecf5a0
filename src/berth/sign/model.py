"""What verification takes and gives: the subject (the signed image), one signature artifact as
stored in the registry, and the verdict. Pure data; no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    """The kinds of signature artifact berth recognises (the policy's `formats` names the families)."""

    #: cosign's tag scheme (`sha256-<hex>.sig`) or its OCI 1.1 form: simple-signing layers with annotations
    COSIGN = "cosign"
    #: cosign v3 / sigstore: a Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`) as a referrer
    COSIGN_BUNDLE = "cosign-bundle"
    #: Notation: `application/vnd.cncf.notary.signature` with a `application/jose+json` layer
    NOTATION_JWS = "notation-jws"
    #: Notation: the same with a `application/cose` layer
    NOTATION_COSE = "notation-cose"

    @property
    def family(self) -> str:
        """`cosign` or `notation`: what the policy's `formats` and Harbor's project switches name."""
        return "notation" if self.value.startswith("notation") else "cosign"


@dataclass(frozen=True, slots=True)
class Subject:
    """The signed manifest: what a signature must name (digest always; Notation: size and media type too)."""

    digest: str
    size: int
    media_type: str


#: reads one blob of the signature artifact by digest, at most `limit` bytes (ValueError beyond it)
BlobReader = Callable[[str, int], bytes]


@dataclass(frozen=True, slots=True)
class SignatureArtifact:
    """One stored signature manifest: its digest, its parsed JSON, the tag it came under (cosign's
    tag scheme) if any, and a reader for its layer blobs."""

    digest: str
    manifest: dict[str, Any]
    read_blob: BlobReader
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one signature (a cosign manifest with several layers: the best one).

    `reason` is one short sentence a user can act on, for a failure always ("no trusted key
    verifies the signature", "the signed digest sha256:… is not the image's", "certificate expired
    at …", "identity alice@example.com is not allowed", "unknown critical header io.cncf.x");
    `signer` names who signed when known (a key's SHA-256 fingerprint `sha256:<hex of SPKI DER>`,
    a certificate's SAN email or URI, a Notation certificate's subject DN)."""

    verified: bool
    format: Format
    reason: str
    signer: str = ""
    #: when it was signed, by the best evidence there is (Rekor integrated time, a timestamp
    #: authority, Notation's signing time); None when the signature says nothing trustworthy
    signed_at: datetime | None = None
    #: an attestation (DSSE with a predicate other than cosign's sign predicate) is never a signature
    attestation: bool = False
    details: dict[str, Any] = field(default_factory=dict)
