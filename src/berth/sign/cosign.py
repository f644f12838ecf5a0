"""Verify cosign signatures offline: the tag scheme (`sha256-<hex>.sig`, one simple-signing layer per
signature with its annotations) and Sigstore bundles (cosign v3: a DSSE in-toto statement or a
message signature). The trust checks themselves are in sigstore.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeGuard

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from berth.mediatypes import is_sigstore_bundle
from berth.sign.model import Format, SignatureArtifact, Subject, Verdict
from berth.sign.policy import TrustPolicy, key_fingerprint
from berth.sign.sigstore import (
    LogEntry,
    Refused,
    Trust,
    b64decode,
    find_key,
    parse_certificate,
    parse_chain,
    trust_of,
    verifies,
    verify_certificate,
    verify_entries,
)
from berth.sign.verify import COSIGN_SIMPLESIGNING

MAX_LAYERS = 32
MAX_LAYER_BYTES = 1 << 20
MAX_ANNOTATION_CHARS = 64 * 1024
MAX_DSSE_SIGNATURES = 8
MAX_TLOG_ENTRIES = 8

SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
BUNDLE = "dev.sigstore.cosign/bundle"
SIMPLESIGNING_TYPE = "cosign container image signature"
IN_TOTO = "application/vnd.in-toto+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What one signature offers: the signature over `signed`, the payload's SHA-256 as a log records
    it, the certificate if any (else a key signed) and the log entries."""

    signature: bytes
    signed: bytes
    digest: str
    certificate: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    hint: str | None = None
    prehashed: bool = False


def verify(kind: Format, subject: Subject, artifact: SignatureArtifact, policy: TrustPolicy, now: datetime) -> Verdict:
    """The verdict of one cosign signature artifact on `subject` (several layers: the best). Never raises."""
    try:
        trust = trust_of(policy)
        if kind is Format.COSIGN_BUNDLE:
            return _verify_bundle_artifact(subject, artifact, trust, now)
        return _verify_layers(subject, artifact, trust, now)
    except Refused as refused:
        return Verdict(False, kind, str(refused))
    except Exception as error:  # noqa: BLE001 - a verdict, never an exception, whatever the input holds
        return Verdict(False, kind, f"malformed signature ({type(error).__name__})")


def verify_bundle(bundle: bytes, subject: Subject, policy: TrustPolicy, now: datetime) -> Verdict:
    """The verdict of one Sigstore bundle (JSON) on `subject`. Never raises."""
    try:
        return _verify_bundle(bundle, subject, trust_of(policy), now)
    except Refused as refused:
        return Verdict(False, Format.COSIGN_BUNDLE, str(refused))
    except Exception as error:  # noqa: BLE001 - as in verify
        return Verdict(False, Format.COSIGN_BUNDLE, f"malformed bundle ({type(error).__name__})")


def _layers(artifact: SignatureArtifact) -> list[dict[str, Any]]:
    layers = artifact.manifest.get("layers")
    if not isinstance(layers, list):
        raise Refused("malformed signature manifest: no layers")
    if len(layers) > MAX_LAYERS:
        raise Refused(f"the signature manifest has over {MAX_LAYERS} layers")
    return [layer for layer in layers if isinstance(layer, dict)]


def _read_layer(artifact: SignatureArtifact, layer: dict[str, Any]) -> bytes:
    """The layer's blob, which must hash to its descriptor's digest."""
    digest = layer.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise Refused("malformed signature layer: no sha256 digest")
    try:
        blob = artifact.read_blob(digest, MAX_LAYER_BYTES)
    except ValueError:
        raise Refused(f"the signature layer {digest[:19]}… is over {MAX_LAYER_BYTES} bytes or unreadable") from None
    if len(blob) > MAX_LAYER_BYTES:
        raise Refused(f"the signature layer {digest[:19]}… is over {MAX_LAYER_BYTES} bytes")
    if "sha256:" + hashlib.sha256(blob).hexdigest() != digest:
        raise Refused("the signature payload does not match its layer digest")
    return blob


def _verify_layers(subject: Subject, artifact: SignatureArtifact, trust: Trust, now: datetime) -> Verdict:
    layers = [layer for layer in _layers(artifact) if layer.get("mediaType") == COSIGN_SIMPLESIGNING]
    if not layers:
        raise Refused("the manifest has no cosign signature layers")
    verdicts = []
    for layer in layers:
        try:
            verdicts.append(_verify_layer(subject, artifact, layer, trust, now))
        except Refused as refused:
            verdicts.append(Verdict(False, Format.COSIGN, str(refused)))
    best = next((v for v in verdicts if v.verified), verdicts[0])
    if len(verdicts) == 1:
        return best
    return replace(best, details={**best.details, "layers": [v.reason for v in verdicts]})


def _verify_layer(subject: Subject, artifact: SignatureArtifact, layer: dict[str, Any], trust: Trust,
                  now: datetime) -> Verdict:
    payload = _read_layer(artifact, layer)
    annotations = layer.get("annotations")
    if not isinstance(annotations, dict):
        raise Refused("the signature layer has no annotations")
    for name, value in annotations.items():
        if not isinstance(value, str) or len(value) > MAX_ANNOTATION_CHARS:
            raise Refused(
                f"the annotation {str(name)[:80]} is not a string of at most {MAX_ANNOTATION_CHARS} characters")
    _check_simple_signing(payload, subject)
    if SIGNATURE not in annotations:
        raise Refused("the signature layer has no signature annotation")
    certificate = annotations.get(CERTIFICATE)
    evidence = _Evidence(
        signature=b64decode(annotations[SIGNATURE], "signature"),
        signed=payload,
        digest=hashlib.sha256(payload).hexdigest(),
        certificate=parse_certificate(certificate.encode(), "certificate") if certificate else None,
        chain=parse_chain(annotations[CHAIN], "certificate chain") if annotations.get(CHAIN) else [],
        entries=[_legacy_entry(annotations[BUNDLE])] if BUNDLE in annotations else [],
    )
    return _verify_evidence(evidence, trust, now, Format.COSIGN, "signature")


def _check_simple_signing(payload: bytes, subject: Subject) -> None:
    """The simple-signing payload must name this image as a cosign signature."""
    document = _json(payload, "signature payload")
    critical = document.get("critical")
    if not isinstance(critical, dict):
        raise Refused("malformed signature payload: no critical section")
    image = critical.get("image")
    signed = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(signed, str):
        raise Refused("malformed signature payload: no docker-manifest-digest")
    if signed != subject.digest:
        raise Refused(f"the signature is for {signed[:80]}, not this image")
    if critical.get("type") != SIMPLESIGNING_TYPE:
        raise Refused(f"the payload type is {str(critical.get('type'))[:80]!r}, not a cosign container image signature")


def _legacy_entry(text: str) -> LogEntry:
    """The Rekor entry of cosign's `bundle` annotation: `{"SignedEntryTimestamp", "Payload": {…}}`."""
    document = _json(text.encode(), "Rekor bundle")
    payload = document.get("Payload")
    if not isinstance(payload, dict):
        raise Refused("malformed Rekor bundle: no Payload")
    body, integrated, index, log_id = (payload.get(k) for k in ("body", "integratedTime", "logIndex", "logID"))
    if not (isinstance(body, str) and _is_int(integrated) and _is_int(index) and isinstance(log_id, str)):
        raise Refused("malformed Rekor bundle: Payload needs body, integratedTime, logIndex and logID")
    return LogEntry(body, integrated, index, log_id, b64decode(document.get("SignedEntryTimestamp"), "Rekor SET"))


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Refused(f"malformed {what}: not JSON") from None
    if not isinstance(document, dict):
        raise Refused(f"malformed {what}: not a JSON object")
    return document


def _verify_evidence(evidence: _Evidence, trust: Trust, now: datetime, kind: Format, what: str) -> Verdict:
    """Signature, then log entries (which give the signing time), then certificate at that time."""
    key: PublicKeyTypes
    if evidence.certificate is not None:
        key = evidence.certificate.public_key()
        if not verifies(key, evidence.signature, evidence.signed, evidence.prehashed):
            raise Refused(f"the certificate's key does not verify the {what}")
    else:
        key = find_key(trust.keys, evidence.signature, evidence.signed, evidence.hint, evidence.prehashed)
    signed_at, entry = verify_entries(evidence.entries, trust, evidence.signature, evidence.digest, key)
    details: dict[str, Any] = {"log_index": entry.log_index} if entry else {}
    if evidence.certificate is None:
        return Verdict(True, kind, f"{what} verified with a trusted key", key_fingerprint(key), signed_at,
                       details=details)
    signer = verify_certificate(evidence.certificate, evidence.chain, trust, signed_at or now)
    return Verdict(True, kind, f"{what} verified with a certificate for {signer}", signer, signed_at, details=details)


def _verify_bundle_artifact(subject: Subject, artifact: SignatureArtifact, trust: Trust, now: datetime) -> Verdict:
    layers = [layer for layer in _layers(artifact) if is_sigstore_bundle(layer.get("mediaType"))]
    if len(layers) != 1:
        raise Refused(f"the manifest has {len(layers)} Sigstore bundle layers, not one")
    return _verify_bundle(_read_layer(artifact, layers[0]), subject, trust, now)


def _verify_bundle(data: bytes, subject: Subject, trust: Trust, now: datetime) -> Verdict:
    bundle = _json(data, "Sigstore bundle")
    material = bundle.get("verificationMaterial")
    if not isinstance(material, dict):
        raise Refused("malformed Sigstore bundle: no verificationMaterial")
    certificate, chain, hint = _bundle_signer(material)
    entries = material.get("tlogEntries") or []
    if not isinstance(entries, list) or len(entries) > MAX_TLOG_ENTRIES:
        raise Refused("malformed Sigstore bundle: tlogEntries")
    evidence = _Evidence(b"", b"", "", certificate, chain, [_bundle_entry(e) for e in entries], hint)
    if isinstance(bundle.get("dsseEnvelope"), dict):
        return _verify_dsse(bundle["dsseEnvelope"], evidence, subject, trust, now)
    if isinstance(bundle.get("messageSignature"), dict):
        return _verify_message(bundle["messageSignature"], evidence, subject, trust, now)
    raise Refused("malformed Sigstore bundle: neither a DSSE envelope nor a message signature")


def _bundle_signer(material: dict[str, Any]) -> tuple[x509.Certificate | None, list[x509.Certificate], str | None]:
    """The certificate and chain, or the key hint, of a bundle's verification material."""
    if isinstance(material.get("certificate"), dict):
        raw = b64decode(material["certificate"].get("rawBytes"), "bundle certificate")
        return parse_certificate(raw, "bundle certificate", pem=False), [], None
    if isinstance(material.get("x509CertificateChain"), dict):
        listed = material["x509CertificateChain"].get("certificates")
        if not isinstance(listed, list) or not 0 < len(listed) <= 8:
            raise Refused("malformed Sigstore bundle: x509CertificateChain")
        chain = [parse_certificate(b64decode(c.get("rawBytes") if isinstance(c, dict) else None, "bundle certificate"),
                                   "bundle certificate", pem=False) for c in listed]
        return chain[0], chain[1:], None
    if isinstance(material.get("publicKey"), dict):
        hint = material["publicKey"].get("hint")
        return None, [], hint if isinstance(hint, str) else None
    raise Refused("malformed Sigstore bundle: no certificate or public key")


def _bundle_entry(entry: object) -> LogEntry:
    """A bundle's tlog entry (protobuf JSON: integers as strings, log id as base64)."""
    try:
        assert isinstance(entry, dict)
        promise = entry["inclusionPromise"]["signedEntryTimestamp"]
        return LogEntry(entry["canonicalizedBody"], int(entry["integratedTime"]), int(entry["logIndex"]),
                        b64decode(entry["logId"]["keyId"], "log id").hex(), b64decode(promise, "Rekor SET"))
    except (AssertionError, KeyError, TypeError, ValueError):
        raise Refused(
            "malformed Sigstore bundle: a tlog entry without body, times, log id or inclusion promise") from None


def _verify_dsse(envelope: dict[str, Any], evidence: _Evidence, subject: Subject, trust: Trust,
                 now: datetime) -> Verdict:
    """DSSE: the signature is over PAE(type, payload); the in-toto statement names the image and
    says whether it is a signature (cosign's sign predicate) or an attestation."""
    payload_type = envelope.get("payloadType")
    payload = b64decode(envelope.get("payload"), "DSSE payload")
    signatures = envelope.get("signatures")
    if payload_type != IN_TOTO:
        raise Refused(f"the DSSE payload type is {str(payload_type)[:80]!r}, not an in-toto statement")
    if not isinstance(signatures, list) or not 0 < len(signatures) <= MAX_DSSE_SIGNATURES:
        raise Refused("malformed DSSE envelope: signatures")
    statement = _json(payload, "in-toto statement")
    predicate = statement.get("predicateType")
    attestation = predicate != SIGN_PREDICATE
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    failures: list[str] = []
    for signature in signatures:
        sig = b64decode(signature.get("sig") if isinstance(signature, dict) else None, "DSSE signature")
        try:
            verdict = _verify_evidence(replace(evidence, signature=sig, signed=pae, digest=hashlib.sha256(
                payload).hexdigest()), trust, now, Format.COSIGN_BUNDLE, "bundle")
            break
        except Refused as refused:
            failures.append(str(refused))
    else:  # no signature verifies: the first one's reason
        return Verdict(False, Format.COSIGN_BUNDLE, failures[0], attestation=attestation)
    verdict = replace(verdict, attestation=attestation)
    named = _statement_subjects(statement)
    if subject.digest not in named:
        return replace(verdict, verified=False,
                       reason=f"the signature is for {', '.join(named)[:200] or 'no digest'}, not this image")
    if attestation:
        return replace(verdict, verified=False,
                       reason=f"an attestation (predicate {str(predicate)[:200]}) is not a signature")
    return verdict


def _statement_subjects(statement: dict[str, Any]) -> list[str]:
    """The digests an in-toto statement's subjects name, as `algorithm:hex`."""
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        raise Refused("malformed in-toto statement: no subject")
    return [f"{algorithm}:{value}" for s in subjects if isinstance(s, dict) and isinstance(s.get("digest"), dict)
            for algorithm, value in s["digest"].items()]


def _verify_message(message: dict[str, Any], evidence: _Evidence, subject: Subject, trust: Trust,
                    now: datetime) -> Verdict:
    """A message signature: the signature is over the image digest itself (SHA-256)."""
    digest = message.get("messageDigest")
    if not isinstance(digest, dict) or digest.get("algorithm") != "SHA2_256":
        raise Refused("malformed message signature: the digest is not SHA2_256")
    signed = b64decode(digest.get("digest"), "message digest")
    if "sha256:" + signed.hex() != subject.digest:
        raise Refused(f"the signature is for sha256:{signed.hex()[:64]}, not this image")
    signature = b64decode(message.get("signature"), "message signature")
    return _verify_evidence(replace(evidence, signature=signature, signed=signed, digest=signed.hex(), prehashed=True),
                            trust, now, Format.COSIGN_BUNDLE, "bundle")
