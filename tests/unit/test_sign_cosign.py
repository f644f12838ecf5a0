"""cosign signatures verified offline against real fixtures (containers/image, cosign, sigstore-go):
key, key + Rekor, keyless Fulcio + Rekor, own PKI, Sigstore bundles, and the ways they fail."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.services.artifacts import accessory_type
from berth.sign import cosign
from berth.sign.model import Format, SignatureArtifact, Subject
from berth.sign.policy import Identity, TrustPolicy, key_fingerprint
from berth.sign.sigstore import hint_of
from berth.sign.verify import format_of
from berth.sign.verify import verify as verify_any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "signing"
IMAGES = FIXTURES / "cosign-containers-image"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
SIGNED_AT_KEY_REKOR = datetime.fromtimestamp(1674251859, UTC)
SIGNED_AT_FULCIO = datetime.fromtimestamp(1674247893, UTC)
MITR = Identity(subject="mitr@redhat.com", issuer="https://github.com/login/oauth")
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures/signing is not beside the checkout")


def _text(name: str) -> str:
    return (IMAGES / name).read_text()


def _layer(path: Path) -> tuple[dict[str, Any], bytes]:
    """One layer of a cosign signature manifest from containers/image's on-disk copy of it."""
    raw = path.read_bytes()
    assert raw.startswith(b"\x00sigstore-json\n")
    stored = json.loads(raw[len(b"\x00sigstore-json\n"):])
    payload = base64.b64decode(stored["payload"])
    descriptor = {"mediaType": stored["mimeType"], "digest": "sha256:" + hashlib.sha256(payload).hexdigest(),
                  "size": len(payload), "annotations": stored["annotations"]}
    return descriptor, payload


def _artifact(layers: list[tuple[dict[str, Any], bytes]], **extra: Any) -> SignatureArtifact:
    blobs = {descriptor["digest"]: payload for descriptor, payload in layers}

    def read_blob(digest: str, limit: int) -> bytes:
        blob = blobs[digest]
        if len(blob) > limit:
            raise ValueError("over the limit")
        return blob

    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64,
                           "size": 2},
                "layers": [descriptor for descriptor, _ in layers], **extra}
    digest = "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    return SignatureArtifact(digest, manifest, read_blob)


def _image(name: str) -> tuple[Subject, SignatureArtifact]:
    """The signed image of a fixture folder and its signature manifest (every signature-N a layer)."""
    folder = IMAGES / name
    manifest = (folder / "manifest.json").read_bytes()
    media_type = json.loads(manifest).get("mediaType", "application/vnd.docker.distribution.manifest.v2+json")
    subject = Subject("sha256:" + hashlib.sha256(manifest).hexdigest(), len(manifest), media_type)
    return subject, _artifact([_layer(path) for path in sorted(folder.glob("signature-*"))])


def _check(subject: Subject, artifact: SignatureArtifact, policy: TrustPolicy, kind: Format = Format.COSIGN):
    return cosign.verify(kind, subject, artifact, policy, NOW)


KEY = TrustPolicy(cosign_public_keys=[_text("cosign.pub")]) if IMAGES.is_dir() else None


@pytest.mark.parametrize("name", ["dir-img-cosign-valid", "dir-img-cosign-valid-2", "dir-img-cosign-valid-with-tag"])
def test_key_signatures_verify_with_cosign_pub(name):
    subject, artifact = _image(name)
    assert format_of(artifact.manifest) is Format.COSIGN
    verdict = _check(subject, artifact, KEY)
    assert verdict.verified, verdict.reason
    assert verdict.signer == key_fingerprint(KEY.material.cosign_keys[0])
    assert verdict.signed_at is None
    assert verify_any(subject, artifact, KEY, NOW) == verdict


def test_every_signature_of_a_two_signature_image_verifies_on_its_own():
    subject, _ = _image("dir-img-cosign-valid-2")
    for path in sorted((IMAGES / "dir-img-cosign-valid-2").glob("signature-*")):
        assert _check(subject, _artifact([_layer(path)]), KEY).verified


def test_a_key_the_policy_does_not_hold_is_refused():
    subject, artifact = _image("dir-img-cosign-valid")
    for pem in (_text("cosign2.pub"), _text("some-rsa-key.pub")):
        verdict = _check(subject, artifact, TrustPolicy(cosign_public_keys=[pem]))
        assert (verdict.verified, verdict.reason) == (False, "no trusted key verifies the signature")
    assert _check(subject, artifact, TrustPolicy()).reason == "no trusted key verifies the signature"


def test_a_signature_by_an_unknown_key_is_refused_but_a_good_one_beside_it_counts():
    subject, artifact = _image("dir-img-cosign-mixed")
    unknown = _artifact([_layer(IMAGES / "dir-img-cosign-mixed" / "signature-1")])
    assert _check(subject, unknown, KEY).reason == "no trusted key verifies the signature"
    verdict = _check(subject, artifact, KEY)
    assert verdict.verified
    assert verdict.details["layers"] == ["no trusted key verifies the signature",
                                         "signature verified with a trusted key"]


@pytest.mark.parametrize("name", ["dir-img-cosign-modified-manifest", "dir-img-cosign-manifest-digest-error"])
def test_a_signature_for_another_manifest_is_refused(name):
    subject, artifact = _image(name)
    verdict = _check(subject, artifact, KEY)
    assert not verdict.verified
    assert verdict.reason == (
        "the signature is for sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00, not this image")


def test_an_attachment_that_is_not_a_signature_is_not_a_cosign_signature():
    subject, artifact = _image("dir-img-cosign-other-attachment")
    assert format_of(artifact.manifest) is None
    assert verify_any(subject, artifact, KEY, NOW) is None
    verdict = _check(subject, artifact, KEY)
    assert (verdict.verified, verdict.reason) == (False, "the manifest has no cosign signature layers")


def test_key_and_rekor_verify_with_the_log_time():
    subject, artifact = _image("dir-img-cosign-key-rekor-valid")
    policy = TrustPolicy(cosign_public_keys=[_text("cosign2.pub")], rekor_public_keys=[_text("rekor.pub")],
                         require_tlog=True)
    verdict = _check(subject, artifact, policy)
    assert verdict.verified, verdict.reason
    assert verdict.signed_at == SIGNED_AT_KEY_REKOR
    assert verdict.details == {"log_index": 11608800}


def test_a_required_log_entry_without_the_log_key_fails():
    subject, artifact = _image("dir-img-cosign-key-rekor-valid")
    keyed = TrustPolicy(cosign_public_keys=[_text("cosign2.pub")])
    assert _check(subject, artifact, keyed).verified
    required = keyed.model_copy(update={"require_tlog": True})
    assert _check(subject, artifact, required).reason == (
        "the policy requires a transparency log entry and none verifies")
    unsigned_log = _image("dir-img-cosign-valid")
    assert not _check(*unsigned_log, KEY.model_copy(update={"require_tlog": True})).verified


def _keyless(**changes: Any) -> TrustPolicy:
    policy = {"roots": [_text("fulcio_v1.crt.pem")], "rekor_public_keys": [_text("rekor.pub")], "identities": [MITR]}
    return TrustPolicy(**{**policy, **changes})


def test_keyless_fulcio_and_rekor_verify_at_the_log_time():
    subject, artifact = _image("dir-img-cosign-fulcio-rekor-valid")
    verdict = _check(subject, artifact, _keyless())
    assert verdict.verified, verdict.reason
    assert (verdict.signer, verdict.signed_at) == ("mitr@redhat.com", SIGNED_AT_FULCIO)
    assert _check(subject, artifact, _keyless(identities=[Identity(subject_regexp=r".*@redhat\.com")])).verified


def test_keyless_without_the_log_key_is_judged_now_and_has_expired():
    subject, artifact = _image("dir-img-cosign-fulcio-rekor-valid")
    verdict = _check(subject, artifact, _keyless(rekor_public_keys=[]))
    assert not verdict.verified
    assert verdict.reason == ("the certificate expired at 2023-01-20T21:01:31+00:00 "
                              "(checked at 2026-11-27T00:00:00+00:00)")


@pytest.mark.parametrize(("identity", "reason"), [
    (Identity(subject="alice@example.com"),
     "identity mitr@redhat.com (issuer https://github.com/login/oauth) is not allowed"),
    (Identity(subject="mitr@redhat.com", issuer="https://accounts.google.com"),
     "identity mitr@redhat.com (issuer https://github.com/login/oauth) is not allowed"),
])
def test_keyless_with_another_identity_is_refused(identity, reason):
    subject, artifact = _image("dir-img-cosign-fulcio-rekor-valid")
    assert _check(subject, artifact, _keyless(identities=[identity])).reason == reason
    assert _check(subject, artifact, _keyless(identities=[])).reason == (
        "the policy allows no identity for certificate signatures")


def test_keyless_with_another_root_does_not_chain():
    subject, artifact = _image("dir-img-cosign-fulcio-rekor-valid")
    verdict = _check(subject, artifact, _keyless(roots=[_text("pki_root_crts.pem")]))
    assert verdict.reason == "the certificate does not chain to a trusted root"
    assert _check(subject, artifact, _keyless(roots=[])).reason == (
        "the policy trusts no root for certificate signatures")


def test_keyless_with_a_forged_log_promise_is_refused():
    descriptor, payload = _layer(IMAGES / "dir-img-cosign-fulcio-rekor-valid" / "signature-1")
    bundle = json.loads(descriptor["annotations"]["dev.sigstore.cosign/bundle"])
    bundle["Payload"]["integratedTime"] += 3600
    descriptor["annotations"]["dev.sigstore.cosign/bundle"] = json.dumps(bundle)
    subject, _ = _image("dir-img-cosign-fulcio-rekor-valid")
    verdict = _check(subject, _artifact([(descriptor, payload)]), _keyless())
    assert verdict.reason == "the Rekor entry 11605770 does not verify with the log's key"


def test_a_log_entry_for_another_signature_is_refused():
    """The key+Rekor fixture's entry, grafted onto the keyless signature of the same image."""
    descriptor, payload = _layer(IMAGES / "dir-img-cosign-fulcio-rekor-valid" / "signature-1")
    other, _ = _layer(IMAGES / "dir-img-cosign-key-rekor-valid" / "signature-1")
    descriptor["annotations"]["dev.sigstore.cosign/bundle"] = other["annotations"]["dev.sigstore.cosign/bundle"]
    subject, _ = _image("dir-img-cosign-fulcio-rekor-valid")
    assert _check(subject, _artifact([(descriptor, payload)]), _keyless()).reason == (
        "the Rekor entry 11608800 is for another signature")


def _pki(**changes: Any) -> TrustPolicy:
    policy = {"roots": [_text("pki_root_crts.pem")], "identities": [Identity(subject="qiwan@redhat.com")]}
    return TrustPolicy(**{**policy, **changes})


def test_own_pki_rsa_certificate_verifies_with_its_root():
    subject, artifact = _image("dir-img-cosign-pki-valid")
    verdict = _check(subject, artifact, _pki())
    assert verdict.verified, verdict.reason
    assert (verdict.signer, verdict.signed_at) == ("qiwan@redhat.com", None)
    assert _check(subject, artifact, _pki(intermediates=[_text("pki_intermediate_crts.pem")])).verified


def test_own_pki_refuses_another_identity_root_or_issuer():
    subject, artifact = _image("dir-img-cosign-pki-valid")
    assert _check(subject, artifact, _pki(identities=[Identity(subject="mitr@redhat.com")])).reason == (
        "identity qiwan@redhat.com (issuer none) is not allowed")
    assert _check(subject, artifact, _pki(identities=[Identity(subject="qiwan@redhat.com", issuer="x")])).reason == (
        "identity qiwan@redhat.com (issuer none) is not allowed")
    assert _check(subject, artifact, _pki(roots=[_text("fulcio_v1.crt.pem")])).reason == (
        "the certificate does not chain to a trusted root")


def _bundle_artifact(bundle: bytes) -> SignatureArtifact:
    layer = {"mediaType": BUNDLE_TYPE, "digest": "sha256:" + hashlib.sha256(bundle).hexdigest(), "size": len(bundle)}
    return _artifact([(layer, bundle)], artifactType=BUNDLE_TYPE)


V3_BUNDLE = FIXTURES / "cosign-v3-bundle"
V3_SUBJECT = Subject("sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4", 100,
                     "application/vnd.oci.image.manifest.v1+json")


def _public_good(**changes: Any) -> TrustPolicy:
    policy = {"trusted_root": json.loads((V3_BUNDLE / "trusted_root_pgi.json").read_text()),
              "identities": [Identity(subject="cody@soyland.com", issuer="https://github.com/login/oauth")]}
    return TrustPolicy(**{**policy, **changes})


def test_a_cosign_v3_attestation_verifies_but_is_not_a_signature():
    artifact = _bundle_artifact((V3_BUNDLE / "oci-attestation.sigstore.json").read_bytes())
    assert format_of(artifact.manifest) is Format.COSIGN_BUNDLE
    verdict = _check(V3_SUBJECT, artifact, _public_good(), Format.COSIGN_BUNDLE)
    assert (verdict.verified, verdict.attestation) == (False, True)
    assert verdict.reason == "an attestation (predicate https://cosign.sigstore.dev/attestation/v1) is not a signature"
    assert (verdict.signer, verdict.signed_at) == ("cody@soyland.com", datetime.fromtimestamp(1740770291, UTC))
    assert verify_any(V3_SUBJECT, artifact, _public_good(), NOW) == verdict


def test_a_cosign_v3_bundle_fails_cryptographically_without_its_trust():
    artifact = _bundle_artifact((V3_BUNDLE / "oci-attestation.sigstore.json").read_bytes())
    authorities_only = {"certificateAuthorities": _public_good().trusted_root["certificateAuthorities"]}
    without_log = _check(V3_SUBJECT, artifact, _public_good(trusted_root=authorities_only), Format.COSIGN_BUNDLE)
    assert without_log.reason.startswith("the certificate expired at 2025-02-28T19:28:11+00:00")
    assert without_log.attestation
    other_identity = _check(V3_SUBJECT, artifact, _public_good(identities=[MITR]), Format.COSIGN_BUNDLE)
    assert other_identity.reason == "identity cody@soyland.com (issuer https://github.com/login/oauth) is not allowed"


KEY_BUNDLE = FIXTURES / "sigstore-go-key-bundle"


def test_a_key_signed_bundle_verifies_but_names_an_npm_package_not_this_image():
    policy = TrustPolicy(cosign_public_keys=[(KEY_BUNDLE / "publish_key.pub").read_text()],
                         trusted_root=_public_good().trusted_root, require_tlog=True)
    verdict = cosign.verify_bundle((KEY_BUNDLE / "bundle-publish.json").read_bytes(), V3_SUBJECT, policy, NOW)
    assert verdict.signer == key_fingerprint(policy.material.cosign_keys[0])
    assert verdict.signed_at == datetime.fromtimestamp(1681839916, UTC)
    assert (verdict.verified, verdict.attestation) == (False, True)
    assert verdict.reason.startswith("the signature is for sha512:76176ffa33808b54")
    wrong_key = TrustPolicy(cosign_public_keys=[_text("cosign.pub")], trusted_root=policy.trusted_root)
    bundle = (KEY_BUNDLE / "bundle-publish.json").read_bytes()
    assert cosign.verify_bundle(bundle, V3_SUBJECT, wrong_key, NOW).reason == (
        "no trusted key verifies the signature")


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d, p: d["annotations"].update({"dev.cosignproject.cosign/signature": "not base64!"}),
     "malformed signature: not base64"),
    (lambda d, p: d["annotations"].update({"dev.sigstore.cosign/certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n"}),
     "malformed certificate: not an X.509 certificate"),
    (lambda d, p: d["annotations"].update({"x": "a" * 100_000}),
     "the annotation x is not a string of at most 65536 characters"),
    (lambda d, p: d["annotations"].update({"dev.sigstore.cosign/bundle": "{not json"}),
     "malformed Rekor bundle: not JSON"),
    (lambda d, p: d["annotations"].pop("dev.cosignproject.cosign/signature"),
     "the signature layer has no signature annotation"),
    (lambda d, p: d.update({"digest": "sha256:" + "1" * 64}), "the signature payload does not match its layer digest"),
])
def test_malformed_signatures_are_failed_verdicts(mutate, reason):
    descriptor, payload = _layer(IMAGES / "dir-img-cosign-valid" / "signature-1")
    mutate(descriptor, payload)
    subject, _ = _image("dir-img-cosign-valid")
    blobs = {descriptor["digest"]: payload}
    manifest = {"layers": [descriptor]}
    artifact = SignatureArtifact("sha256:" + "2" * 64, manifest, lambda digest, limit: blobs[digest])
    verdict = _check(subject, artifact, KEY)
    assert (verdict.verified, verdict.reason) == (False, reason)


def test_a_payload_that_is_not_json_or_too_big_is_a_failed_verdict():
    subject, _ = _image("dir-img-cosign-valid")
    descriptor, _ = _layer(IMAGES / "dir-img-cosign-valid" / "signature-1")
    for payload, reason in [(b"{not json", "malformed signature payload: not JSON"),
                            (b"x" * (2 << 20), f"over {1 << 20} bytes")]:
        layer = {**descriptor, "digest": "sha256:" + hashlib.sha256(payload).hexdigest()}
        assert reason in _check(subject, _artifact([(layer, payload)]), KEY).reason
    too_many = _artifact([_layer(IMAGES / "dir-img-cosign-valid" / "signature-1")] * 33)
    assert _check(subject, too_many, KEY).reason == "the signature manifest has over 32 layers"


@pytest.mark.parametrize("bundle", [b"[]", b"{}", b'{"verificationMaterial": {"publicKey": {}}}',
                                    b'{"verificationMaterial": {"certificate": {"rawBytes": "AAAA"}}}'])
def test_malformed_bundles_are_failed_verdicts(bundle):
    verdict = _check(V3_SUBJECT, _bundle_artifact(bundle), _public_good(), Format.COSIGN_BUNDLE)
    assert not verdict.verified and verdict.reason.startswith("malformed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255), which=st.sampled_from(
    ["payload", "dev.cosignproject.cosign/signature", "dev.sigstore.cosign/certificate", "dev.sigstore.cosign/chain",
     "dev.sigstore.cosign/bundle"]))
def test_random_mutations_of_a_keyless_signature_never_raise(position, value, which):
    descriptor, payload = _layer(IMAGES / "dir-img-cosign-fulcio-rekor-valid" / "signature-1")
    if which == "payload":
        data = bytearray(payload)
        data[position % len(data)] = value
        payload = bytes(data)
        descriptor["digest"] = "sha256:" + hashlib.sha256(payload).hexdigest()
    else:
        text = bytearray(descriptor["annotations"][which].encode())
        text[position % len(text)] = value % 128
        descriptor["annotations"][which] = text.decode()
    subject, _ = _image("dir-img-cosign-fulcio-rekor-valid")
    verdict = _check(subject, _artifact([(descriptor, payload)]), _keyless())
    assert verdict.reason


def _generated_keys() -> list[Any]:
    return [ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1()),
            ec.generate_private_key(ec.SECP521R1()), rsa.generate_private_key(65537, 2048),
            ed25519.Ed25519PrivateKey.generate()]


def _sign(private: Any, data: bytes, prehashed: bool = False) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        algorithm = hashes.SHA256() if prehashed else {256: hashes.SHA256(), 384: hashes.SHA384()}.get(
            private.curve.key_size, hashes.SHA512())
        return private.sign(data, ec.ECDSA(Prehashed(algorithm) if prehashed else algorithm))
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, padding.PKCS1v15(), Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256())
    return private.sign(data)


def _pem(private: Any) -> str:
    return private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize("private", _generated_keys(), ids=["p256", "p384", "p521", "rsa2048", "ed25519"])
def test_every_key_type_cosign_signs_with_verifies(private):
    subject, _ = _image("dir-img-cosign-valid")
    descriptor, payload = _layer(IMAGES / "dir-img-cosign-valid" / "signature-1")
    descriptor["annotations"]["dev.cosignproject.cosign/signature"] = base64.b64encode(_sign(private, payload)).decode()
    policy = TrustPolicy(cosign_public_keys=[_text("cosign.pub"), _pem(private)])
    verdict = _check(subject, _artifact([(descriptor, payload)]), policy)
    assert verdict.verified, verdict.reason
    assert verdict.signer == key_fingerprint(private.public_key())


@pytest.mark.parametrize("private", _generated_keys()[:4], ids=["p256", "p384", "p521", "rsa2048"])
def test_a_message_signature_bundle_over_the_image_digest_verifies(private):
    digest = bytes.fromhex(V3_SUBJECT.digest.removeprefix("sha256:"))
    bundle = {"mediaType": BUNDLE_TYPE, "verificationMaterial": {"publicKey": {"hint": hint_of(private.public_key())}},
              "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                                                     "digest": base64.b64encode(digest).decode()},
                                   "signature": base64.b64encode(_sign(private, digest, prehashed=True)).decode()}}
    artifact = _bundle_artifact(json.dumps(bundle).encode())
    policy = TrustPolicy(cosign_public_keys=[_pem(private)])
    verdict = _check(V3_SUBJECT, artifact, policy, Format.COSIGN_BUNDLE)
    assert (verdict.verified, verdict.attestation) == (True, False), verdict.reason
    other = Subject("sha256:" + "0" * 64, 1, V3_SUBJECT.media_type)
    reason = _check(other, artifact, policy, Format.COSIGN_BUNDLE).reason
    assert reason == f"the signature is for {V3_SUBJECT.digest}, not this image"


def test_a_dsse_bundle_with_cosigns_sign_predicate_is_a_signature():
    private = _generated_keys()[0]
    statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://sigstore.dev/cosign/sign/v1",
                 "subject": [{"name": "repo", "digest": {"sha256": V3_SUBJECT.digest.removeprefix("sha256:")}}],
                 "predicate": {}}
    payload = json.dumps(statement).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(b"application/vnd.in-toto+json"), b"application/vnd.in-toto+json",
                                   len(payload), payload)
    bundle = {"mediaType": BUNDLE_TYPE, "verificationMaterial": {"publicKey": {"hint": "unknown"}},
              "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
                               "payload": base64.b64encode(payload).decode(),
                               "signatures": [{"sig": base64.b64encode(_sign(private, pae)).decode()}]}}
    verdict = _check(V3_SUBJECT, _bundle_artifact(json.dumps(bundle).encode()),
                     TrustPolicy(cosign_public_keys=[_text("cosign.pub"), _pem(private)]), Format.COSIGN_BUNDLE)
    assert (verdict.verified, verdict.attestation) == (True, False)
    assert verdict.reason == "bundle verified with a trusted key"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=127))
def test_random_mutations_of_a_bundle_never_raise(position, value):
    data = bytearray((V3_BUNDLE / "oci-attestation.sigstore.json").read_bytes())
    data[position % len(data)] = value
    verdict = _check(V3_SUBJECT, _bundle_artifact(bytes(data)), _public_good(), Format.COSIGN_BUNDLE)
    assert verdict.reason and not verdict.verified


@pytest.mark.parametrize(("media_type", "bundle"), [
    ("application/vnd.dev.sigstore.bundle.v0.3+json", True),
    ("application/vnd.dev.sigstore.bundle+json;version=0.2", True),  # sigstore-js, legacyCompatibility
    ("application/vnd.dev.sigstore.bundle+json; version=0.3", True),
    ("application/vnd.dev.sigstore.bundle+json", False),
    ("application/vnd.dev.sigstore.bundle.v0.3+jsonx", False),
    ("application/vnd.dev.cosign.artifact.sig.v1+json", False),
])
def test_a_sigstore_bundle_is_a_cosign_signature_in_either_media_type_spelling(media_type: str, bundle: bool):
    manifest = {"artifactType": media_type, "layers": [{"mediaType": media_type}]}
    assert (format_of(manifest) is Format.COSIGN_BUNDLE) is bundle
    cosign_artifact = media_type == "application/vnd.dev.cosign.artifact.sig.v1+json"
    assert (accessory_type(media_type) == "signature.cosign") is (bundle or cosign_artifact)
