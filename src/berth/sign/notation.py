"""Notation (Notary Project v1) signatures verified offline: the JWS or COSE envelope in the signature
manifest's one layer, its certificate chain against the policy's roots (judged at a trusted time), the
signer against the policy's identities, and the signed target against the image."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2
import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

from berth.sign.model import Format, SignatureArtifact, Subject, Verdict
from berth.sign.policy import TrustPolicy
from berth.sign.timestamp import Timestamp, TimestampError, issued_by, verify_token

PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
#: an envelope is a few KiB (a chain and a timestamp token); anything far larger is not one
MAX_ENVELOPE_BYTES = 1 << 20
MAX_CHAIN = 10

SIGNING_SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime"
EXPIRY = "io.cncf.notary.expiry"
TIMESTAMP_SIGNATURE = "io.cncf.notary.timestampSignature"
SIGNING_AGENT = "io.cncf.notary.signingAgent"
SCHEME_X509 = "notary.x509"
SCHEME_SIGNING_AUTHORITY = "notary.x509.signingAuthority"
#: the critical header parameters berth acts on; any other one listed in `crit` refuses the signature
UNDERSTOOD_CRITICAL = frozenset({SIGNING_SCHEME, SIGNING_TIME, AUTHENTIC_SIGNING_TIME, EXPIRY})

#: algorithm name -> hash; the key decides which one a signer must use (_algorithm_for)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256, "PS384": hashes.SHA384, "PS512": hashes.SHA512,
    "ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512,
}
_COSE_ALGORITHMS = {-37: "PS256", -38: "PS384", -39: "PS512", -7: "ES256", -35: "ES384", -36: "ES512"}
_RSA_ALGORITHMS = {2048: "PS256", 3072: "PS384", 4096: "PS512"}
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_FORBIDDEN_USAGES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection", ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_DN_NAMES = {"countryName": "C", "stateOrProvinceName": "ST", "localityName": "L", "organizationName": "O",
             "organizationalUnitName": "OU", "commonName": "CN", "emailAddress": "E"}


class Refused(Exception):
    """Why a signature fails, raised where a check fails and turned into the verdict by `verify`."""

    def __init__(self, reason: str, signer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.signer = signer


@dataclass(frozen=True, slots=True)
class Envelope:
    """What berth needs of a JWS or COSE envelope, parsed but not yet trusted."""

    #: the protected header with Notation's keys by name (`alg`, `crit`, `cty` as JWS names them)
    header: dict[str, Any]
    algorithm: str
    payload: bytes
    #: the exact bytes the signature covers (JWS signing input, COSE Sig_structure)
    signed_bytes: bytes
    #: as the envelope carries it: RSA-PSS bytes, or ECDSA r||s
    signature: bytes
    chain: list[x509.Certificate]
    timestamp_token: bytes | None
    signing_agent: str


def verify(kind: Format, subject: Subject, artifact: SignatureArtifact, policy: TrustPolicy, now: datetime) -> Verdict:
    """The verdict of one Notation signature manifest on `subject`. Never raises for bad input: a
    malformed manifest, envelope or certificate is a failed verdict with the reason. An error of the
    blob reader other than its ValueError for the size cap (storage down) does propagate: it says
    nothing about the signature, and a verdict may be cached."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        blob = _envelope_blob(kind, artifact)
    except Refused as refused:
        return Verdict(verified=False, format=kind, reason=refused.reason)
    try:
        return _verify(kind, blob, subject, policy, now)
    except Refused as refused:
        return Verdict(verified=False, format=kind, reason=refused.reason, signer=refused.signer)
    except Exception as error:  # noqa: BLE001 - the promise is a verdict for any input, parsers raise many types
        reason = f"the Notation signature is malformed ({type(error).__name__})"
        return Verdict(verified=False, format=kind, reason=reason)


def _verify(kind: Format, blob: bytes, subject: Subject, policy: TrustPolicy, now: datetime) -> Verdict:
    envelope = parse_cose(blob) if kind is Format.NOTATION_COSE else parse_jws(blob)
    header = envelope.header
    _check_header(header)
    leaf = envelope.chain[0]
    signer = distinguished_name(leaf.subject)
    _check_signature(envelope, leaf)
    _check_target(envelope.payload, subject)
    check_chain(envelope.chain, signer)
    material = policy.material
    if not any(certificate in material.roots for certificate in envelope.chain):
        raise Refused(f"the certificate chain of {signer} does not lead to a trusted root", signer)
    stamp = _timestamp(envelope, material.tsa_roots, signer)
    scheme = header[SIGNING_SCHEME]
    if stamp is not None:
        _check_validity(envelope.chain, stamp.earliest, stamp.latest, "the timestamp", signer)
    elif scheme == SCHEME_SIGNING_AUTHORITY:
        at = header[AUTHENTIC_SIGNING_TIME]
        _check_validity(envelope.chain, at, at, "the authentic signing time", signer)
    else:
        _check_validity(envelope.chain, now, now, "now", signer)
    expiry = header.get(EXPIRY)
    if expiry is not None and expiry < now:
        raise Refused(f"the signature expired at {expiry.isoformat()}", signer)
    if not any(identity.matches_dn(leaf.subject) for identity in policy.identities):
        raise Refused(f"signer {signer} is not allowed", signer)
    signed_at = stamp.time if stamp is not None else header.get(AUTHENTIC_SIGNING_TIME) or header.get(SIGNING_TIME)
    details = {"scheme": scheme, "signing_agent": envelope.signing_agent,
               "timestamp_authority": stamp.authority if stamp is not None else None}
    return Verdict(verified=True, format=kind, reason="signature verified", signer=signer, signed_at=signed_at,
                   details=details)


def _envelope_blob(kind: Format, artifact: SignatureArtifact) -> bytes:
    """The one layer's bytes, no more than the cap, matching their descriptor's digest."""
    layers = artifact.manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        raise Refused("a Notation signature manifest must have exactly one layer")
    layer = layers[0]
    wanted = "application/cose" if kind is Format.NOTATION_COSE else "application/jose+json"
    if layer.get("mediaType") != wanted:
        raise Refused(f"the signature layer is not {wanted}")
    digest, size = layer.get("digest"), layer.get("size")
    if not isinstance(digest, str) or not re.fullmatch(r"sha(256|512):[0-9a-f]+", digest):
        raise Refused("the signature layer has no valid digest")
    if isinstance(size, int) and size > MAX_ENVELOPE_BYTES:
        raise Refused(f"the signature envelope is over {MAX_ENVELOPE_BYTES} bytes")
    try:
        blob = artifact.read_blob(digest, MAX_ENVELOPE_BYTES)
    except ValueError:
        raise Refused(f"the signature envelope is over {MAX_ENVELOPE_BYTES} bytes") from None
    algorithm, _, hexdigest = digest.partition(":")
    if len(blob) > MAX_ENVELOPE_BYTES or hashlib.new(algorithm, blob).hexdigest() != hexdigest:
        raise Refused("the signature envelope does not match its layer digest")
    return blob


def parse_jws(blob: bytes) -> Envelope:
    """A JWS JSON serialization (flattened) as Notation writes it; Refused when it is not one."""
    document = _json_object(blob, "the JWS envelope")
    protected, payload, signature = (_text(document, name, "the JWS envelope") for name in
                                     ("protected", "payload", "signature"))
    unprotected = document.get("header", {})
    if not isinstance(unprotected, dict):
        raise Refused("the JWS unprotected header is not an object")
    raw = _json_object(_base64url(protected, "protected header"), "the JWS protected header")
    header = {key: value for key, value in raw.items() if key not in (SIGNING_TIME, AUTHENTIC_SIGNING_TIME, EXPIRY)}
    for key in (SIGNING_TIME, AUTHENTIC_SIGNING_TIME, EXPIRY):
        if key in raw:
            header[key] = _rfc3339(raw[key], key)
    algorithm = header.get("alg")
    if algorithm not in _HASHES:
        raise Refused(f"the signature algorithm {str(algorithm)[:40]} is not one Notation uses")
    x5c = unprotected.get("x5c")
    if not isinstance(x5c, list) or not all(isinstance(item, str) for item in x5c):
        raise Refused("the JWS has no x5c certificate chain")
    token = unprotected.get(TIMESTAMP_SIGNATURE)
    if token is not None and not isinstance(token, str):
        raise Refused("the timestamp signature is not base64")
    agent = unprotected.get(SIGNING_AGENT, "")
    return Envelope(
        header=header,
        algorithm=algorithm,
        payload=_base64url(payload, "payload"),
        signed_bytes=f"{protected}.{payload}".encode("ascii"),
        signature=_base64url(signature, "signature"),
        chain=_certificates([_base64(item, "x5c certificate") for item in x5c]),
        timestamp_token=None if token is None else _base64(token, "timestamp signature"),
        signing_agent=agent if isinstance(agent, str) else "",
    )


def parse_cose(blob: bytes) -> Envelope:
    """A COSE_Sign1 message (CBOR tag 18) as Notation writes it; Refused when it is not one."""
    try:
        message = cbor2.loads(blob)
    except Exception:  # noqa: BLE001 - cbor2 raises decode, value, type, overflow and recursion errors
        raise Refused("the COSE envelope is not valid CBOR") from None
    if not isinstance(message, cbor2.CBORTag) or message.tag != 18 or not isinstance(message.value, list | tuple) \
            or len(message.value) != 4:
        raise Refused("the COSE envelope is not a COSE_Sign1 message")
    protected, unprotected, payload, signature = message.value
    # cbor2 decodes a map inside an array as its immutable frozendict, a Mapping but not a dict
    if not (isinstance(protected, bytes) and isinstance(unprotected, Mapping) and isinstance(payload, bytes)
            and isinstance(signature, bytes)):
        raise Refused("the COSE envelope is not a COSE_Sign1 message with an attached payload")
    try:
        raw = cbor2.loads(protected)
    except Exception:  # noqa: BLE001 - as above
        raise Refused("the COSE protected header is not valid CBOR") from None
    if not isinstance(raw, Mapping):
        raise Refused("the COSE protected header is not a map")
    header: dict[str, Any] = {}
    for label, value in raw.items():
        name = {1: "alg", 2: "crit", 3: "cty"}.get(label, label) if isinstance(label, int) else label
        header[str(name)] = value
    algorithm = _COSE_ALGORITHMS.get(header.get("alg"))  # type: ignore[arg-type]
    if algorithm is None:
        raise Refused(f"the signature algorithm {str(header.get('alg'))[:40]} is not one Notation uses")
    header["alg"] = algorithm
    for key in (SIGNING_TIME, AUTHENTIC_SIGNING_TIME, EXPIRY):
        if key in header:
            header[key] = _cbor_time(header[key], key)
    chain = unprotected.get(33)
    chain = [chain] if isinstance(chain, bytes) else chain
    if not isinstance(chain, list | tuple) or not all(isinstance(item, bytes) for item in chain):
        raise Refused("the COSE envelope has no x5chain certificate chain")
    token = unprotected.get(TIMESTAMP_SIGNATURE)
    if token is not None and not isinstance(token, bytes):
        raise Refused("the timestamp signature is not a byte string")
    agent = unprotected.get(SIGNING_AGENT, "")
    return Envelope(
        header=header,
        algorithm=algorithm,
        payload=payload,
        signed_bytes=cbor2.dumps(["Signature1", protected, b"", payload]),
        signature=signature,
        chain=_certificates(list(chain)),
        timestamp_token=token,
        signing_agent=agent if isinstance(agent, str) else "",
    )


def _check_header(header: dict[str, Any]) -> None:
    """Notation's protected attributes: before any cryptography, so an unknown critical parameter is
    refused as such whatever else is wrong."""
    critical = header.get("crit")
    if not isinstance(critical, list | tuple) or not critical:
        raise Refused("the protected header has no crit list")
    for name in critical:
        if name not in UNDERSTOOD_CRITICAL:
            raise Refused(f"unknown critical header {str(name)[:100]}")
        if name not in header:
            raise Refused(f"the critical header {name} is missing")
    for name in (SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME):
        if name in header and name not in critical:
            raise Refused(f"the header {name} must be marked critical")
    if header.get("cty") != PAYLOAD_TYPE:
        raise Refused(f"the signed content type is not {PAYLOAD_TYPE}")
    scheme = header.get(SIGNING_SCHEME)
    if scheme not in (SCHEME_X509, SCHEME_SIGNING_AUTHORITY):
        raise Refused(f"the signing scheme {str(scheme)[:60]} is not notary.x509 or notary.x509.signingAuthority")
    needed = AUTHENTIC_SIGNING_TIME if scheme == SCHEME_SIGNING_AUTHORITY else SIGNING_TIME
    if needed not in header:
        raise Refused(f"the {scheme} signing scheme needs the header {needed}")


def _check_signature(envelope: Envelope, leaf: x509.Certificate) -> None:
    key = leaf.public_key()
    expected = _algorithm_for(key)
    if expected != envelope.algorithm:
        raise Refused(f"the signature algorithm {envelope.algorithm} does not match the signing key ({expected})")
    chosen = _HASHES[envelope.algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(envelope.signature, envelope.signed_bytes,
                       padding.PSS(padding.MGF1(chosen), chosen.digest_size), chosen)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)  # _algorithm_for accepts nothing else
            half = (key.curve.key_size + 7) // 8
            if len(envelope.signature) != 2 * half:
                raise InvalidSignature
            r, s = (int.from_bytes(envelope.signature[i:i + half], "big") for i in (0, half))
            key.verify(encode_dss_signature(r, s), envelope.signed_bytes, ec.ECDSA(chosen))
    except InvalidSignature:
        raise Refused("the signature does not verify with its certificate's key",
                      distinguished_name(leaf.subject)) from None


def _algorithm_for(key: object) -> str:
    """The one algorithm Notation allows for a key (RSA by size, EC by curve)."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in _RSA_ALGORITHMS:
        return _RSA_ALGORITHMS[key.key_size]
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return _EC_ALGORITHMS[key.curve.name]
    raise Refused("the signing key is not RSA 2048/3072/4096 or EC P-256/384/521")


def _check_target(payload: bytes, subject: Subject) -> None:
    document = _json_object(payload, "the signed payload")
    target = document.get("targetArtifact")
    if not isinstance(target, dict):
        raise Refused("the signed payload has no targetArtifact")
    digest, size, media_type = target.get("digest"), target.get("size"), target.get("mediaType")
    if (digest, size, media_type) != (subject.digest, subject.size, subject.media_type) or isinstance(size, bool):
        raise Refused(f"the signature is for {str(digest)[:100]} (size {str(size)[:20]}, "
                      f"{str(media_type)[:100]}), not this image")


def check_chain(chain: list[x509.Certificate], signer: str) -> None:
    """Notation's rules for a code signing chain, leaf first: each link signed by the next, ending in a
    self-signed root; CAs marked as such; the leaf a code signing certificate; keys strong enough."""
    if not chain or len(chain) > MAX_CHAIN:
        raise Refused(f"the certificate chain must have 1 to {MAX_CHAIN} certificates", signer)
    for child, parent in itertools.pairwise(chain):
        if not issued_by(child, parent):
            raise Refused(f"certificate {distinguished_name(child.subject)} is not issued by the next in the chain",
                          signer)
    if not issued_by(chain[-1], chain[-1]):
        raise Refused("the certificate chain does not end in a self-signed root", signer)
    for position, certificate in enumerate(chain):
        _check_key_and_hash(certificate, signer)
        if position == 0:
            _check_leaf(certificate, signer)
        else:
            _check_ca(certificate, position - 1, signer)


def _check_leaf(certificate: x509.Certificate, signer: str) -> None:
    extensions = certificate.extensions
    constraints = _extension(extensions, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise Refused(f"the signing certificate {signer} is a CA certificate", signer)
    usage = _extension(extensions, x509.KeyUsage)
    if usage is None or not usage.digital_signature or usage.key_cert_sign or usage.crl_sign:
        raise Refused(f"the signing certificate {signer} is not for digital signatures only", signer)
    purposes = _extension(extensions, x509.ExtendedKeyUsage)
    if purposes is not None:
        forbidden = [name for oid, name in _FORBIDDEN_USAGES.items() if oid in purposes]
        if forbidden or ExtendedKeyUsageOID.CODE_SIGNING not in purposes:
            raise Refused(f"the signing certificate {signer} is not a code signing certificate", signer)


def _check_ca(certificate: x509.Certificate, below: int, signer: str) -> None:
    """A CA certificate with `below` intermediate CAs under it (its path length must allow them)."""
    name = distinguished_name(certificate.subject)
    constraints = _extension(certificate.extensions, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        raise Refused(f"certificate {name} in the chain is not a CA", signer)
    if constraints.path_length is not None and below > constraints.path_length:
        raise Refused(f"certificate {name} allows no chain this long", signer)
    usage = _extension(certificate.extensions, x509.KeyUsage)
    if usage is None or not usage.key_cert_sign:
        raise Refused(f"certificate {name} in the chain may not sign certificates", signer)


def _check_key_and_hash(certificate: x509.Certificate, signer: str) -> None:
    name = distinguished_name(certificate.subject)
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        strong = key.key_size >= 2048
    else:
        strong = isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 256
    if not strong:
        raise Refused(f"certificate {name} has a key weaker than RSA 2048 or EC P-256", signer)
    hash_algorithm = certificate.signature_hash_algorithm
    if hash_algorithm is None or isinstance(hash_algorithm, hashes.SHA1 | hashes.MD5):
        raise Refused(f"certificate {name} is signed with a weak or unsupported hash", signer)


def _check_validity(
    chain: list[x509.Certificate], earliest: datetime, latest: datetime, source: str, signer: str,
) -> None:
    """Every certificate valid over [earliest, latest] (a timestamp's accuracy widens an instant)."""
    for certificate in chain:
        name = distinguished_name(certificate.subject)
        if latest > certificate.not_valid_after_utc:
            raise Refused(f"certificate {name} expired at {certificate.not_valid_after_utc.isoformat()} "
                          f"(checked at {source}, {latest.isoformat()})", signer)
        if earliest < certificate.not_valid_before_utc:
            raise Refused(f"certificate {name} is not valid before {certificate.not_valid_before_utc.isoformat()} "
                          f"(checked at {source}, {earliest.isoformat()})", signer)


def _timestamp(envelope: Envelope, tsa_roots: list[x509.Certificate], signer: str) -> Timestamp | None:
    """The trusted time of an RFC 3161 countersignature over the signature bytes, when the policy has
    timestamp roots and the envelope a token; a token that does not verify then refuses."""
    if envelope.timestamp_token is None or not tsa_roots:
        return None
    try:
        return verify_token(envelope.timestamp_token, envelope.signature, tsa_roots)
    except TimestampError as error:
        raise Refused(str(error), signer) from None


def distinguished_name(name: x509.Name) -> str:
    """A subject as Notation writes it (`C=US, ST=WA, L=Seattle, O=Notary, CN=alpine`): attributes in
    certificate order, short names, commas in values escaped."""
    parts = []
    for attribute in name:
        key = _DN_NAMES.get(getattr(attribute.oid, "_name", ""), attribute.oid.dotted_string)
        parts.append(f"{key}={str(attribute.value).replace(',', chr(92) + ',')}")
    return ", ".join(parts)


def _extension(extensions: x509.Extensions, kind: type[Any]) -> Any:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _certificates(ders: list[bytes]) -> list[x509.Certificate]:
    if not ders or len(ders) > MAX_CHAIN:
        raise Refused(f"the certificate chain must have 1 to {MAX_CHAIN} certificates")
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except (ValueError, x509.InvalidVersion):
        raise Refused("a certificate in the chain does not parse") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Refused(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Refused(f"{what} is not a JSON object")
    return value


def _text(document: dict[str, Any], name: str, what: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise Refused(f"{what} has no {name}")
    return value


def _base64url(text: str, what: str) -> bytes:
    """Unpadded base64url, as JWS requires (a stray character is an error, not skipped)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise Refused(f"the JWS {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Refused(f"the JWS {what} is not base64url") from None


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"the JWS {what} is not base64") from None


def _rfc3339(value: object, name: str) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise Refused(f"the header {name} is not an RFC 3339 time")
    return _aware(datetime.fromisoformat(value), name)


def _cbor_time(value: object, name: str) -> datetime:
    """COSE times are CBOR tag 1 (cbor2 decodes it to a datetime); a bare epoch number is accepted too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        raise Refused(f"the header {name} is not a time")
    return _aware(value, name)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise Refused(f"the header {name} has no time zone")
    return value.astimezone(UTC)

