"""RFC 3161 timestamp tokens checked offline: a timestamp authority's signed statement that a hash
(here: a signature's bytes) existed at a time, so certificates can be judged at that time instead of now.

The token is CMS SignedData over a TSTInfo; `cryptography` verifies CMS signatures only through
S/MIME helpers, so the few DER structures needed are read by the small reader below."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

MAX_CHAIN = 8

_SIGNED_DATA = "1.2.840.113549.1.7.2"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_RSA_PSS = "1.2.840.113549.1.1.10"
#: digest algorithms a token may use (SHA-1 is refused, as Notation does)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}


class TimestampError(ValueError):
    """The token is malformed, does not cover the message, or is not from a trusted authority."""


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A verified token: the authority's time, its accuracy, and who said so (the TSA's subject)."""

    time: datetime
    accuracy: timedelta
    authority: str

    @property
    def earliest(self) -> datetime:
        return self.time - self.accuracy

    @property
    def latest(self) -> datetime:
        return self.time + self.accuracy


def verify_token(token: bytes, message: bytes, roots: list[x509.Certificate]) -> Timestamp:
    """The time a token proves for `message`, when a TSA chaining to one of `roots` signed it at that
    time; TimestampError (one sentence) otherwise."""
    try:
        return _verify(token, message, roots)
    except TimestampError:
        raise
    except Exception as error:  # noqa: BLE001 - untrusted DER: cryptography raises ValueError, InvalidVersion,
        # DuplicateExtension, UnsupportedAlgorithm… for it; each is a malformed token, never a crash
        raise TimestampError(f"the timestamp token is malformed ({type(error).__name__}: {error})") from None


def _verify(token: bytes, message: bytes, roots: list[x509.Certificate]) -> Timestamp:
    content_info = _Node.parse(token).children()
    if _oid(content_info[0]) != _SIGNED_DATA:
        raise TimestampError("the timestamp token is not CMS signed data")
    signed_data = content_info[1].children()[0].children()
    encapsulated = signed_data[2].children()
    if _oid(encapsulated[0]) != _TST_INFO:
        raise TimestampError("the timestamp token does not hold a TSTInfo")
    tst_info_der = encapsulated[1].children()[0].content
    rest = signed_data[3:]
    certificates = [x509.load_der_x509_certificate(node.raw) for node in rest[0].children()] \
        if rest and rest[0].tag == 0xA0 else []
    signer_infos = rest[-1].children()
    if len(signer_infos) != 1:
        raise TimestampError("the timestamp token must have exactly one signer")
    imprint_hash, imprint, when, accuracy = _read_tst_info(tst_info_der)
    if _digest(imprint_hash, message) != imprint:
        raise TimestampError("the timestamp token is for other data than this signature")
    signer = _check_signer(signer_infos[0], tst_info_der, certificates)
    _check_authority(signer, certificates, roots, when)
    return Timestamp(when, accuracy, signer.subject.rfc4514_string())


def _read_tst_info(der: bytes) -> tuple[str, bytes, datetime, timedelta]:
    """(imprint hash OID, imprint, genTime, accuracy) of a TSTInfo."""
    fields = _Node.parse(der).children()
    imprint = fields[2].children()
    algorithm = _oid(imprint[0].children()[0])
    text = fields[4].content.decode("ascii")
    match = re.fullmatch(r"(\d{14})(?:\.(\d{1,6}))?Z", text)
    if fields[4].tag != 0x18 or match is None:
        raise TimestampError("the timestamp token's time is not a UTC GeneralizedTime")
    when = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if match[2]:
        when += timedelta(microseconds=int(match[2].ljust(6, "0")))
    accuracy = timedelta(0)
    for node in fields[5:]:
        if node.tag == 0x30:  # Accuracy ::= SEQUENCE { seconds, [0] millis, [1] micros }, all optional
            units = {0x02: "seconds", 0x80: "milliseconds", 0x81: "microseconds"}
            for part in node.children():
                if part.tag in units:
                    accuracy += timedelta(**{units[part.tag]: int.from_bytes(part.content, "big")})
            break
    return algorithm, imprint[1].content, when, accuracy


def _check_signer(signer_info: _Node, tst_info_der: bytes, certificates: list[x509.Certificate]) -> x509.Certificate:
    """The certificate whose key signed the token's signed attributes, which bind the TSTInfo."""
    parts = signer_info.children()
    digest_algorithm = _oid(parts[2].children()[0])
    attributes = parts[3]
    if attributes.tag != 0xA0:
        raise TimestampError("the timestamp token has no signed attributes")
    values: dict[str, bytes] = {}
    for attribute in attributes.children():
        pair = attribute.children()
        values[_oid(pair[0])] = pair[1].children()[0].raw
    if values.get(_CONTENT_TYPE) != _Node.encode_oid(_TST_INFO):
        raise TimestampError("the timestamp token's signed content type is not TSTInfo")
    digest = values.get(_MESSAGE_DIGEST)
    if digest is None or _Node.parse(digest).content != _digest(digest_algorithm, tst_info_der):
        raise TimestampError("the timestamp token's signed digest does not match its TSTInfo")
    signer = _signer_certificate(parts[1], certificates)
    signed = b"\x31" + attributes.raw[1:]  # signed over as a SET OF, not as the [0] it is stored under
    signature_algorithm = _oid(parts[4].children()[0])
    signature = parts[5].content
    key = signer.public_key()
    chosen = _HASHES[digest_algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme = padding.PSS(padding.MGF1(chosen), chosen.digest_size) if signature_algorithm == _RSA_PSS \
                else padding.PKCS1v15()
            key.verify(signature, signed, scheme, chosen)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(chosen))
        else:
            raise TimestampError("the timestamp authority's key type is not supported")
    except InvalidSignature:
        raise TimestampError("the timestamp token's signature does not verify") from None
    return signer


def _signer_certificate(identifier: _Node, certificates: list[x509.Certificate]) -> x509.Certificate:
    if identifier.tag == 0x30:  # issuerAndSerialNumber
        issuer, serial = identifier.children()
        number = int.from_bytes(serial.content, "big", signed=True)
        for certificate in certificates:
            if certificate.serial_number == number and certificate.issuer.public_bytes() == issuer.raw:
                return certificate
    elif identifier.tag == 0x80:  # subjectKeyIdentifier
        for certificate in certificates:
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == identifier.content:
                return certificate
    raise TimestampError("the timestamp token does not carry its signer's certificate")


def _check_authority(
    signer: x509.Certificate, certificates: list[x509.Certificate], roots: list[x509.Certificate], when: datetime,
) -> None:
    """The signer is a timestamping certificate chaining to a trusted root, all valid at `when`."""
    try:
        usages = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is None or ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        raise TimestampError("the timestamp token's signer is not a timestamping certificate")
    current = signer
    for _ in range(MAX_CHAIN):
        if not current.not_valid_before_utc <= when <= current.not_valid_after_utc:
            raise TimestampError(f"the timestamp authority certificate {current.subject.rfc4514_string()} "
                                 f"was not valid at {when.isoformat()}")
        if current in roots:
            return
        issuer = next((c for c in [*roots, *certificates] if c != current and issued_by(current, c)), None)
        if issuer is None:
            break
        current = issuer
    raise TimestampError(f"the timestamp authority {signer.subject.rfc4514_string()} is not trusted")


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Whether `parent` issued `child`: names chain and its key verifies the signature."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _digest(algorithm: str, data: bytes) -> bytes:
    if algorithm not in _HASHES:
        raise TimestampError(f"the timestamp token's digest algorithm {algorithm} is not supported")
    return hashlib.new(_HASHES[algorithm]().name, data).digest()


def _oid(node: _Node) -> str:
    if node.tag != 0x06:
        raise TimestampError("the timestamp token is malformed (an object identifier was expected)")
    return _Node.decode_oid(node.content)


@dataclass(frozen=True, slots=True)
class _Node:
    """One DER element: its tag, and where its header and content lie in the enclosing bytes."""

    tag: int
    data: bytes
    start: int
    content_start: int
    end: int

    @classmethod
    def parse(cls, data: bytes) -> _Node:
        node = cls.at(data, 0, len(data))
        if node.end != len(data):
            raise TimestampError("the timestamp token is malformed (trailing bytes)")
        return node

    @classmethod
    def at(cls, data: bytes, offset: int, limit: int) -> _Node:
        """The element at `offset`, which must end by `limit` (its parent's end)."""
        if offset + 2 > limit:
            raise TimestampError("the timestamp token is malformed (truncated)")
        tag = data[offset]
        if tag & 0x1F == 0x1F:
            raise TimestampError("the timestamp token is malformed (high tag number)")
        length, position = data[offset + 1], offset + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4:
                raise TimestampError("the timestamp token is malformed (length)")
            length, position = int.from_bytes(data[position:position + count], "big"), position + count
        if position + length > limit:
            raise TimestampError("the timestamp token is malformed (truncated)")
        return cls(tag, data, offset, position, position + length)

    @property
    def content(self) -> bytes:
        return self.data[self.content_start:self.end]

    @property
    def raw(self) -> bytes:
        return self.data[self.start:self.end]

    def children(self) -> list[_Node]:
        if not self.tag & 0x20:
            raise TimestampError("the timestamp token is malformed (a constructed element was expected)")
        nodes, offset = [], self.content_start
        while offset < self.end:
            node = _Node.at(self.data, offset, self.end)
            nodes.append(node)
            offset = node.end
        if not nodes:
            raise TimestampError("the timestamp token is malformed (an empty element)")
        return nodes

    @staticmethod
    def decode_oid(content: bytes) -> str:
        arcs, value = [], 0
        for byte in content:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        if not arcs:
            raise TimestampError("the timestamp token is malformed (empty object identifier)")
        first = min(arcs[0] // 40, 2)
        return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])

    @staticmethod
    def encode_oid(dotted: str) -> bytes:
        arcs = [int(arc) for arc in dotted.split(".")]
        body = b""
        for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
            chunk = [arc & 0x7F]
            while arc > 0x7F:
                arc >>= 7
                chunk.insert(0, 0x80 | (arc & 0x7F))
            body += bytes(chunk)
        return bytes([0x06, len(body)]) + body
