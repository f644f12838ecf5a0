"""Sigstore's trust checks, offline: signatures by keys, certificates chained to trusted roots with
Fulcio's identity, and Rekor entries' signed entry timestamps (SETs). cosign.py applies them to the
tag scheme and to Sigstore bundles. Every failure raises `Refused` with the verdict's reason."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)
from cryptography.x509 import verification

from berth.sign.policy import Identity, TrustPolicy

#: Fulcio's OIDC issuer extensions: .1 holds the raw string (deprecated), .8 a DER UTF8String
FULCIO_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
MAX_CHAIN = 8
MAX_ENTRY_BODY = 256 * 1024


class Refused(Exception):
    """A check failed; the message is the verdict's reason (one sentence)."""


@dataclass(frozen=True, slots=True)
class LogKey:
    """A transparency log's key, named by its log id (hex SHA-256 of the key's SPKI DER)."""

    key: PublicKeyTypes
    log_id: str
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Authority:
    """A certificate authority of a trusted root: its chain (issuing CA first, root last) and the
    window in which it may have issued certificates."""

    chain: list[x509.Certificate]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Trust:
    """What a policy trusts for cosign signatures: its keys, its roots (own and from `trusted_root`)
    and log keys, and who may sign with a certificate."""

    keys: list[PublicKeyTypes]
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    authorities: list[Authority]
    logs: list[LogKey]
    identities: list[Identity]
    require_tlog: bool


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One Rekor entry as a signature carries it, with the SET that promises its inclusion."""

    body: str
    integrated_time: int
    log_index: int
    log_id: str
    signed_entry_timestamp: bytes


def trust_of(policy: TrustPolicy) -> Trust:
    """The policy's cosign trust, with its `trusted_root` document read (Refused when malformed)."""
    material = policy.material
    logs = [LogKey(key, _spki_sha256(key)) for key in material.rekor_keys]
    authorities: list[Authority] = []
    if policy.trusted_root is not None:
        try:
            logs += [_log_key(entry) for entry in policy.trusted_root.get("tlogs") or []]
            authorities = [_authority(entry) for entry in policy.trusted_root.get("certificateAuthorities") or []]
        except (KeyError, TypeError, ValueError, AttributeError, UnsupportedAlgorithm):
            raise Refused("the policy's trusted_root is malformed") from None
    return Trust(material.cosign_keys, material.roots, material.intermediates, authorities, logs,
                 policy.identities, policy.require_tlog)


def _log_key(entry: dict[str, Any]) -> LogKey:
    public_key = entry["publicKey"]
    key = load_der_public_key(base64.b64decode(public_key["rawBytes"]))
    window = public_key.get("validFor") or {}
    return LogKey(key, base64.b64decode(entry["logId"]["keyId"]).hex(), _time(window.get("start")),
                  _time(window.get("end")))


def _authority(entry: dict[str, Any]) -> Authority:
    chain = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
             for c in entry["certChain"]["certificates"]]
    if not chain:
        raise ValueError("an authority without certificates")
    window = entry.get("validFor") or {}
    return Authority(chain, _time(window.get("start")), _time(window.get("end")))


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _within(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or start <= at) and (end is None or at <= end)


def _spki_sha256(key: PublicKeyTypes) -> str:
    return hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def b64decode(text: object, what: str) -> bytes:
    """Standard base64 as Go decodes it (line breaks ignored); Refused when it is not."""
    if not isinstance(text, str):
        raise Refused(f"malformed {what}: not a string")
    try:
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"malformed {what}: not base64") from None


def canonical_json(value: dict[str, str | int]) -> bytes:
    """RFC 8785 for what Rekor signs (an object of strings and integers): sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verifies(key: PublicKeyTypes, signature: bytes, data: bytes, prehashed: bool = False) -> bool:
    """Whether `key` signed `data` the way cosign signs: ECDSA with the curve's hash (or SHA-256, as
    older cosign did for every curve), RSA PKCS#1 v1.5 SHA-256, Ed25519. `prehashed`: `data` is
    already a SHA-256 digest (Sigstore's message signatures)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            for algorithm in _ecdsa_hashes(key.curve, prehashed):
                try:
                    key.verify(signature, data, ec.ECDSA(algorithm))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256())
            return True
        if isinstance(key, ed25519.Ed25519PublicKey) and not prehashed:
            key.verify(signature, data)
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def _ecdsa_hashes(curve: ec.EllipticCurve, prehashed: bool) -> list[hashes.HashAlgorithm | Prehashed]:
    if prehashed:
        return [Prehashed(hashes.SHA256())]
    own: hashes.HashAlgorithm = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(
        curve.name, hashes.SHA256())
    return [own] if isinstance(own, hashes.SHA256) else [own, hashes.SHA256()]


def find_key(keys: Sequence[PublicKeyTypes], signature: bytes, data: bytes, hint: str | None = None,
             prehashed: bool = False) -> PublicKeyTypes:
    """The trusted key that verifies the signature (the one `hint` names tried first)."""
    ordered = sorted(keys, key=lambda key: hint is None or hint_of(key) != hint)
    for key in ordered:
        if verifies(key, signature, data, prehashed):
            return key
    raise Refused("no trusted key verifies the signature")


def hint_of(key: PublicKeyTypes) -> str:
    """cosign's key hint in a Sigstore bundle: base64 of the SHA-256 of the key's SPKI DER."""
    return base64.b64encode(bytes.fromhex(_spki_sha256(key))).decode()


def parse_certificate(data: bytes, what: str, pem: bool = True) -> x509.Certificate:
    """One X.509 certificate (PEM or DER) with a key and extensions that parse (cryptography reads them
    lazily); Refused when it does not."""
    try:
        certificate = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):
        raise Refused(f"malformed {what}: not an X.509 certificate") from None
    try:
        certificate.public_key()
        certificate.extensions  # noqa: B018 - parsed here so that later reads cannot fail
    except (ValueError, UnsupportedAlgorithm):
        raise Refused(f"malformed {what}: its key or extensions do not parse") from None
    return certificate


def parse_chain(pem: str, what: str) -> list[x509.Certificate]:
    """A PEM bundle of at most MAX_CHAIN certificates; Refused when it does not parse."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, x509.InvalidVersion):
        raise Refused(f"malformed {what}: not PEM X.509 certificates") from None
    if len(chain) > MAX_CHAIN:
        raise Refused(f"malformed {what}: more than {MAX_CHAIN} certificates")
    return chain


def verify_entries(entries: Iterable[LogEntry], trust: Trust, signature: bytes, digest: str,
                   key: PublicKeyTypes) -> tuple[datetime | None, LogEntry | None]:
    """The integrated time of the first entry whose SET a trusted log key verifies, and that entry
    ((None, None) when no entry is from a trusted log). An entry from a trusted log that does not
    verify, or that names another signature, payload (`digest`, hex SHA-256) or key, is Refused."""
    for entry in entries:
        log = next((log for log in trust.logs if log.log_id == entry.log_id), None)
        if log is None:
            continue
        promise = canonical_json({"body": entry.body, "integratedTime": entry.integrated_time,
                                  "logIndex": entry.log_index, "logID": entry.log_id})
        if not verifies(log.key, entry.signed_entry_timestamp, promise):
            raise Refused(f"the Rekor entry {entry.log_index} does not verify with the log's key")
        logged_at = datetime.fromtimestamp(entry.integrated_time, UTC)
        if not _within(logged_at, log.start, log.end):
            raise Refused(f"the Rekor entry {entry.log_index} was logged outside its log key's validity")
        if not _names(_entry_body(entry), signature, digest, key):
            raise Refused(f"the Rekor entry {entry.log_index} is for another signature")
        return logged_at, entry
    if trust.require_tlog:
        raise Refused("the policy requires a transparency log entry and none verifies")
    return None, None


def _entry_body(entry: LogEntry) -> dict[str, Any]:
    raw = b64decode(entry.body, "Rekor entry body")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused("malformed Rekor entry body: not JSON") from None
    if not isinstance(body, dict):
        raise Refused("malformed Rekor entry body: not an object")
    return body


def _names(body: dict[str, Any], signature: bytes, digest: str, key: PublicKeyTypes) -> bool:
    """Whether a Rekor entry (hashedrekord, rekord, dsse, intoto) records this signature over this
    payload digest by this key: a SET alone only proves that *some* entry was logged."""
    kind, spec = body.get("kind"), body.get("spec")
    if not isinstance(spec, dict):
        return False
    try:
        if kind in ("hashedrekord", "rekord"):
            hashed = spec["data"]["hash"]["value"]
            recorded = [(spec["signature"]["content"], spec["signature"]["publicKey"]["content"])]
        elif kind == "dsse":
            hashed = spec["payloadHash"]["value"]
            recorded = [(s["signature"], s["verifier"]) for s in spec["signatures"]]
        elif kind == "intoto":
            hashed = spec["content"]["payloadHash"]["value"]
            recorded = [(b64decode(s["sig"], "in-toto signature").decode(), s["publicKey"])
                        for s in spec["content"]["envelope"]["signatures"]]
        else:
            raise Refused(f"the Rekor entry is of kind {str(kind)[:40]!r}, which berth does not check")
    except (KeyError, TypeError, UnicodeDecodeError):
        return False
    return hashed == digest and any(
        b64decode(sig, "Rekor signature") == signature and _same_key(b64decode(verifier, "Rekor key"), key)
        for sig, verifier in recorded)


def _same_key(pem: bytes, key: PublicKeyTypes) -> bool:
    try:
        recorded = (x509.load_pem_x509_certificate(pem).public_key() if b"CERTIFICATE" in pem
                    else load_pem_public_key(pem))
    except (ValueError, UnsupportedAlgorithm):
        return False
    return _spki_sha256(recorded) == _spki_sha256(key)


def verify_certificate(leaf: x509.Certificate, untrusted: Sequence[x509.Certificate], trust: Trust,
                       at: datetime) -> str:
    """The signer (the certificate's first SAN email or URI) of a certificate valid at `at`, chained to
    a trusted root through `untrusted` and the policy's intermediates, whose identity the policy allows."""
    if at < leaf.not_valid_before_utc:
        raise Refused(f"the certificate is not valid before {leaf.not_valid_before_utc.isoformat()} "
                      f"(checked at {at.isoformat()})")
    if at > leaf.not_valid_after_utc:
        raise Refused(f"the certificate expired at {leaf.not_valid_after_utc.isoformat()} "
                      f"(checked at {at.isoformat()})")
    authorities = [a.chain for a in trust.authorities if _within(at, a.start, a.end)]
    roots = trust.roots + [chain[-1] for chain in authorities]
    if not roots:
        raise Refused("the policy trusts no root for certificate signatures")
    intermediates = [*untrusted, *trust.intermediates, *(c for chain in authorities for c in chain[:-1])]
    verifier = (verification.PolicyBuilder().store(verification.Store(roots)).time(at)
                .max_chain_depth(MAX_CHAIN)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_LEAF_POLICY).build_client_verifier())
    try:
        verifier.verify(leaf, intermediates)
    except (verification.VerificationError, ValueError):
        raise Refused("the certificate does not chain to a trusted root") from None
    sans, issuer = certificate_identity(leaf)
    if not trust.identities:
        raise Refused("the policy allows no identity for certificate signatures")
    for san in sans:
        if any(identity.matches_san(san, issuer) for identity in trust.identities):
            return san
    raise Refused(f"identity {sans[0] if sans else '(none)'} (issuer {issuer or 'none'}) is not allowed")


def certificate_identity(cert: x509.Certificate) -> tuple[list[str], str | None]:
    """The SAN emails and URIs of a certificate and Fulcio's OIDC issuer (None when absent)."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = names.get_values_for_type(x509.RFC822Name) + names.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        sans = []
    issuer = None
    for extension in cert.extensions:
        value = extension.value
        if isinstance(value, x509.UnrecognizedExtension):
            if extension.oid == FULCIO_ISSUER_V2:
                issuer = _utf8_string(value.value)
                break
            if extension.oid == FULCIO_ISSUER_V1:
                issuer = value.value.decode("utf-8", "replace")
    return sans, issuer


def _utf8_string(der: bytes) -> str | None:
    """A DER UTF8String (tag 12, short or long length form); None when it is not one."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, start = der[1], 2
    if length & 0x80:
        width = length & 0x7F
        length, start = int.from_bytes(der[2:2 + width], "big"), 2 + width
    content = der[start:start + length]
    return content.decode("utf-8", "replace") if len(content) == length else None


def _require_ca(policy: verification.Policy, cert: x509.Certificate, constraints: x509.BasicConstraints | None) -> None:
    if constraints is None or not constraints.ca:
        raise ValueError("an issuer that is not a CA")


def _require_cert_sign(policy: verification.Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("an issuer that may not sign certificates")


def _require_code_signing(
    policy: verification.Policy, cert: x509.Certificate, usage: x509.ExtendedKeyUsage | None,
) -> None:
    # Go's verifier, as cosign runs it, wants code signing in a leaf's EKU when it has one
    allowed = {x509.ExtendedKeyUsageOID.CODE_SIGNING, x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if usage is not None and not allowed & set(usage):
        raise ValueError("a certificate not for code signing")


def _require_digital_signature(policy: verification.Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.digital_signature:
        raise ValueError("a certificate not for digital signatures")


# cryptography's web PKI defaults refuse Fulcio's CAs (code-signing EKU on the intermediate, no
# keyUsage on some roots): Sigstore's rules instead, as Go's x509 verifier applies them for cosign
_CA_POLICY = (verification.ExtensionPolicy.permit_all()
              .require_present(x509.BasicConstraints, verification.Criticality.AGNOSTIC, _require_ca)
              .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, _require_cert_sign))
_LEAF_POLICY = (verification.ExtensionPolicy.permit_all()
                .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _require_code_signing)
                .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, _require_digital_signature))
