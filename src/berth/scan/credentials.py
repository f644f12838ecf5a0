"""Who may call the adapter: the one credential configured for Harbor's scanner registration, in any
of the three forms Harbor's client sends it (src/pkg/scan/rest/auth): `Authorization: Bearer <it>`,
`Authorization: Basic base64(<it>)` (so "user:password" makes ordinary Basic auth), or
`X-ScannerAdapter-API-Key: <it>`; compared in constant time. The adapter mounted in `berth serve`
makes its own credential once and keeps it sealed in the data folder."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from berth.security.keys import SecretBox

API_KEY_HEADER = "x-scanneradapter-api-key"
#: the mounted adapter's credential, sealed with the secret box, in the data folder
BUILTIN_CREDENTIAL_FILE = "scanner.credential"


def is_authorized(headers: Mapping[str, str], credential: str | None) -> bool:
    """True when `headers` carry `credential`; always True when no credential is configured (the
    adapter refuses to start that way unless told it is on a trusted network)."""
    if credential is None:
        return True
    expected = credential.encode()
    given = headers.get(API_KEY_HEADER)
    if given is not None and hmac.compare_digest(given.strip().encode(), expected):
        return True
    scheme, _, value = headers.get("authorization", "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return hmac.compare_digest(value.encode(), expected)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, expected)
    return False


def builtin_credential(path: Path, box: SecretBox) -> str:
    """The credential of the adapter `berth serve` mounts: made once (32 random characters), kept in
    `path` sealed with the secret box, so every node sharing the data folder and key expects the same."""
    if path.exists():
        return box.open(path.read_text().strip())
    credential = secrets.token_urlsafe(24)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(box.seal(credential) + "\n")
    temporary.chmod(0o600)
    try:
        os.link(temporary, path)  # never replaces one another process made meanwhile
    except FileExistsError:
        return box.open(path.read_text().strip())
    finally:
        temporary.unlink(missing_ok=True)
    return credential
