"""Who may call the adapter: the one credential configured for Harbor's scanner registration, in any
of the three forms Harbor sends it (Bearer, Basic, X-ScannerAdapter-API-Key), compared in constant time."""

from __future__ import annotations

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
    return scheme.lower() in ("bearer", "basic") and hmac.compare_digest(value.strip().encode(), expected)
