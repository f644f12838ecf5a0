"""Key material kept in the data folder: the secret box key and the token signing keys.

Each file is created once with mode 0600 and read on every start; several nodes share them by
sharing the folder or by setting BERTH_SECRET_KEY. Token keys rotate: the newest signs, every key
still on disk verifies, so tokens issued before a rotation stay valid until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class SecretBox:
    """Reversible encryption for secrets berth must present to others (LDAP bind password, OIDC client
    secret). Secrets that only need checking (passwords, robot secrets) are hashed, never boxed."""

    PREFIX = "box:"

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))
        self._key = key

    def derive(self, purpose: str) -> str:
        """A secret for `purpose` (a signing key: the web UI's CSRF tokens), the same on every node
        that shares this box's key, and telling nothing about the key itself."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_file(cls, path: Path, override: str | None = None) -> SecretBox:
        if override:
            return cls(override.encode())
        if not path.exists():
            _write_private(path, base64.urlsafe_b64encode(os.urandom(32)))
        return cls(path.read_bytes().strip())

    def seal(self, plain: str) -> str:
        return self.PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str, max_age: int | None = None) -> str:
        """The plain text; with `max_age`, only when it was sealed at most that many seconds ago."""
        if not sealed.startswith(self.PREFIX):
            raise ValueError("not a sealed secret")
        try:
            return self._fernet.decrypt(sealed[len(self.PREFIX):].encode(), ttl=max_age).decode()
        except InvalidToken:
            raise ValueError("sealed with another key (is BERTH_SECRET_KEY the same on every node?)") from None


@dataclass(frozen=True, slots=True)
class TokenKey:
    kid: str
    private: RSAPrivateKey

    @property
    def public(self) -> RSAPublicKey:
        return self.private.public_key()


def _kid(public: RSAPublicKey) -> str:
    """A libtrust-style key id: base32 of the first 240 bits of SHA-256 over the DER public key, in 4-char groups."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


class TokenKeyRing:
    """RSA keys in `<dir>/token-<unix time>.pem`: the newest signs, all verify."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keys: list[TokenKey] = []
        self.reload()
        if not self.keys:
            self.rotate()

    def reload(self) -> None:
        """Read every key in the folder; the newest signs from now on."""
        keys = []
        for path in sorted(self.directory.glob("token-*.pem")):
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(private, RSAPrivateKey)
            keys.append(TokenKey(_kid(private.public_key()), private))
        self.keys = keys

    def rotate(self) -> TokenKey:
        """Make a new signing key; older keys keep verifying until `prune` removes them."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        stamp = time.time_ns()
        _write_private(self.directory / f"token-{stamp:020d}.pem", pem)
        self.reload()
        return self.keys[-1]

    def prune(self, keep: int = 2) -> int:
        """Delete all but the newest `keep` keys (after old tokens have expired)."""
        paths = sorted(self.directory.glob("token-*.pem"))
        doomed = paths[:-keep] if keep > 0 else paths
        for path in doomed:
            path.unlink()
        self.reload()
        return len(doomed)

    @property
    def signing(self) -> TokenKey:
        return self.keys[-1]

    def by_kid(self, kid: str) -> TokenKey | None:
        return next((key for key in self.keys if key.kid == kid), None)
