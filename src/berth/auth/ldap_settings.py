"""What LDAP is configured with and what it answers, without loading the LDAP client (ldap3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LdapConfig:
    url: str  # ldap://host[:port], ldaps://host[:port] or a bare host[:port] (ldap, or ldaps on 636)
    search_dn: str = ""  # "" binds anonymously
    search_password: str = ""
    base_dn: str = ""
    filter: str = ""  # ANDed with (uid=<name>); parentheses optional
    uid: str = "uid"
    scope: int = 2  # 0 base, 1 one level, 2 subtree
    timeout: int = 5  # seconds, for connecting and for each operation
    verify_cert: bool = True
    group_base_dn: str = ""  # "" means base_dn
    group_search_filter: str = ""
    group_attribute_name: str = "cn"
    group_search_scope: int = 2
    group_admin_dn: str = ""  # members of this group are system admins
    group_membership_attribute: str = "memberof"


@dataclass(frozen=True, slots=True)
class LdapUser:
    username: str
    realname: str
    email: str
    dn: str
    group_dns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LdapGroup:
    name: str
    dn: str


class LdapError(Exception):
    """The server or the configuration is at fault: unreachable, bad bind credentials, bad base DN, bad filter."""
