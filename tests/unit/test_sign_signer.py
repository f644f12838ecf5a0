"""The signature documents `berth sign` pushes: byte for byte what cosign writes where the format is
fixed (simple-signing payload), verifiable with the public key, and shaped as cosign's manifests."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from berth.sign import keys, signer
from berth.sign.verify import format_of

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "signing"
DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "registry.example:5000/library/app"
SUBJECT = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 1234}


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return keys.generate_key_pair()


def _verify(key: ec.EllipticCurvePrivateKey, signature: bytes, data: bytes) -> None:
    key.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_the_simple_signing_payload_is_byte_for_byte_cosigns() -> None:
    signed = FIXTURES / "cosign-containers-image" / "dir-img-cosign-valid" / "signature-1"
    real = base64.b64decode(json.loads(signed.read_bytes().split(b"\n", 1)[1])["payload"])
    critical = json.loads(real)["critical"]
    ours = signer.simple_signing_payload(critical["identity"]["docker-reference"],
                                         critical["image"]["docker-manifest-digest"])
    assert ours == real


def test_a_tag_scheme_signature_is_cosigns_manifest_under_the_sig_tag(key) -> None:
    signature = signer.tag_signature(key, REPOSITORY, DIGEST, None)
    assert signature is not None
    assert signature.tag == "sha256-" + "ab" * 32 + ".sig"
    manifest = json.loads(signature.manifest)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    config, payload = signature.blobs
    assert layer["digest"] == payload.digest and layer["size"] == len(payload.data)
    assert json.loads(config.data)["rootfs"]["diff_ids"] == [payload.digest]
    assert payload.data == signer.simple_signing_payload(REPOSITORY, DIGEST)
    _verify(key, base64.b64decode(layer["annotations"][signer.SIGNATURE_ANNOTATION]), payload.data)
    assert format_of(manifest).value == "cosign"


def test_signing_again_appends_a_layer_unless_the_same_key_signed_already(key) -> None:
    first = signer.tag_signature(key, REPOSITORY, DIGEST, None)
    assert first is not None
    assert signer.tag_signature(key, REPOSITORY, DIGEST, first.manifest) is None
    other = signer.tag_signature(keys.generate_key_pair(), REPOSITORY, DIGEST, first.manifest)
    assert other is not None
    layers = json.loads(other.manifest)["layers"]
    assert len(layers) == 2 and layers[0] == json.loads(first.manifest)["layers"][0]
    assert json.loads(other.blobs[0].data)["rootfs"]["diff_ids"] == [layer["digest"] for layer in layers]


def test_rsa_keys_sign_pkcs1v15_sha256() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = signer.tag_signature(rsa_key, REPOSITORY, DIGEST, None)
    assert signature is not None
    layer = json.loads(signature.manifest)["layers"][0]
    from cryptography.hazmat.primitives.asymmetric import padding

    rsa_key.public_key().verify(base64.b64decode(layer["annotations"][signer.SIGNATURE_ANNOTATION]),
                                signature.blobs[1].data, padding.PKCS1v15(), hashes.SHA256())


def test_a_bundle_holds_a_dsse_signed_statement_and_the_key_hint(key) -> None:
    bundle = json.loads(signer.sigstore_bundle(key, REPOSITORY, DIGEST))
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": base64.b64encode(hashlib.sha256(spki).digest())
                                                            .decode()}}
    envelope = bundle["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    statement = json.loads(payload)
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": REPOSITORY, "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {},
    }
    [signature] = envelope["signatures"]
    pae = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
    _verify(key, base64.b64decode(signature["sig"]), pae)
    with pytest.raises(InvalidSignature):
        _verify(key, base64.b64decode(signature["sig"]), payload)


def test_a_bundle_referrer_is_cosign_3s_manifest(key) -> None:
    created = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    referrer = signer.bundle_referrer(key, REPOSITORY, {**SUBJECT, "annotations": {"x": "y"}}, created)
    assert referrer.tag is None
    manifest = json.loads(referrer.manifest)
    assert manifest["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert manifest["subject"] == SUBJECT
    assert manifest["annotations"] == {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
        "org.opencontainers.image.created": "2026-12-03T06:00:00Z",
    }
    config, bundle = referrer.blobs
    assert config.data == b"{}" and bundle.digest == layer["digest"]
    assert format_of(manifest).value == "cosign-bundle"


def test_the_referrers_tag_index_lists_each_referrer_once(key) -> None:
    referrer = signer.bundle_referrer(key, REPOSITORY, SUBJECT, datetime.now(UTC))
    index = signer.referrers_index(None, referrer)
    again = json.loads(signer.referrers_index(index, referrer))
    [entry] = again["manifests"]
    assert entry["digest"] == referrer.digest and entry["size"] == len(referrer.manifest)
    assert entry["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert signer.referrers_tag(DIGEST) == "sha256-" + "ab" * 32
