"""Testing LDAP settings (Harbor's /ldap/ping), as the API and the web UI's "test" button both do: the
stored settings, or the given ones over them. An empty password means the stored one, but only for
the stored server and bind DN: the stored secret is never sent anywhere else."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from berth.auth.authenticator import ldap_config
from berth.auth.ldap_settings import LdapConfig, LdapError
from berth.services.configurations import coerce


def settings_to_test(stored: dict[str, Any], given: Mapping[str, Any] | None) -> LdapConfig:
    """The settings to test: `given` (Harbor's LdapConf keys) over the stored ones, when it names a server."""
    config = ldap_config(stored)
    if not given or not given.get("ldap_url"):
        return config
    same_target = given["ldap_url"] == config.url and (given.get("ldap_search_dn") or "") == config.search_dn
    scope, timeout, verify = given.get("ldap_scope"), given.get("ldap_connection_timeout"), given.get("ldap_verify_cert")
    return dataclasses.replace(
        config, url=given["ldap_url"], search_dn=given.get("ldap_search_dn") or "",
        search_password=given.get("ldap_search_password") or (config.search_password if same_target else ""),
        base_dn=given.get("ldap_base_dn") or "", filter=given.get("ldap_filter") or "", uid=given.get("ldap_uid") or "cn",
        # held to the stored items' ranges: a negative timeout or an unknown scope is a 400, not a 500
        scope=coerce("ldap_scope", scope) if scope is not None else 2,
        timeout=coerce("ldap_timeout", timeout) if timeout else config.timeout,
        verify_cert=verify if verify is not None else True,
    )


async def ping(config: LdapConfig) -> str | None:
    """None when the directory answers and the bind works, else the reason."""
    from berth.auth import ldap  # ldap3 is loaded when LDAP is first used

    try:
        await asyncio.to_thread(ldap.ping, config)
    except LdapError as exc:
        return str(exc)
    return None
