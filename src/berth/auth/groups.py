"""Adding a user group, as the API and the web UI both do: an LDAP group (only in LDAP mode) must be
found in the directory by its DN and takes its name from there when none is given."""

from __future__ import annotations

import asyncio

from berth.auth.authenticator import ldap_config
from berth.auth.ldap_settings import LdapError
from berth.services.errors import BadRequest
from berth.services.registry import Registry
from berth.services.usergroups import LDAP_GROUP, GroupRecord


async def add_group(registry: Registry, name: str, group_type: int, dn: str) -> GroupRecord:
    if group_type == LDAP_GROUP:
        config = await registry.configurations.all()
        if config["auth_mode"] != "ldap_auth":
            raise BadRequest("LDAP groups can be added only when auth_mode is ldap_auth")
        from berth.auth import ldap  # ldap3 is loaded when LDAP is first used

        try:
            found = await asyncio.to_thread(ldap.search_groups, ldap_config(config), dn=dn)
        except LdapError as exc:
            raise BadRequest(f"cannot check the group in LDAP: {exc}") from None
        if not found:
            raise BadRequest(f"LDAP Group DN is not found: DN:{dn}")
        name = name or found[0].name
    return await registry.groups.create(name, group_type, dn)
