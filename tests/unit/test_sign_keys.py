"""cosign key files: a real cosign-made encrypted key opens to its public key; berth's own key files
round-trip and read as cosign's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from berth.sign import keys

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "signing"
POLICY_CONTROLLER = FIXTURES / "cosign-keys-policy-controller"


def _body(pem: bytes) -> dict:
    lines = pem.decode().strip().splitlines()
    return json.loads(base64.b64decode("".join(lines[1:-1])))


def test_a_cosign_made_key_opens_with_its_password_and_reproduces_its_public_key() -> None:
    key = keys.load_private_key((POLICY_CONTROLLER / "cosign.key").read_bytes(), b"")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert keys.public_key_pem(key) == (POLICY_CONTROLLER / "cosign.pub").read_bytes()


def test_a_wrong_password_is_a_clear_error() -> None:
    with pytest.raises(keys.WrongPassword, match="wrong password"):
        keys.load_private_key((POLICY_CONTROLLER / "cosign.key").read_bytes(), b"not it")


def test_a_written_key_is_cosign_2s_format_and_reads_back() -> None:
    key = keys.generate_key_pair()
    assert isinstance(key.curve, ec.SECP256R1)
    pem = keys.encrypt_private_key(key, b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    body = _body(pem)
    assert body["kdf"]["name"] == "scrypt" and body["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(body["cipher"]["nonce"])) == 24
    again = keys.load_private_key(pem, b"s3cret")
    assert keys.public_key_pem(again) == keys.public_key_pem(key)
    with pytest.raises(keys.WrongPassword):
        keys.load_private_key(pem, b"")


def test_the_old_cosign_label_is_read_too() -> None:
    key = keys.generate_key_pair()
    pem = keys.encrypt_private_key(key, b"", scrypt_n=1024).replace(b"SIGSTORE", b"COSIGN")
    assert keys.public_key_pem(keys.load_private_key(pem, b"")) == keys.public_key_pem(key)


@pytest.mark.parametrize(("data", "message"), [
    (b"hello", "not a PEM file"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a cosign private key"),
    (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nnot base64!\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
     "not base64"),
    (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
     "JSON is not cosign's"),
])
def test_what_is_not_a_cosign_key_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(keys.KeyFileError, match=message):
        keys.load_private_key(data, b"")


def test_scrypt_costs_beyond_reason_are_refused_before_deriving() -> None:
    pem = keys.encrypt_private_key(keys.generate_key_pair(), b"", scrypt_n=1024)
    body = _body(pem)
    body["kdf"]["params"]["N"] = 1 << 30
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    forged = f"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{encoded}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    with pytest.raises(keys.KeyFileError, match="out of range"):
        keys.load_private_key(forged.encode(), b"")


def test_an_unencrypted_pkcs8_key_and_public_keys_load() -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = keys.generate_key_pair()
    plain = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    assert keys.public_key_pem(keys.load_private_key(plain, b"ignored")) == keys.public_key_pem(key)
    public = keys.load_public_key((POLICY_CONTROLLER / "cosign.pub").read_bytes())
    assert keys.public_key_pem(public) == (POLICY_CONTROLLER / "cosign.pub").read_bytes()
    with pytest.raises(keys.KeyFileError, match="not a PEM public key"):
        keys.load_public_key(b"nope")
