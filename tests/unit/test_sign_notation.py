"""Notation signatures (berth.sign.notation): real Notation 1.x envelopes from notation-go verify with
their roots (and RFC 3161 timestamps with the TSA root); each way a signature can be wrong is refused
with its reason; no input makes verification raise."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.sign import verify as dispatch
from berth.sign.model import Format, SignatureArtifact, Subject, Verdict
from berth.sign.notation import MAX_ENVELOPE_BYTES, verify
from berth.sign.policy import Identity, TrustPolicy
from berth.sign.timestamp import TimestampError, verify_token

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "signing"
NOTATION = FIXTURES / "notation-go"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ANYONE = [Identity(x509_subject="*")]
ALPINE = "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SCHEME = "io.cncf.notary.signingScheme"

pytestmark = pytest.mark.skipif(not NOTATION.is_dir(), reason="shared/fixtures/signing is not beside the checkout")


# ---- building what the registry would hand the verifier ------------------------------------------------------------


def artifact(blob: bytes, kind: Format, subject: Subject | None = None, **layer: Any) -> SignatureArtifact:
    """A Notation signature manifest around one envelope, as `notation sign` pushes it."""
    media_type = "application/cose" if kind is Format.NOTATION_COSE else "application/jose+json"
    descriptor = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa3", "size": 2},
        "layers": [{**descriptor, **layer}],
    }
    if subject is not None:
        manifest["subject"] = {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size}

    def read_blob(digest: str, limit: int) -> bytes:
        if len(blob) > limit:
            raise ValueError("over the limit")
        return blob

    return SignatureArtifact(digest="sha256:" + "0" * 64, manifest=manifest, read_blob=read_blob)


def kind_of(blob: bytes) -> Format:
    return Format.NOTATION_COSE if blob[:1] == b"\xd2" else Format.NOTATION_JWS


def target_of(blob: bytes) -> Subject:
    """The descriptor an envelope signs (for fixtures whose image is not in the shared oci-layout)."""
    if kind_of(blob) is Format.NOTATION_COSE:
        payload = cbor2.loads(blob).value[2]
    else:
        payload = b64url_decode(json.loads(blob)["payload"])
    target = json.loads(payload)["targetArtifact"]
    return Subject(target["digest"], target["size"], target["mediaType"])


def layout_subject() -> Subject:
    """The alpine manifest that notation-go's jws_signature.sig and cose_signature.sig sign."""
    descriptor = json.loads((NOTATION / "oci-layout" / "index.json").read_bytes())["manifests"][0]
    blob = (NOTATION / "oci-layout" / "blobs" / "sha256" / descriptor["digest"].removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == descriptor["digest"]
    return Subject(descriptor["digest"], len(blob), descriptor["mediaType"])


def pem(path: Path) -> str:
    data = path.read_bytes()
    certificate = x509.load_pem_x509_certificate(data) if b"BEGIN" in data else x509.load_der_x509_certificate(data)
    return certificate.public_bytes(Encoding.PEM).decode()


def root_in(blob: bytes) -> str:
    """The last certificate of an envelope's chain (the self-signed leaf of notation-go's test envelopes)."""
    if kind_of(blob) is Format.NOTATION_COSE:
        chain = cbor2.loads(blob).value[1][33]
        der = chain if isinstance(chain, bytes) else chain[-1]
    else:
        der = base64.b64decode(json.loads(blob)["header"]["x5c"][-1])
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()


def check(blob: bytes, subject: Subject | None = None, *, roots: list[str] | None = None, tsa: list[str] | None = None,
          identities: list[Identity] | None = None, now: datetime = NOW) -> Verdict:
    kind = kind_of(blob)
    policy = TrustPolicy(mode="enforce", roots=roots if roots is not None else [root_in(blob)], tsa_roots=tsa or [],
                         identities=ANYONE if identities is None else identities)
    return verify(kind, subject or target_of(blob), artifact(blob, kind), policy, now)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fixture(name: str) -> bytes:
    return (NOTATION / name).read_bytes()


# ---- our own signer, for envelopes the fixtures do not have --------------------------------------------------------


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acme"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
                *, ca: bool, usages: list[x509.ObjectIdentifier] | None = None,
                not_after: datetime = NOW + timedelta(days=365)) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer_name))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=30)).not_valid_after(not_after))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


CODE_SIGNING = [ExtendedKeyUsageOID.CODE_SIGNING]


class Signer:
    """A P-256 leaf under a P-256 root CA, signing JWS envelopes the way Notation does."""

    def __init__(self, usages: list[x509.ObjectIdentifier] | None = CODE_SIGNING,
                 leaf_not_after: datetime | None = None) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = certificate("acme root", self.root_key, None, ca=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = certificate("acme signer", self.key, ("acme root", self.root_key), ca=False,
                                usages=usages,
                                not_after=leaf_not_after or NOW + timedelta(days=365))

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(Encoding.PEM).decode()

    def jws(self, subject: Subject, **header: Any) -> bytes:
        protected: dict[str, Any] = {"alg": "ES256", "crit": [SCHEME], "cty": PAYLOAD_TYPE,
                                     SCHEME: "notary.x509", "io.cncf.notary.signingTime": "2026-05-01T10:00:00Z"}
        protected.update(header)
        payload = {"targetArtifact": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size}}
        signing_input = f"{b64url(json.dumps(protected).encode())}.{b64url(json.dumps(payload).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in (self.leaf, self.root)]
        protected_b64, payload_b64 = signing_input.split(".")
        return json.dumps({"payload": payload_b64, "protected": protected_b64, "header": {"x5c": chain},
                           "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}).encode()


IMAGE = Subject("sha256:" + "ab" * 32, 1234, "application/vnd.oci.image.manifest.v1+json")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


# ---- real envelopes verify -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jws_signature.sig", "cose_signature.sig"])
def test_notation_envelope_verifies_with_its_root(name: str) -> None:
    blob = fixture(name)
    verdict = check(blob, layout_subject())
    assert verdict.verified, verdict.reason
    assert verdict.format is kind_of(blob)
    assert verdict.signer == ALPINE
    assert verdict.signed_at is not None and verdict.signed_at.year == 2023
    assert verdict.details["signing_agent"] == "Notation/1.0.0"


def test_verify_dispatches_a_notation_manifest_here() -> None:
    blob = fixture("cose_signature.sig")
    policy = TrustPolicy(mode="enforce", roots=[root_in(blob)], identities=ANYONE)
    verdict = dispatch.verify(layout_subject(), artifact(blob, Format.NOTATION_COSE, layout_subject()), policy, NOW)
    assert verdict is not None and verdict.verified and verdict.format is Format.NOTATION_COSE


@pytest.mark.parametrize("name", ["ca_valid_sig_env.json", "sa_valid_sig_env.json"])
def test_ps384_chain_under_a_ca_root_verifies(name: str) -> None:
    blob = fixture(f"mock/{name}")
    verdict = check(blob, roots=[pem(NOTATION / "truststore" / "ca-NotationTestRoot.pem")])
    assert verdict.verified, verdict.reason
    assert verdict.signer == "C=US, ST=WA, L=Seattle, O=Notary, CN=Notation Test Root"
    assert verdict.signed_at == datetime(2020, 11, 9, 7, tzinfo=UTC)


def test_signing_authority_scheme_judges_certificates_at_the_authentic_signing_time() -> None:
    root = pem(NOTATION / "truststore" / "ca-NotationTestRoot.pem")
    before_the_leaf = datetime(2020, 10, 1, tzinfo=UTC)
    authority = check(fixture("mock/sa_valid_sig_env.json"), roots=[root], now=before_the_leaf)
    assert authority.verified, authority.reason
    assert authority.details["scheme"] == "notary.x509.signingAuthority"
    plain = check(fixture("mock/ca_valid_sig_env.json"), roots=[root], now=before_the_leaf)
    assert plain.reason.endswith(
        "is not valid before 2020-10-09T07:00:00+00:00 (checked at now, 2020-10-01T00:00:00+00:00)")


@pytest.mark.parametrize("name", ["jwsWithTimestamp.sig", "coseWithTimestamp.sig", "withoutTimestamp.sig"])
def test_timestamp_fixtures_verify_with_their_root(name: str) -> None:
    blob = fixture(f"timestamp/{name}")
    verdict = check(blob, roots=[pem(NOTATION / "truststore" / "ca-TestTimestamp-alpine.crt")],
                    tsa=[pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer")])
    assert verdict.verified, verdict.reason
    assert verdict.signer == ALPINE


@pytest.mark.parametrize("name", ["jwsWithTimestamp.sig", "coseWithTimestamp.sig"])
def test_a_verified_timestamp_is_the_signing_time(name: str) -> None:
    blob = fixture(f"timestamp/{name}")
    verdict = check(blob, tsa=[pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer")])
    assert verdict.verified, verdict.reason
    assert "GlobalSign" in verdict.details["timestamp_authority"]
    assert verdict.signed_at is not None
    assert abs(verdict.signed_at - datetime(2024, 6, 18, 6, 28, tzinfo=UTC)) < timedelta(minutes=3)


@pytest.mark.parametrize("name", ["jwsExpiredWithTimestamp.sig", "coseExpiredWithTimestamp.sig"])
def test_expired_certificate_is_refused_without_a_trusted_timestamp(name: str) -> None:
    verdict = check(fixture(f"timestamp/{name}"))
    assert not verdict.verified
    assert "CN=testTSA expired at 2024-06-18T07:30:31+00:00" in verdict.reason


@pytest.mark.parametrize("name", ["jwsExpiredWithTimestamp.sig", "coseExpiredWithTimestamp.sig"])
def test_expired_certificate_verifies_when_a_trusted_timestamp_proves_it_was_valid(name: str) -> None:
    verdict = check(fixture(f"timestamp/{name}"), tsa=[pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer")])
    assert verdict.verified, verdict.reason
    assert verdict.signed_at is not None and verdict.signed_at.isoformat().startswith("2024-06-18T07:21")


def test_timestamp_from_an_untrusted_authority_is_refused() -> None:
    verdict = check(fixture("timestamp/jwsWithTimestamp.sig"),
                    tsa=[pem(NOTATION / "truststore" / "ca-NotationTestRoot.pem")])
    assert not verdict.verified
    assert verdict.reason.startswith("the timestamp authority CN=Globalsign TSA")
    assert verdict.reason.endswith("is not trusted")


def test_timestamp_over_other_bytes_is_refused() -> None:
    envelope = json.loads(fixture("timestamp/jwsWithTimestamp.sig"))
    envelope["header"]["io.cncf.notary.timestampSignature"] = json.loads(
        fixture("timestamp/jwsExpiredWithTimestamp.sig"))["header"]["io.cncf.notary.timestampSignature"]
    verdict = check(json.dumps(envelope).encode(), tsa=[pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer")])
    assert verdict.reason == "the timestamp token is for other data than this signature"


# ---- each way a signature is wrong is refused ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jws_signature.sig", "cose_signature.sig"])
def test_wrong_root_is_refused(name: str) -> None:
    verdict = check(fixture(name), layout_subject(), roots=[pem(NOTATION / "truststore" / "ca-NotationTestRoot.pem")])
    assert not verdict.verified
    assert verdict.reason == f"the certificate chain of {ALPINE} does not lead to a trusted root"


def tamper(blob: bytes) -> bytes:
    """The envelope with one byte of its signed payload changed and everything else kept."""
    if kind_of(blob) is Format.NOTATION_COSE:
        message = cbor2.loads(blob)
        protected, unprotected, payload, signature = message.value
        changed = payload.replace(b'"size":481', b'"size":482')
        return cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), changed, signature]))
    envelope = json.loads(blob)
    envelope["payload"] = b64url(b64url_decode(envelope["payload"]).replace(b'"size":481', b'"size":482'))
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("name", ["jws_signature.sig", "cose_signature.sig"])
def test_tampered_payload_is_refused(name: str) -> None:
    blob = tamper(fixture(name))
    verdict = check(blob, Subject(layout_subject().digest, 482, layout_subject().media_type))
    assert not verdict.verified
    assert verdict.reason == "the signature does not verify with its certificate's key"


@pytest.mark.parametrize("change", [{"digest": "sha256:" + "0" * 64}, {"size": 480},
                                    {"media_type": "application/vnd.docker.distribution.manifest.v2+json"}])
@pytest.mark.parametrize("name", ["jws_signature.sig", "cose_signature.sig"])
def test_signature_for_another_image_is_refused(name: str, change: dict[str, Any]) -> None:
    real = layout_subject()
    other = Subject(**{"digest": real.digest, "size": real.size, "media_type": real.media_type, **change})
    verdict = check(fixture(name), other)
    assert not verdict.verified
    assert verdict.reason == (f"the signature is for {real.digest} (size 481, {real.media_type}), not this image")


def test_envelope_not_matching_its_layer_digest_is_refused() -> None:
    blob = fixture("jws_signature.sig")
    wrong = artifact(blob, Format.NOTATION_JWS, digest="sha256:" + "1" * 64)
    policy = TrustPolicy(roots=[root_in(blob)], identities=ANYONE)
    verdict = verify(Format.NOTATION_JWS, layout_subject(), wrong, policy, NOW)
    assert verdict.reason == "the signature envelope does not match its layer digest"


@pytest.mark.parametrize("declared", [None, 100])
def test_envelope_over_the_cap_is_refused(declared: int | None) -> None:
    """Refused by its declared size, or when the reader meets the cap (a layer that lied about its size)."""
    blob = b"{" + b" " * MAX_ENVELOPE_BYTES + b"}"
    signature = artifact(blob, Format.NOTATION_JWS, **({} if declared is None else {"size": declared}))
    verdict = verify(Format.NOTATION_JWS, IMAGE, signature, TrustPolicy(identities=ANYONE), NOW)
    assert verdict.reason == f"the signature envelope is over {MAX_ENVELOPE_BYTES} bytes"


def test_manifest_with_two_layers_is_refused() -> None:
    blob = fixture("jws_signature.sig")
    signature = artifact(blob, Format.NOTATION_JWS)
    signature.manifest["layers"].append(signature.manifest["layers"][0])
    verdict = verify(Format.NOTATION_JWS, layout_subject(), signature, TrustPolicy(roots=[root_in(blob)]), NOW)
    assert verdict.reason == "a Notation signature manifest must have exactly one layer"


def test_identity_not_in_the_policy_is_refused() -> None:
    verdict = check(fixture("jws_signature.sig"), layout_subject(),
                    identities=[Identity(x509_subject="C=US, ST=WA, O=Notary, CN=someone-else")])
    assert not verdict.verified
    assert verdict.reason == f"signer {ALPINE} is not allowed"
    assert verdict.signer == ALPINE


def test_no_identities_trust_no_notation_signer() -> None:
    verdict = check(fixture("cose_signature.sig"), layout_subject(), identities=[])
    assert verdict.reason == f"signer {ALPINE} is not allowed"


def test_identity_naming_part_of_the_subject_is_allowed() -> None:
    verdict = check(fixture("cose_signature.sig"), layout_subject(),
                    identities=[Identity(x509_subject="C=US, ST=WA, L=Seattle, O=Notary, CN=alpine"),
                                Identity(subject="alice@example.com")])
    assert verdict.verified, verdict.reason


def test_unknown_critical_header_in_a_real_envelope_is_refused() -> None:
    envelope = json.loads(fixture("jws_signature.sig"))
    protected = json.loads(b64url_decode(envelope["protected"]))
    protected["crit"].append("io.example.frobnicate")
    protected["io.example.frobnicate"] = True
    envelope["protected"] = b64url(json.dumps(protected).encode())
    verdict = check(json.dumps(envelope).encode(), layout_subject())
    assert verdict.reason == "unknown critical header io.example.frobnicate"


def test_unknown_critical_header_is_refused_even_when_the_signature_verifies(signer: Signer) -> None:
    assert check(signer.jws(IMAGE), IMAGE, roots=[signer.root_pem]).verified
    blob = signer.jws(IMAGE, crit=[SCHEME, "io.example.frobnicate"], **{"io.example.frobnicate": "x"})
    verdict = check(blob, IMAGE, roots=[signer.root_pem])
    assert not verdict.verified
    assert verdict.reason == "unknown critical header io.example.frobnicate"


def test_own_ecdsa_chain_verifies_with_the_ca_root(signer: Signer) -> None:
    verdict = check(signer.jws(IMAGE), IMAGE, roots=[signer.root_pem],
                    identities=[Identity(x509_subject="O=acme, CN=acme signer")])
    assert verdict.verified, verdict.reason
    assert verdict.signer == "C=US, O=acme, CN=acme signer"
    assert verdict.signed_at == datetime(2026, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(("header", "reason"), [
    ({"alg": "ES384"}, "the signature algorithm ES384 does not match the signing key (ES256)"),
    ({"alg": "HS256"}, "the signature algorithm HS256 is not one Notation uses"),
    ({"cty": "application/json"}, f"the signed content type is not {PAYLOAD_TYPE}"),
    ({SCHEME: "notary.default"},
     "the signing scheme notary.default is not notary.x509 or notary.x509.signingAuthority"),
    ({"crit": []}, "the protected header has no crit list"),
    ({"crit": [SCHEME, "io.cncf.notary.expiry"]}, "the critical header io.cncf.notary.expiry is missing"),
    ({"io.cncf.notary.expiry": "2099-01-01T00:00:00Z"}, "the header io.cncf.notary.expiry must be marked critical"),
    ({"io.cncf.notary.signingTime": "yesterday"}, "the header io.cncf.notary.signingTime is not an RFC 3339 time"),
    ({"crit": [SCHEME, "io.cncf.notary.expiry"], "io.cncf.notary.expiry": "2026-01-01T00:00:00+01:00"},
     "the signature expired at 2025-12-31T23:00:00+00:00"),
    ({SCHEME: "notary.x509.signingAuthority"},
     "the notary.x509.signingAuthority signing scheme needs the header io.cncf.notary.authenticSigningTime"),
])
def test_protected_header_rules(signer: Signer, header: dict[str, Any], reason: str) -> None:
    verdict = check(signer.jws(IMAGE, **header), IMAGE, roots=[signer.root_pem])
    assert not verdict.verified
    assert verdict.reason == reason


@pytest.mark.parametrize(("usages", "fragment"), [
    ([ExtendedKeyUsageOID.SERVER_AUTH], "is not a code signing certificate"),
    ([ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.TIME_STAMPING], "is not a code signing certificate"),
])
def test_leaf_that_is_not_for_code_signing_is_refused(usages: list[x509.ObjectIdentifier], fragment: str) -> None:
    signer = Signer(usages=usages)
    verdict = check(signer.jws(IMAGE), IMAGE, roots=[signer.root_pem])
    assert not verdict.verified
    assert fragment in verdict.reason


def test_leaf_without_extended_key_usage_is_accepted() -> None:
    signer = Signer(usages=None)
    assert check(signer.jws(IMAGE), IMAGE, roots=[signer.root_pem]).verified


def test_root_that_is_not_a_ca_is_refused() -> None:
    fake = Signer()
    fake.root = certificate("acme root", fake.root_key, None, ca=False)
    verdict = check(fake.jws(IMAGE), IMAGE, roots=[fake.root_pem])
    assert verdict.reason == "certificate C=US, O=acme, CN=acme root in the chain is not a CA"


def test_expired_leaf_is_refused_at_now() -> None:
    signer = Signer(leaf_not_after=NOW - timedelta(days=1))
    verdict = check(signer.jws(IMAGE), IMAGE, roots=[signer.root_pem])
    assert verdict.reason.startswith("certificate C=US, O=acme, CN=acme signer expired at ")


def test_leaf_trusted_directly_when_the_policy_pins_it(signer: Signer) -> None:
    leaf_pem = signer.leaf.public_bytes(Encoding.PEM).decode()
    assert check(signer.jws(IMAGE), IMAGE, roots=[leaf_pem]).verified


# ---- the notation-core-go conformance vectors ----------------------------------------------------------------------


def test_jws_conformance_vector_is_refused_for_its_unknown_critical_key() -> None:
    envelope = json.loads((FIXTURES / "notation-core-go" / "jws-conformance.json").read_bytes())
    envelope["header"]["x5c"] = json.loads(fixture("jws_signature.sig"))["header"]["x5c"]
    verdict = check(json.dumps(envelope).encode(), IMAGE)
    assert verdict.reason == "unknown critical header signedCritKey1"


def test_cose_conformance_vector_is_refused_for_its_unknown_critical_key() -> None:
    vector = json.loads((FIXTURES / "notation-core-go" / "cose-conformance.json").read_bytes())
    message = cbor2.loads(bytes.fromhex(vector["expectedOutput"]["cborHex"]))
    protected, unprotected, payload, signature = message.value
    chain = cbor2.loads(fixture("cose_signature.sig")).value[1][33]
    blob = cbor2.dumps(cbor2.CBORTag(18, [protected, {**unprotected, 33: list(chain)}, payload, signature]))
    verdict = check(blob, IMAGE)
    assert verdict.reason == "unknown critical header signedCritKey1"


# ---- bad input is a failed verdict, never an exception -------------------------------------------------------------


def jws_with(**changes: Any) -> bytes:
    envelope = json.loads(fixture("jws_signature.sig"))
    envelope.update(changes)
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(("blob", "kind", "reason"), [
    (b"not json", Format.NOTATION_JWS, "the JWS envelope is not valid JSON"),
    (b"[1, 2]", Format.NOTATION_JWS, "the JWS envelope is not a JSON object"),
    (b"{}", Format.NOTATION_JWS, "the JWS envelope has no protected"),
    (jws_with(protected="!!!"), Format.NOTATION_JWS, "the JWS protected header is not base64url"),
    (jws_with(protected=b64url(b"[]")), Format.NOTATION_JWS, "the JWS protected header is not a JSON object"),
    (jws_with(header={"x5c": ["@@@"]}), Format.NOTATION_JWS, "the JWS x5c certificate is not base64"),
    (jws_with(header={"x5c": [base64.b64encode(b"not a certificate").decode()]}), Format.NOTATION_JWS,
     "a certificate in the chain does not parse"),
    (jws_with(header={"x5c": []}), Format.NOTATION_JWS, "the certificate chain must have 1 to 10 certificates"),
    (jws_with(header="x5c"), Format.NOTATION_JWS, "the JWS unprotected header is not an object"),
    (jws_with(protected=b64url(b'{"alg": "PS256", "pad": "' + b"x" * 600_000 + b'"}')), Format.NOTATION_JWS,
     "the protected header has no crit list"),
    (b"\xff\xff", Format.NOTATION_COSE, "the COSE envelope is not valid CBOR"),
    (cbor2.dumps(cbor2.CBORTag(98, [])), Format.NOTATION_COSE, "the COSE envelope is not a COSE_Sign1 message"),
    (cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, None, b""])), Format.NOTATION_COSE,
     "the COSE envelope is not a COSE_Sign1 message with an attached payload"),
    (cbor2.dumps(cbor2.CBORTag(18, [b"\xff", {}, b"", b""])), Format.NOTATION_COSE,
     "the COSE protected header is not valid CBOR"),
    (cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -37}), {33: 5}, b"", b""])), Format.NOTATION_COSE,
     "the COSE envelope has no x5chain certificate chain"),
    (b"\x81" * 200_000, Format.NOTATION_COSE, "the COSE envelope is not valid CBOR"),
])
def test_malformed_envelope_is_a_failed_verdict(blob: bytes, kind: Format, reason: str) -> None:
    policy = TrustPolicy(roots=[root_in(fixture("jws_signature.sig"))], identities=ANYONE)
    verdict = verify(kind, IMAGE, artifact(blob, kind), policy, NOW)
    assert not verdict.verified
    assert verdict.reason == reason


def test_a_failing_blob_store_is_not_a_verdict() -> None:
    """Storage errors propagate: a refusal would be cached as if the signature were bad."""
    blob = fixture("jws_signature.sig")
    signature = artifact(blob, Format.NOTATION_JWS)

    def unavailable(digest: str, limit: int) -> bytes:
        raise OSError("storage unavailable")

    down = SignatureArtifact(digest=signature.digest, manifest=signature.manifest, read_blob=unavailable)
    with pytest.raises(OSError, match="storage unavailable"):
        verify(Format.NOTATION_JWS, layout_subject(), down, TrustPolicy(roots=[root_in(blob)]), NOW)


def test_malformed_manifest_is_a_failed_verdict() -> None:
    broken = SignatureArtifact(digest="sha256:00", manifest={"layers": "nope"}, read_blob=lambda d, n: b"")
    verdict = verify(Format.NOTATION_JWS, IMAGE, broken, TrustPolicy(), NOW)
    assert verdict.reason == "a Notation signature manifest must have exactly one layer"


ENVELOPES = [fixture(n) for n in ("jws_signature.sig", "cose_signature.sig", "timestamp/coseWithTimestamp.sig",
                                  "timestamp/jwsWithTimestamp.sig")] if NOTATION.is_dir() else [b""]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ENVELOPES), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                                           max_size=4), st.integers(0, 1 << 20))
def test_mutated_envelopes_never_raise(blob: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(blob)
    for position, value in edits:
        data[position % len(data)] = value
    mutated = bytes(data[: max(1, cut % (len(data) + 1))])
    policy = TrustPolicy(roots=[root_in(blob)], tsa_roots=[pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer")],
                         identities=ANYONE)
    verdict = verify(kind_of(blob), target_of(blob), artifact(mutated, kind_of(blob)), policy, NOW)
    assert isinstance(verdict, Verdict)
    assert isinstance(verdict.reason, str) and verdict.reason


TOKEN = base64.b64decode(json.loads(fixture("timestamp/jwsWithTimestamp.sig"))["header"][
    "io.cncf.notary.timestampSignature"]) if NOTATION.is_dir() else b""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=3))
def test_mutated_timestamp_tokens_fail_only_as_timestamp_errors(edits: list[tuple[int, int]]) -> None:
    data = bytearray(TOKEN)
    for position, value in edits:
        data[position % len(data)] = value
    signature = b64url_decode(json.loads(fixture("timestamp/jwsWithTimestamp.sig"))["signature"])
    root = x509.load_pem_x509_certificate(pem(NOTATION / "truststore" / "tsa-globalsignRoot.cer").encode())
    try:
        stamp = verify_token(bytes(data), signature, [root])
    except TimestampError:
        return
    assert stamp.time.year == 2024  # an edit the signature does not cover (an unsigned certificate byte, say)
