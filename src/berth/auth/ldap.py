"""LDAP authentication as Harbor does it: find the user with the search DN, then bind as that user.

Synchronous (ldap3); callers run it in a worker thread. Every call opens and closes its own connection.
Callers import this module when they first talk to a directory (ldap3 is 6 MiB of a process that may
never use LDAP); the settings, results and error live in `ldap_settings.py`.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from berth.auth.ldap_settings import LdapConfig, LdapError, LdapGroup, LdapUser

log = logging.getLogger(__name__)

_SCOPES = {0: ldap3.BASE, 1: ldap3.LEVEL, 2: ldap3.SUBTREE}
_PAGE_SIZE = 1000  # Harbor's; Active Directory refuses larger result sets without paging
# bind results that mean "not this password" (or not this account now) rather than "server trouble"
_REFUSALS = {48, 49, 50, 53}  # inappropriateAuthentication, invalidCredentials, insufficientAccess, unwilling


def ping(config: LdapConfig) -> None:
    """Connect and bind with the search DN; raise LdapError saying what went wrong."""
    with _search_connection(config):
        pass


def authenticate(config: LdapConfig, username: str, password: str) -> LdapUser | None:
    """The user when exactly one entry matches and the password binds as it, else None."""
    if not username.strip() or not password:
        return None  # an empty password would be an unauthenticated (anonymous) bind that "succeeds"
    with _search_connection(config) as conn:
        users = _search_users(conn, config, username)
        if len(users) != 1:
            log.info("ldap login for %r: %d entries match", username, len(users))
            return None
        user = users[0]
        if not _password_binds(config, user.dn, password):
            log.info("ldap login for %r: bind as %s refused", username, user.dn)
            return None
        # no memberOf values: the server may not keep them (no memberof overlay), so ask the groups
        return user if user.group_dns else _with_groups_by_member(conn, config, user)


def search_users(config: LdapConfig, username: str = "") -> list[LdapUser]:
    """Users matching the filter: all of them for "", else those whose uid attribute equals username."""
    with _search_connection(config) as conn:
        return _search_users(conn, config, username)


def search_groups(config: LdapConfig, *, name: str = "", dn: str = "") -> list[LdapGroup]:
    """Groups by exact DN (which must lie under the group base DN), else by name; both empty lists all."""
    group_base = config.group_base_dn or config.base_dn
    if dn:
        if _dn_key(dn) is None:
            raise LdapError(f"invalid group DN {dn!r}")
        if not _is_under(dn, group_base):
            return []
        base, scope = dn, ldap3.BASE
    elif group_base:
        base, scope = group_base, _scope(config.group_search_scope)
    else:
        raise LdapError("no LDAP group base DN configured")
    attribute = config.group_attribute_name or "cn"
    condition = f"({escape_filter_chars(attribute)}={escape_filter_chars(name) if name else '*'})"
    with _search_connection(config) as conn:
        # a group DN that does not exist is "not found", not a configuration problem
        entries = _search(conn, base, _and(config.group_search_filter, condition), scope, [attribute], bool(dn))
    return [LdapGroup(name=_first(entry, attribute) or entry["dn"], dn=entry["dn"]) for entry in entries]


def is_admin(config: LdapConfig, user: LdapUser) -> bool:
    """Whether the user is in the configured LDAP admin group."""
    admin = _dn_key(config.group_admin_dn)
    return admin is not None and any(_dn_key(dn) == admin for dn in user.group_dns)


def _search_users(conn: ldap3.Connection, config: LdapConfig, username: str) -> list[LdapUser]:
    if not config.base_dn:
        raise LdapError("no LDAP base DN configured")
    condition = f"({escape_filter_chars(config.uid)}={escape_filter_chars(username) if username else '*'})"
    membership = config.group_membership_attribute
    attributes = [config.uid, "cn", "displayName", "mail", membership]
    entries = _search(conn, config.base_dn, _and(config.filter, condition), _scope(config.scope), attributes)
    return [
        LdapUser(
            username=_login_name(_values(entry, config.uid), username),
            realname=_first(entry, "displayName") or _first(entry, "cn"),
            email=_first(entry, "mail"),
            dn=entry["dn"],
            group_dns=tuple(value.strip() for value in _values(entry, membership)),
        )
        for entry in entries
    ]


def _login_name(values: list[str], wanted: str) -> str:
    """The uid value the login matched (an entry may hold several), else its first one."""
    key = wanted.strip().lower()
    return next((value for value in values if value.strip().lower() == key), values[0] if values else "")


def _with_groups_by_member(conn: ldap3.Connection, config: LdapConfig, user: LdapUser) -> LdapUser:
    dn = escape_filter_chars(user.dn)
    filter_ = _and(config.group_search_filter, f"(|(member={dn})(uniqueMember={dn}))")
    base = config.group_base_dn or config.base_dn
    entries = _search(conn, base, filter_, _scope(config.group_search_scope), ["1.1"])
    return LdapUser(user.username, user.realname, user.email, user.dn, tuple(entry["dn"] for entry in entries))


def _password_binds(config: LdapConfig, dn: str, password: str) -> bool:
    conn = ldap3.Connection(
        _server(config), dn, password, receive_timeout=config.timeout, raise_exceptions=True, check_names=False
    )
    try:
        conn.open()
        conn.bind()
        return True
    except ldap_errors.LDAPOperationResult as exc:
        if exc.result in _REFUSALS:
            return False
        raise LdapError(f"LDAP server {config.url}: {_reason(exc)}") from exc
    except ldap_errors.LDAPException as exc:
        raise LdapError(f"LDAP server {config.url}: {_reason(exc)}") from exc
    finally:
        conn.unbind()


@contextmanager
def _search_connection(config: LdapConfig) -> Iterator[ldap3.Connection]:
    who = config.search_dn or "anonymous"
    conn = ldap3.Connection(
        _server(config),
        config.search_dn or None,
        config.search_password or None,
        authentication=ldap3.SIMPLE if config.search_dn else ldap3.ANONYMOUS,
        receive_timeout=config.timeout,
        raise_exceptions=True,
        return_empty_attributes=False,
        read_only=True,
        check_names=False,  # ldap3 rejects DNs such as "ou=x, dc=y" that servers accept
    )
    try:
        try:
            conn.open()
        except ldap_errors.LDAPException as exc:
            raise LdapError(f"cannot reach LDAP server {config.url}: {_reason(exc)}") from exc
        try:
            conn.bind()
        except ldap_errors.LDAPPasswordIsMandatoryError:
            raise LdapError(f"cannot bind to {config.url} as {who}: the search password is empty") from None
        except ldap_errors.LDAPException as exc:
            raise LdapError(f"cannot bind to {config.url} as {who}: {_reason(exc)}") from exc
        yield conn
    finally:
        conn.unbind()


def _search(
    conn: ldap3.Connection, base: str, filter_: str, scope: str, attributes: list[str], missing_ok: bool = False
) -> list[dict]:
    try:
        entries = conn.extend.standard.paged_search(
            base, filter_, scope, ldap3.DEREF_NEVER, attributes, paged_size=_PAGE_SIZE, generator=False
        )
    except ldap_errors.LDAPNoSuchObjectResult:
        if missing_ok:
            return []
        raise LdapError(f"LDAP base DN {base!r} does not exist") from None
    except ldap_errors.LDAPInvalidFilterError as exc:
        raise LdapError(f"invalid LDAP filter {filter_!r}: {exc}") from exc
    except ldap_errors.LDAPInvalidDNSyntaxResult:
        raise LdapError(f"invalid LDAP base DN {base!r}") from None
    except ldap_errors.LDAPException as exc:
        raise LdapError(f"LDAP search under {base!r} failed: {_reason(exc)}") from exc
    return [entry for entry in entries if entry.get("type") == "searchResEntry"]


def _server(config: LdapConfig) -> ldap3.Server:
    """Harbor's URL rules: ldap:// unless told otherwise, ldaps on port 636, default ports 389/636."""
    raw = config.url.strip().rstrip("/")
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "ldap", raw
    scheme = scheme.lower()
    if scheme not in ("ldap", "ldaps") or not rest:
        raise LdapError(f"invalid LDAP URL {config.url!r}: use ldap://host[:port] or ldaps://host[:port]")
    try:
        parts = urlsplit(f"//{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise LdapError(f"invalid LDAP URL {config.url!r}: {exc}") from None
    if not host:
        raise LdapError(f"invalid LDAP URL {config.url!r}: no host")
    use_ssl = scheme == "ldaps" or port == 636
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if config.verify_cert else ssl.CERT_NONE, sni=host) if use_ssl else None
    return ldap3.Server(
        host,
        port=port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=config.timeout,
    )


def _and(*filters: str) -> str:
    """AND filters together, adding the parentheses Harbor lets admins leave out."""
    parts = [f if f.startswith("(") and f.endswith(")") else f"({f})" for f in (f.strip() for f in filters) if f]
    return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"


def _scope(value: int) -> str:
    if value not in _SCOPES:
        raise LdapError(f"invalid LDAP search scope {value}: use 0 (base), 1 (one level) or 2 (subtree)")
    return _SCOPES[value]


def _values(entry: dict, attribute: str) -> list[str]:
    return [value.decode("utf-8", "replace") for value in entry["raw_attributes"].get(attribute, [])]


def _first(entry: dict, attribute: str) -> str:
    values = _values(entry, attribute)
    return values[0].strip() if values else ""  # OpenLDAP values sometimes carry stray spaces


def _dn_key(dn: str) -> tuple[str, ...] | None:
    """A DN in a form that compares equal however its case and spacing were written; None if unparsable."""
    try:
        return tuple(f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _ in parse_dn(dn, strip=True))
    except ldap_errors.LDAPInvalidDnError:
        return None


def _is_under(dn: str, base: str) -> bool:
    child, parent = _dn_key(dn), _dn_key(base) if base else ()
    return child is not None and parent is not None and child[len(child) - len(parent) :] == parent


def _reason(exc: Exception) -> str:
    """ldap3's messages, shortened to what an admin can act on."""
    if isinstance(exc, ldap_errors.LDAPOperationResult):
        # e.g. "invalidCredentials", with Active Directory's diagnostic (which says why) when it sends one
        return f"{exc.description} ({exc.message})" if exc.message else exc.description or str(exc)
    history = exc.args[1] if len(exc.args) == 2 and isinstance(exc.args[1], list) else None
    text = str(history[0][0]) if history else str(exc)  # one error per address tried: the first says enough
    if isinstance(exc, ldap_errors.LDAPResponseTimeoutError) or "timed out" in text:
        return "timed out"
    # ldap3 re-wraps socket errors in tuples: drop the quoting and the C source locations
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text).strip("()\"', ") or type(exc).__name__
