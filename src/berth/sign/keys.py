"""cosign's key files: encrypted private keys (scrypt + NaCl secretbox over PKCS#8, as
go-securesystemslib's `encrypted` package writes them) and PEM public keys, read and written so that
cosign, skopeo and berth can use each other's keys."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_pem_private_key,
    load_pem_public_key,
)

#: cosign >= 2 writes this label; cosign 1 wrote the COSIGN one, which every version still reads
SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
#: the scrypt cost cosign >= 2 writes with (securesystemslib's "default" profile is 32768)
WRITE_SCRYPT_N = 65536
#: beyond this an untrusted key file would make us spend gigabytes and minutes deriving its key
_MAX_SCRYPT_N = 1 << 20
_MAX_SCRYPT_RP = 16
_MAX_KEY_FILE = 64 * 1024

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class KeyFileError(ValueError):
    """A key file that cannot be used; the message is one line a user can act on."""


class WrongPassword(KeyFileError):
    """The password does not open the encrypted private key."""


def generate_key_pair() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key: what `cosign generate-key-pair` makes."""
    return ec.generate_private_key(ec.SECP256R1())


def encrypt_private_key(key: SigningKey, password: bytes, *, scrypt_n: int = WRITE_SCRYPT_N) -> bytes:
    """The PEM `ENCRYPTED SIGSTORE PRIVATE KEY` cosign >= 2 writes for `key` under `password`."""
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    salt = os.urandom(32)
    nonce = os.urandom(24)
    from nacl.secret import SecretBox

    sealed = SecretBox(_derive(password, salt, scrypt_n, 8, 1)).encrypt(der, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": {"N": scrypt_n, "r": 8, "p": 1}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return _pem(SIGSTORE_LABEL, orjson.dumps(document))


def public_key_pem(key: SigningKey | PublicKeyTypes) -> bytes:
    """The PEM `PUBLIC KEY` (PKIX) of a key, as `cosign.pub` holds it."""
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[union-attr]


def load_private_key(data: bytes, password: bytes) -> SigningKey:
    """The signing key in a cosign key file (either label), or an unencrypted PKCS#8 PEM `PRIVATE KEY`
    (what `cosign import-key-pair` starts from). KeyFileError or WrongPassword with a reason."""
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError("the key file is too large to be a key")
    label, body = _unpem(data)
    if label == "PRIVATE KEY" or label == "EC PRIVATE KEY":
        try:
            key: PrivateKeyTypes = load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise KeyFileError(f"not a usable private key: {error}") from None
        return _signing_key(key)
    if label not in (SIGSTORE_LABEL, COSIGN_LABEL):
        raise KeyFileError(f"not a cosign private key (PEM {label!r})")
    der = _decrypt(body, password)
    try:
        return _signing_key(load_der_private_key(der, password=None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyFileError(f"the decrypted key is not PKCS#8: {error}") from None


def load_public_key(data: bytes) -> PublicKeyTypes:
    """A PEM `PUBLIC KEY` (cosign.pub); KeyFileError when it is not one."""
    try:
        return load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyFileError(f"not a PEM public key: {error}") from None


def _decrypt(body: bytes, password: bytes) -> bytes:
    try:
        document = orjson.loads(body)
        kdf, cipher = document["kdf"], document["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
        sealed = _unb64(document["ciphertext"])
        names = (kdf["name"], cipher["name"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise KeyFileError("the encrypted key's JSON is not cosign's (kdf, cipher, ciphertext)") from None
    if names != ("scrypt", "nacl/secretbox"):
        raise KeyFileError(f"unsupported key encryption {names[0]}/{names[1]} (cosign uses scrypt/nacl/secretbox)")
    if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= _MAX_SCRYPT_RP and 0 < p <= _MAX_SCRYPT_RP):
        raise KeyFileError(f"scrypt parameters N={n} r={r} p={p} are out of range")
    if len(nonce) != 24:
        raise KeyFileError("the secretbox nonce is not 24 bytes")
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        return SecretBox(_derive(password, salt, n, r, p)).decrypt(sealed, nonce)
    except CryptoError:
        raise WrongPassword("wrong password for the private key (or the key file is damaged)") from None


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password)


def _signing_key(key: PrivateKeyTypes) -> SigningKey:
    if isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        return key
    raise KeyFileError(f"unsupported key type {type(key).__name__} (ECDSA, RSA or Ed25519 sign)")


def _pem(label: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode()


def _unpem(data: bytes) -> tuple[str, bytes]:
    """(label, decoded body) of the first PEM block."""
    text = data.decode("ascii", errors="replace")
    begin = text.find("-----BEGIN ")
    label_end = text.find("-----", begin + 11)
    if begin < 0 or label_end < 0:
        raise KeyFileError("not a PEM file")
    label = text[begin + 11:label_end]
    end = text.find(f"-----END {label}-----", label_end)
    if end < 0:
        raise KeyFileError(f"the PEM block {label!r} has no end line")
    lines = [line.strip() for line in text[label_end + 5:end].splitlines()]
    try:
        return label, base64.b64decode("".join(line for line in lines if line and ":" not in line), validate=True)
    except binascii.Error:
        raise KeyFileError(f"the PEM block {label!r} is not base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return base64.b64decode(value, validate=True)
