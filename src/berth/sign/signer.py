"""The documents of a cosign-compatible signature of an image digest (pure, no I/O): cosign's tag
scheme (simple-signing payload in a `sha256-<hex>.sig` manifest) and cosign v3's Sigstore bundle
(in-toto statement in DSSE) pushed as an OCI 1.1 referrer. `berth.sign.push` sends them."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from berth import mediatypes
from berth.references import parse_digest
from berth.sign.keys import SigningKey
from berth.sign.verify import COSIGN_SIMPLESIGNING

#: the layer annotation cosign keeps a tag-scheme signature in (base64 of the DER signature)
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
#: the predicate of a cosign v3 signature (anything else in a bundle is an attestation)
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
EMPTY_CONFIG = b"{}"


@dataclass(frozen=True, slots=True)
class Blob:
    """A blob to push and its descriptor."""

    media_type: str
    data: bytes
    annotations: dict[str, str] | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        described: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}
        if self.annotations:
            described["annotations"] = self.annotations
        return described


@dataclass(frozen=True, slots=True)
class SignatureManifest:
    """A manifest to push with the blobs it needs (those not already in the repository)."""

    manifest: bytes
    blobs: list[Blob]
    #: the tag it goes under (the tag scheme), None for a referrer pushed by digest
    tag: str | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def sign_bytes(key: SigningKey, data: bytes) -> bytes:
    """A signature as cosign makes it: ECDSA-SHA256 in ASN.1 DER, RSA PKCS#1 v1.5 SHA-256, or Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of `digest`: `sha256-<hex>.sig`."""
    return referrers_tag(digest) + ".sig"


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag scheme's tag for `digest` (registries without the referrers API)."""
    parsed = parse_digest(digest)
    return f"{parsed.algorithm}-{parsed.hex}"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """The payload cosign signs in its tag scheme; `repository` is `host/name` (no tag), as cosign writes it."""
    return orjson.dumps({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": None,
    })


def tag_signature(
    key: SigningKey, repository: str, digest: str, existing: bytes | None,
) -> SignatureManifest | None:
    """The `sha256-<hex>.sig` manifest with a new simple-signing layer appended to `existing` (the
    manifest already under that tag, if any), as cosign appends. None when `existing` already holds a
    signature of the same payload by the same key (cosign's duplicate check): nothing to push."""
    payload = simple_signing_payload(repository, digest)
    layers: list[dict[str, Any]] = []
    if existing is not None:
        document = orjson.loads(existing)
        layers = [layer for layer in document.get("layers") or [] if isinstance(layer, dict)]
        if any(_same_signer(layer, payload, key) for layer in layers):
            return None
    signature = base64.b64encode(sign_bytes(key, payload)).decode()
    layer = Blob(COSIGN_SIMPLESIGNING, payload, {SIGNATURE_ANNOTATION: signature})
    layers.append(layer.descriptor())
    config = Blob(mediatypes.OCI_CONFIG, _signature_config(layers))
    manifest = orjson.dumps({
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers,
    })
    return SignatureManifest(manifest, [config, layer], signature_tag(digest))


def _same_signer(layer: dict[str, Any], payload: bytes, key: SigningKey) -> bool:
    if layer.get("digest") != "sha256:" + hashlib.sha256(payload).hexdigest():
        return False
    encoded = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
    if not isinstance(encoded, str):
        return False
    try:
        signature = base64.b64decode(encoded, validate=True)
        public = key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            public.verify(signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def _signature_config(layers: list[dict[str, Any]]) -> bytes:
    """The synthetic image config cosign writes beside its signature layers (go-containerregistry's
    empty image with one diff_id per layer)."""
    zero = "0001-01-01T00:00:00Z"
    return orjson.dumps({
        "architecture": "",
        "created": zero,
        "history": [{"created": zero} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        "config": {},
    })


def statement(repository: str, digest: str) -> bytes:
    """The in-toto statement cosign v3 signs: the image as its subject, cosign's sign predicate."""
    parsed = parse_digest(digest)
    return orjson.dumps({
        "_type": IN_TOTO_STATEMENT,
        "subject": [{"name": repository, "digest": {parsed.algorithm: parsed.hex}}],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    })


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_hint(key: SigningKey) -> str:
    """cosign's `publicKey.hint`: base64 of the SHA-256 of the public key's SPKI DER."""
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def sigstore_bundle(key: SigningKey, repository: str, digest: str) -> bytes:
    """A Sigstore bundle v0.3 (protobuf JSON, empty fields left out as protojson does) holding the
    DSSE-signed statement, with the key's hint as verification material (no transparency log)."""
    payload = statement(repository, digest)
    signature = sign_bytes(key, pae(IN_TOTO_PAYLOAD, payload))
    return orjson.dumps({
        "mediaType": mediatypes.SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": key_hint(key)}},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO_PAYLOAD,
            "signatures": [{"sig": base64.b64encode(signature).decode()}],
        },
    })


def bundle_referrer(
    key: SigningKey, repository: str, subject: dict[str, Any], created: datetime,
) -> SignatureManifest:
    """The OCI 1.1 manifest cosign v3 pushes for a key-signed image: the bundle as its one layer,
    `subject` (the image's descriptor: mediaType, digest, size) as its subject."""
    bundle = Blob(mediatypes.SIGSTORE_BUNDLE, sigstore_bundle(key, repository, subject["digest"]))
    config = Blob(mediatypes.OCI_EMPTY, EMPTY_CONFIG)
    manifest = orjson.dumps({
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": mediatypes.SIGSTORE_BUNDLE,
        "config": config.descriptor(),
        "layers": [bundle.descriptor()],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
        "annotations": {
            BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
            BUNDLE_PREDICATE_ANNOTATION: SIGN_PREDICATE,
            CREATED_ANNOTATION: created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    })
    return SignatureManifest(manifest, [config, bundle])


def referrers_index(existing: bytes | None, manifest: SignatureManifest) -> bytes:
    """The referrers tag scheme's index (`sha256-<hex>`) with `manifest` added, for registries
    without the referrers API (the OCI distribution spec's fallback, what cosign and oras do)."""
    document = orjson.loads(manifest.manifest)
    entry: dict[str, Any] = {"mediaType": mediatypes.OCI_MANIFEST, "digest": manifest.digest,
                             "size": len(manifest.manifest)}
    for field in ("artifactType", "annotations"):
        if document.get(field):
            entry[field] = document[field]
    entries = []
    if existing is not None:
        entries = [e for e in orjson.loads(existing).get("manifests") or [] if isinstance(e, dict)]
    entries = [e for e in entries if e.get("digest") != manifest.digest] + [entry]
    return orjson.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries})
