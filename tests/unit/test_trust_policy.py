"""The trust policy model refuses what it cannot use with a ValueError (the API's 400), never another
exception: here a certificate whose version field says v2, which cryptography reports as
InvalidVersion (not a ValueError), found by the Notation timestamp fuzz test."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from berth.sign.policy import TrustPolicy

V3 = bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2: the version field of a v3 certificate


def _certificate_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> str:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def test_a_good_root_is_taken() -> None:
    assert len(TrustPolicy(mode="enforce", roots=[_pem(_certificate_der())]).material.roots) == 1


@pytest.mark.parametrize("field", ["roots", "intermediates", "tsa_roots"])
def test_a_certificate_of_an_unknown_version_is_refused_as_bad_input(field: str) -> None:
    der = _certificate_der()
    assert der.count(V3) == 1
    v2 = der.replace(V3, bytes.fromhex("a003020101"))
    with pytest.raises(ValidationError, match="not PEM X.509"):
        TrustPolicy.model_validate({"mode": "enforce", field: [_pem(v2)]})
