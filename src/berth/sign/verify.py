"""Verify the signature artifacts of one image against a trust policy: which format each artifact
is, then that format's checks (cosign.py, notation.py). Blocking and CPU-bound (a few ms each):
callers off the event loop run it in a thread."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from berth.mediatypes import is_sigstore_bundle
from berth.sign.model import Format, SignatureArtifact, Subject, Verdict
from berth.sign.policy import TrustPolicy

COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ARTIFACT_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"
JWS = "application/jose+json"
COSE = "application/cose"


def format_of(manifest: dict[str, object]) -> Format | None:
    """The signature format of a stored manifest, None when it is not a signature berth knows."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    artifact_type = manifest.get("artifactType") or (config or {}).get("mediaType")  # type: ignore[union-attr]
    layers = [layer for layer in manifest.get("layers") or [] if isinstance(layer, dict)]  # type: ignore[union-attr]
    types = {layer.get("mediaType") for layer in layers}
    if artifact_type == NOTATION_SIGNATURE:
        return Format.NOTATION_COSE if COSE in types else Format.NOTATION_JWS if JWS in types else None
    if is_sigstore_bundle(artifact_type):
        return Format.COSIGN_BUNDLE
    if COSIGN_SIMPLESIGNING in types:
        return Format.COSIGN
    return None


def verify(subject: Subject, artifact: SignatureArtifact, policy: TrustPolicy, now: datetime) -> Verdict | None:
    """The verdict of one signature artifact on `subject`, None when the artifact is not a signature
    of a format the policy counts. Never raises for bad input: a malformed artifact is a failed verdict."""
    kind = format_of(artifact.manifest)
    if kind is None or kind.family not in policy.formats:
        return None
    if kind.family == "cosign":
        from berth.sign import cosign

        return cosign.verify(kind, subject, artifact, policy, now)
    from berth.sign import notation

    return notation.verify(kind, subject, artifact, policy, now)


def verify_all(
    subject: Subject, artifacts: Iterable[SignatureArtifact], policy: TrustPolicy, now: datetime,
) -> list[Verdict]:
    """The verdicts of every signature artifact the policy counts (attestations included, marked)."""
    return [v for v in (verify(subject, a, policy, now) for a in artifacts) if v is not None]
