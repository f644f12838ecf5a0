"""What a webhook policy may say, checked the way Harbor checks it (pure: no I/O).

Harbor's order and messages (src/server/v2.0/handler/webhook.go): event types first, then each
target's address, notify type and payload format. berth also requires a name (Harbor's UI does) and
keeps an address's query string (Harbor drops it; a receiver's token often lives there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Harbor's supported event types, in Harbor's order (berth fires the artifact and quota ones so far),
#: then berth's own: CVE_ALLOWLIST_EXPIRING (an allowlist entry expires within 7 days), CONTENT_TRUST_AUDIT
#: (a pull a trust policy in audit mode let through that enforce mode would have refused)
EVENT_TYPES = (
    "PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
    "SCANNING_FAILED", "SCANNING_STOPPED", "SCANNING_COMPLETED", "REPLICATION", "TAG_RETENTION",
    "CVE_ALLOWLIST_EXPIRING", "CONTENT_TRUST_AUDIT",
)
HTTP, SLACK = "http", "slack"
NOTIFY_TYPES = (HTTP, SLACK)
DEFAULT_FORMAT, CLOUDEVENTS_FORMAT = "Default", "CloudEvents"
PAYLOAD_FORMATS = (DEFAULT_FORMAT, CLOUDEVENTS_FORMAT)
#: executions of a policy carry the vendor type of their target's notify type
VENDOR_TYPES = {HTTP: "WEBHOOK", SLACK: "SLACK"}
MAX_NAME_LENGTH = 255
#: limits beyond Harbor's: one event fans out to one delivery per target, so a policy stays small
MAX_TARGETS = 10
MAX_ADDRESS_LENGTH = 2048
MAX_SECRET_LENGTH = 4096
MAX_DESCRIPTION_LENGTH = 1024

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")


class PolicyInvalid(ValueError):
    """The policy cannot be stored; the message is Harbor's (or Harbor-like) 400 message."""


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    address: str
    #: plain text here; stored sealed
    auth_header: str = ""
    skip_cert_verify: bool = False
    payload_format: str = ""


def normalize_address(address: str) -> str:
    """Harbor's ParseEndpoint: trimmed, no trailing slash, http:// when no scheme; only http(s) with a
    host. Raises PolicyInvalid."""
    endpoint = address.strip(" ").rstrip("/")
    if not endpoint:
        raise PolicyInvalid("empty URL")
    scheme, found, _ = endpoint.partition("://")
    if found:
        if scheme not in ("http", "https"):
            raise PolicyInvalid(f"invalid scheme: {scheme}")
    else:
        endpoint = "http://" + endpoint
    try:
        parts = urlsplit(endpoint)
        port = parts.port  # raises on a port that is not a number
    except ValueError as error:
        raise PolicyInvalid(f'parse "{endpoint}": {error}') from None
    host = parts.netloc.rpartition("@")[2]
    if port is not None:
        host = host[: host.rfind(":")]
    if not host or not _HOST.match(host) or any(c.isspace() for c in endpoint):
        raise PolicyInvalid(f'parse "{endpoint}": invalid host in URL')
    return endpoint


def check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise PolicyInvalid("empty event type")
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise PolicyInvalid(f"unsupported event type {event_type}")
    return list(dict.fromkeys(event_types))  # duplicates would send the same event twice


def check_targets(policy_name: str, targets: Sequence[Target]) -> list[Target]:
    """The targets as stored: addresses normalized, http targets' empty format made Default."""
    if not targets:
        raise PolicyInvalid(f"empty notification target with policy {policy_name}")
    if len(targets) > MAX_TARGETS:
        raise PolicyInvalid(f"a policy has at most {MAX_TARGETS} targets")
    checked = []
    for target in targets:
        if len(target.address) > MAX_ADDRESS_LENGTH:
            raise PolicyInvalid(f"the target address is longer than {MAX_ADDRESS_LENGTH} characters")
        check_secret("auth_header", target.auth_header)
        address = normalize_address(target.address)
        if target.type not in NOTIFY_TYPES:
            raise PolicyInvalid(f"unsupported target type {target.type} with policy {policy_name}")
        # Harbor refuses any format on slack; berth lets the explicit default through
        if target.type == SLACK and target.payload_format not in ("", DEFAULT_FORMAT):
            raise PolicyInvalid("set payload format is not allowed for slack")
        if target.payload_format and target.payload_format not in PAYLOAD_FORMATS:
            raise PolicyInvalid(f"unsupported payload format type: {target.payload_format}")
        payload_format = target.payload_format or (DEFAULT_FORMAT if target.type == HTTP else "")
        checked.append(Target(target.type, address, target.auth_header, target.skip_cert_verify, payload_format))
    return checked


def check_secret(field: str, value: str | None) -> None:
    """An auth header or signing secret must be sendable as is: a value HTTP refuses (spaces at its
    ends, line breaks, control characters) would fail every delivery, with the secret in the error."""
    if not value:
        return
    if len(value) > MAX_SECRET_LENGTH:
        raise PolicyInvalid(f"{field} is longer than {MAX_SECRET_LENGTH} characters")
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PolicyInvalid(f"{field} must not start or end with spaces or hold control characters")


def check_description(description: str | None) -> None:
    if description and len(description) > MAX_DESCRIPTION_LENGTH:
        raise PolicyInvalid(f"the description is longer than {MAX_DESCRIPTION_LENGTH} characters")


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise PolicyInvalid("the policy name is required")
    if len(name) > MAX_NAME_LENGTH:
        raise PolicyInvalid(f"the policy name is longer than {MAX_NAME_LENGTH} characters")
    return name
