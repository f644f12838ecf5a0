"""Who may call the adapter: the one credential configured for Harbor's scanner registration, in any
of the three forms Harbor's client sends it (src/pkg/scan/rest/auth): `Authorization: Bearer <it>`,
`Authorization: Basic base64(<it>)` (so "user:password" makes ordinary Basic auth), or
`X-ScannerAdapter-API-Key: <it>`; compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

API_KEY_HEADER = "x-scanneradapter-api-key"


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
