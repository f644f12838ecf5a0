"""System configuration changed at run time (/api/v2.0/configurations): Harbor's keys, types and defaults.

Values live in the `configurations` table as JSON; secrets (the LDAP bind password, the OIDC client
secret) are sealed with the secret box and never returned by the API. The config file's
`configurations:` mapping is written over the table at start, so a file is authoritative for the
keys it names.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from berth.db.models import Configuration, User, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import Event, ResourceChanged
from berth.security.keys import SecretBox
from berth.services.audit_forward import endpoint_reachable
from berth.services.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Item:
    type: type
    default: Any
    secret: bool = False
    choices: tuple[str, ...] = ()


AUTH_MODES = ("db_auth", "ldap_auth", "oidc_auth")

ITEMS: dict[str, Item] = {
    "auth_mode": Item(str, "db_auth", choices=AUTH_MODES),
    "primary_auth_mode": Item(bool, False),
    "self_registration": Item(bool, False),
    "project_creation_restriction": Item(str, "everyone", choices=("everyone", "adminonly")),
    "token_expiration": Item(int, 30),
    "robot_token_duration": Item(int, 30),
    "robot_name_prefix": Item(str, "robot$"),
    "session_timeout": Item(int, 60),
    "banner_message": Item(str, ""),
    "read_only": Item(bool, False),
    "notification_enable": Item(bool, True),
    "quota_per_project_enable": Item(bool, True),
    "storage_per_project": Item(int, -1),
    "audit_log_forward_endpoint": Item(str, ""),
    "skip_audit_log_database": Item(bool, False),
    "scanner_skip_update_pulltime": Item(bool, False),
    "disabled_audit_log_event_types": Item(str, ""),
    "pull_audit_log_disable": Item(bool, False),
    "ldap_url": Item(str, ""),
    "ldap_search_dn": Item(str, ""),
    "ldap_search_password": Item(str, "", secret=True),
    "ldap_base_dn": Item(str, ""),
    "ldap_filter": Item(str, ""),
    "ldap_uid": Item(str, "cn"),
    "ldap_scope": Item(int, 2),
    "ldap_timeout": Item(int, 5),
    "ldap_verify_cert": Item(bool, True),
    "ldap_group_base_dn": Item(str, ""),
    "ldap_group_search_filter": Item(str, ""),
    "ldap_group_attribute_name": Item(str, ""),
    "ldap_group_search_scope": Item(int, 2),
    "ldap_group_admin_dn": Item(str, ""),
    "ldap_group_membership_attribute": Item(str, "memberof"),
    "ldap_group_attach_parallel": Item(bool, False),
    "oidc_name": Item(str, ""),
    "oidc_endpoint": Item(str, ""),
    "oidc_client_id": Item(str, ""),
    "oidc_client_secret": Item(str, "", secret=True),
    "oidc_groups_claim": Item(str, ""),
    "oidc_admin_group": Item(str, ""),
    "oidc_group_filter": Item(str, ""),
    "oidc_scope": Item(str, "openid,profile,email,offline_access"),
    "oidc_user_claim": Item(str, ""),
    "oidc_verify_cert": Item(bool, True),
    "oidc_auto_onboard": Item(bool, False),
    "oidc_extra_redirect_parms": Item(str, "{}"),
    "oidc_logout": Item(bool, False),
}

#: Harbor keys berth does not implement (UAA and HTTP auth proxy): reported as not editable, refused on change
UNSUPPORTED: dict[str, type] = {
    "uaa_client_id": str, "uaa_client_secret": str, "uaa_endpoint": str, "uaa_verify_cert": bool,
    "http_authproxy_endpoint": str, "http_authproxy_tokenreview_endpoint": str,
    "http_authproxy_admin_groups": str, "http_authproxy_admin_usernames": str, "http_authproxy_verify_cert": bool,
    "http_authproxy_skip_search": bool, "http_authproxy_server_certificate": str,
}
UNSUPPORTED_PREFIXES = ("uaa_", "http_authproxy_")
_INT_RANGES = {
    "token_expiration": (1, 60 * 24 * 365),
    "robot_token_duration": (1, 2**31 - 1),
    "session_timeout": (1, 60 * 24 * 365),
    "ldap_scope": (0, 2),
    "ldap_group_search_scope": (0, 2),
    "ldap_timeout": (1, 3600),
    "storage_per_project": (-1, 2**62),
}


def coerce(key: str, value: Any) -> Any:
    """`value` as key's type, or BadRequest saying why not. Pure; used by the API and the config file."""
    if key.startswith(UNSUPPORTED_PREFIXES):
        raise BadRequest(f"configuration {key} is not supported by berth (UAA and HTTP auth proxy are not implemented)")
    item = ITEMS.get(key)
    if item is None:
        raise BadRequest(f"unknown configuration item: {key}")
    if item.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadRequest(f"configuration {key} must be a boolean")
    if item.type is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadRequest(f"configuration {key} must be an integer")
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"configuration {key} must be an integer") from None
        low, high = _INT_RANGES.get(key, (-(2**62), 2**62))
        if not low <= number <= high:
            raise BadRequest(f"configuration {key} must be between {low} and {high}")
        return number
    if not isinstance(value, str):
        raise BadRequest(f"configuration {key} must be a string")
    if len(value) > 4096:
        raise BadRequest(f"configuration {key} is longer than 4096 characters")
    if item.choices and value not in item.choices:
        raise BadRequest(f"invalid {key}: {value!r}; one of {', '.join(item.choices)}")
    if key == "oidc_extra_redirect_parms" and value:
        try:
            if not isinstance(json.loads(value), dict):
                raise ValueError
        except ValueError:
            raise BadRequest("oidc_extra_redirect_parms must be a JSON object") from None
    return value


async def _check_audit_forwarding(changes: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Harbor's rules: skipping the database needs a forward endpoint, and a new endpoint must answer."""
    if "skip_audit_log_database" not in changes and "audit_log_forward_endpoint" not in changes:
        return
    endpoint = str(changes.get("audit_log_forward_endpoint", current["audit_log_forward_endpoint"])).strip()
    if changes.get("skip_audit_log_database", current["skip_audit_log_database"]) and not endpoint:
        raise BadRequest("audit log forward endpoint should be configured before enable skip audit log in database")
    if changes.get("audit_log_forward_endpoint", "").strip():
        if not await endpoint_reachable(endpoint):
            raise BadRequest(f"could not connect to the audit endpoint: {endpoint}")


#: seconds the configuration is trusted before it is read again (changes made on this node apply at once)
CACHE_SECONDS = 3.0


class ConfigurationService:
    def __init__(self, db: Database, box: SecretBox, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events or EventBus()
        self._box = box
        self._values: dict[str, Any] | None = None
        self._read_at = 0.0
        #: keys the config file sets: written over at every start, so not editable through the API
        self.fixed: frozenset[str] = frozenset()
        #: bumped on every change (cached credentials depend on the auth mode)
        self.version = 0

    async def all(self) -> dict[str, Any]:
        """Every item's current value (secrets in plain text: for berth's own use, never for the API).
        Re-read every CACHE_SECONDS, so that a change made on another node arrives here too."""
        now = time.monotonic()
        if self._values is None or now - self._read_at > CACHE_SECONDS:
            async with self._db.read() as conn:
                rows = (await conn.execute(select(Configuration.key, Configuration.value))).all()
            values = {key: item.default for key, item in ITEMS.items()}
            for key, raw in rows:
                if key in ITEMS:
                    value = json.loads(raw)
                    values[key] = self._box.open(value) if ITEMS[key].secret and value else value
            if self._values is not None and values != self._values:
                self.version += 1  # changed elsewhere: what depends on it (remembered logins) starts over
            self._values, self._read_at = values, now
        return dict(self._values)

    async def get(self, key: str) -> Any:
        return (await self.all())[key]

    def invalidate(self) -> None:
        self._values = None
        self.version += 1

    async def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate every change first, then store them all in one transaction."""
        coerced = {key: coerce(key, value) for key, value in changes.items()}
        fixed = sorted(set(coerced) & self.fixed)
        if fixed:
            raise BadRequest(f"set by the config file, so not editable here: {', '.join(fixed)}")
        current = await self.all()
        if "auth_mode" in coerced and coerced["auth_mode"] != current["auth_mode"]:
            async with self._db.read() as conn:
                others = await conn.scalar(select(func.count()).select_from(User).where(User.id != 1))
            if others:
                # Harbor's rule: users of one mode cannot log in under another
                raise BadRequest(
                    "the auth mode cannot be changed once users other than admin exist in the database"
                )
        await _check_audit_forwarding(coerced, current)
        await self._store(coerced, ResourceChanged(resource_type="configuration", operation="update",
                                                   resource="configuration"))
        return coerced

    async def apply_file(self, values: Mapping[str, Any]) -> None:
        """Config-file values, written over the stored ones at start (no auth-mode guard: the file rules)."""
        await self._store({key: coerce(key, value) for key, value in values.items()})
        self.fixed = frozenset(values)

    async def _store(self, values: Mapping[str, Any], event: Event | None = None) -> None:
        """Write the values, and `event` (the audit's "update configuration") with them."""
        if not values and event is None:
            return
        now = utcnow()
        async with self._db.write() as conn:
            for key, value in values.items():
                stored = self._box.seal(value) if ITEMS[key].secret and value else value
                await conn.execute(delete(Configuration).where(Configuration.key == key))
                await conn.execute(
                    self._db.insert(Configuration).values(key=key, value=json.dumps(stored), updated_at=now)
                )
            if event is not None:
                await self._events.record(conn, event)
        self.invalidate()
