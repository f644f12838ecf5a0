"""A project's trust policy: which signatures count, checked offline. The JSON users PUT at
`/api/v2.0/projects/{p}/trust-policy` and give `berth verify --policy`; parsing it compiles the
keys and certificates once, so a malformed policy is refused before it is stored."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: limits of one policy (a policy is read on every verification: it stays small)
MAX_KEYS = 64
MAX_CERTS = 64
MAX_IDENTITIES = 64
MAX_PEM_CHARS = 64 * 1024
MAX_TRUSTED_ROOT_BYTES = 1 << 20

Mode = Literal["off", "audit", "enforce"]
Family = Literal["cosign", "notation"]


class Identity(BaseModel):
    """Who may have signed, for signatures that carry a certificate. A rule matches when every field
    it gives matches; `"*"` for `subject` or `x509_subject` allows any.

    - cosign keyless (Fulcio-style certificates) and own-PKI certificates: `subject` (the
      certificate's SAN email or URI, exact) or `subject_regexp` (a full match), and `issuer` /
      `issuer_regexp` (the OIDC issuer of Fulcio's extension 1.3.6.1.4.1.57264.1.1 or .1.8).
    - Notation: `x509_subject`, a distinguished name as Notation writes it (`C=US, ST=WA, O=acme,
      CN=signer`): every attribute it names must be in the leaf certificate's subject with that value.
    """

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(None, max_length=1024)
    subject_regexp: str | None = Field(None, max_length=1024)
    issuer: str | None = Field(None, max_length=1024)
    issuer_regexp: str | None = Field(None, max_length=1024)
    x509_subject: str | None = Field(None, max_length=1024)

    @field_validator("subject_regexp", "issuer_regexp")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _says_something(self) -> Identity:
        if not any((self.subject, self.subject_regexp, self.issuer, self.issuer_regexp, self.x509_subject)):
            raise ValueError("an identity needs subject, subject_regexp, issuer, issuer_regexp or x509_subject")
        return self

    def matches_san(self, san: str, issuer: str | None) -> bool:
        """A cosign certificate's identity (SAN email or URI, OIDC issuer or None)."""
        if self.x509_subject is not None and not (self.subject or self.subject_regexp):
            return False
        if self.subject is not None and self.subject != "*" and self.subject != san:
            return False
        if self.subject_regexp is not None and re.fullmatch(self.subject_regexp, san) is None:
            return False
        if self.issuer is not None and self.issuer != issuer:
            return False
        if self.issuer_regexp is not None and (issuer is None or re.fullmatch(self.issuer_regexp, issuer) is None):
            return False
        return True

    def matches_dn(self, subject: x509.Name) -> bool:
        """A Notation leaf certificate's subject against `x509_subject`."""
        if self.x509_subject is None:
            return False
        if self.x509_subject.strip() == "*":
            return True
        wanted = parse_dn(self.x509_subject)
        have: dict[str, list[str]] = {}
        for attribute in subject:
            have.setdefault(_short_name(attribute.oid), []).append(str(attribute.value))
        return all(value in have.get(key, []) for key, value in wanted)


def parse_dn(text: str) -> list[tuple[str, str]]:
    """`C=US, ST=WA, O=acme, CN=x` as (key, value) pairs; ValueError when a part has no `=`."""
    pairs = []
    for part in re.split(r"(?<!\\),", text):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip():
            raise ValueError(f"not a distinguished name: {text[:100]!r}")
        pairs.append((key.strip().upper(), value.strip().replace("\\,", ",")))
    return pairs


_OID_NAMES = {"countryName": "C", "stateOrProvinceName": "ST", "localityName": "L", "organizationName": "O",
              "organizationalUnitName": "OU", "commonName": "CN", "emailAddress": "E"}


def _short_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", "") or oid.dotted_string
    return _OID_NAMES.get(name, name).upper()


class TrustPolicy(BaseModel):
    """A project's trust policy (all of it optional but `mode`).

    - `mode`: `off` (no check), `audit` (pulls pass; what would be refused is recorded), `enforce`
      (a manifest GET/HEAD passes only when at least one signature verifies).
    - `formats`: the signature families that count (`cosign`, `notation`).
    - `cosign_public_keys`: PEM `PUBLIC KEY`s (ECDSA P-256/384/521, RSA, Ed25519) that cosign
      key-signed signatures and key-signed Sigstore bundles are verified with.
    - `roots`, `intermediates`: PEM X.509 certificates: the trust anchors for certificate-based
      signatures (Fulcio-style keyless cosign, cosign with `--certificate`, Notation's CA and
      signing authority stores), and intermediates that may complete a chain.
    - `identities`: who may sign with a certificate (see Identity); certificate-based signatures
      must match one. Empty: no certificate-based signature is trusted (key signatures still are).
    - `rekor_public_keys`: PEM keys of the transparency logs whose signed entry timestamps (SETs) and
      checkpoints are checked offline; `require_tlog`: a signature without a verified log entry fails.
    - `tsa_roots`: PEM roots of RFC 3161 timestamp authorities (Notation's `tsa` store, cosign's
      timestamps): a verified timestamp is the signing time certificates are judged at.
    - `trusted_root`: a Sigstore `trusted_root.json` document (Fulcio CAs, Rekor keys, TSAs), as
      `cosign` and sigstore-go read it, for keyless signatures; checked offline like the above.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "off"
    formats: list[Family] = Field(default_factory=lambda: ["cosign", "notation"], min_length=1, max_length=2)
    cosign_public_keys: list[str] = Field(default_factory=list, max_length=MAX_KEYS)
    roots: list[str] = Field(default_factory=list, max_length=MAX_CERTS)
    intermediates: list[str] = Field(default_factory=list, max_length=MAX_CERTS)
    identities: list[Identity] = Field(default_factory=list, max_length=MAX_IDENTITIES)
    rekor_public_keys: list[str] = Field(default_factory=list, max_length=MAX_KEYS)
    require_tlog: bool = False
    tsa_roots: list[str] = Field(default_factory=list, max_length=MAX_CERTS)
    trusted_root: dict[str, Any] | None = None

    @field_validator("cosign_public_keys", "rekor_public_keys")
    @classmethod
    def _keys_parse(cls, values: list[str]) -> list[str]:
        for number, pem in enumerate(values):
            _public_key(pem, f"key {number + 1}")
        return values

    @field_validator("roots", "intermediates", "tsa_roots")
    @classmethod
    def _certificates_parse(cls, values: list[str]) -> list[str]:
        for number, pem in enumerate(values):
            _certificates(pem, f"certificate {number + 1}")
        return values

    @field_validator("trusted_root")
    @classmethod
    def _trusted_root_is_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_TRUSTED_ROOT_BYTES:
            raise ValueError(f"trusted_root is over {MAX_TRUSTED_ROOT_BYTES} bytes")
        return value

    @property
    def version(self) -> str:
        """A digest of the policy's canonical JSON: verdicts are cached under it."""
        canonical = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canonical).hexdigest()

    @cached_property
    def material(self) -> Material:
        """The parsed keys and certificates (parsed once per policy object)."""
        return Material(
            cosign_keys=[_public_key(pem, "key") for pem in self.cosign_public_keys],
            roots=[c for pem in self.roots for c in _certificates(pem, "root")],
            intermediates=[c for pem in self.intermediates for c in _certificates(pem, "intermediate")],
            rekor_keys=[_public_key(pem, "rekor key") for pem in self.rekor_public_keys],
            tsa_roots=[c for pem in self.tsa_roots for c in _certificates(pem, "tsa root")],
        )


@dataclass(frozen=True)
class Material:
    cosign_keys: list[PublicKeyTypes]
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    rekor_keys: list[PublicKeyTypes]
    tsa_roots: list[x509.Certificate]


def key_fingerprint(key: PublicKeyTypes) -> str:
    """`sha256:<hex>` of the key's SPKI DER: how a verdict names a key signer (cosign's bundle hint is
    the base64 of the same digest)."""
    return "sha256:" + hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _public_key(pem: str, what: str) -> PublicKeyTypes:
    if len(pem) > MAX_PEM_CHARS:
        raise ValueError(f"{what} is over {MAX_PEM_CHARS} characters")
    try:
        return load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as error:
        raise ValueError(f"{what} is not a PEM public key: {error}") from None
    except Exception as error:  # cryptography's UnsupportedAlgorithm
        raise ValueError(f"{what} is not a supported public key: {error}") from None


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    if len(pem) > MAX_PEM_CHARS:
        raise ValueError(f"{what} is over {MAX_PEM_CHARS} characters")
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, x509.InvalidVersion) as error:  # InvalidVersion is no ValueError
        raise ValueError(f"{what} is not PEM X.509: {error}") from None
    if not certificates:
        raise ValueError(f"{what} holds no certificate")
    return certificates
