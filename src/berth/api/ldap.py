"""Swagger tag `ldap`: test an LDAP configuration, search users and groups, import users."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import ORJSONResponse

from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, require_sysadmin, require_system
from berth.auth import ldap_test
from berth.auth.ldap_settings import LdapConfig, LdapError
from berth.auth.authenticator import ldap_config
from berth.services.errors import BadRequest, PreconditionFailed
from berth.services.registry import Registry

router = APIRouter(tags=["ldap"])


async def _config(registry: Registry) -> LdapConfig:
    values = await registry.configurations.all()
    if not values["ldap_url"]:
        raise PreconditionFailed("LDAP is not configured (ldap_url is empty)")
    return ldap_config(values)


async def _run(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except LdapError as exc:
        raise BadRequest(f"LDAP: {exc}") from None


@router.post("/ldap/ping", operation_id="pingLdap", response_model=schemas.LdapPingResult)
async def ping_ldap(
    registry: RegistryDep, subject: SubjectDep, ldapconf: Annotated[schemas.LdapConf | None, Body()] = None,
) -> schemas.LdapPingResult:
    """Test the stored LDAP settings, or the ones given. An empty password means the stored one, but
    only for the stored server and bind DN: the stored secret is never sent anywhere else."""
    require_sysadmin(subject, "only system administrators may test LDAP settings")
    given = ldapconf.model_dump() if ldapconf is not None else None
    problem = await ldap_test.ping(ldap_test.settings_to_test(await registry.configurations.all(), given))
    if problem is not None:
        return schemas.LdapPingResult(success=False, message=problem)
    return schemas.LdapPingResult(success=True, message="")


@router.get("/ldap/users/search", operation_id="searchLdapUser", response_model=list[schemas.LdapUser])
async def search_users(registry: RegistryDep, subject: SubjectDep, username: str = "") -> list[schemas.LdapUser]:
    require_system(subject, "ldap-user", "list")
    found = await _run(_directory().search_users, await _config(registry), username)
    return [schemas.LdapUser(username=u.username, realname=u.realname, email=u.email) for u in found]


@router.get("/ldap/groups/search", operation_id="searchLdapGroup", response_model=list[schemas.UserGroup], response_model_exclude_none=True)
async def search_groups(
    registry: RegistryDep, subject: SubjectDep, groupname: str = "", groupdn: str = "",
) -> list[schemas.UserGroup]:
    require_system(subject, "ldap-user", "list")
    if not groupname and not groupdn:
        raise BadRequest("give groupname or groupdn")
    found = await _run(_directory().search_groups, await _config(registry), name=groupname, dn=groupdn)
    return [schemas.UserGroup(group_name=g.name, ldap_group_dn=g.dn, group_type=1) for g in found]


@router.post("/ldap/users/import", operation_id="importLdapUser")
async def import_users(
    registry: RegistryDep, subject: SubjectDep, uid_list: Annotated[schemas.LdapImportUsers, Body()],
) -> ORJSONResponse:
    """Onboard LDAP users by uid before their first login; 404 lists those that failed (404 absent, 409 exists)."""
    require_system(subject, "ldap-user", "create")
    config = await _config(registry)
    failed: list[dict[str, str]] = []
    for uid in uid_list.ldap_uid_list or []:
        found = await _run(_directory().search_users, config, uid)
        if len(found) != 1:
            failed.append({"uid": uid, "error": "404"})
            continue
        if await registry.users.find_by_name(found[0].username) is not None:
            failed.append({"uid": uid, "error": "409"})
            continue
        entry = found[0]
        await registry.users.onboard(
            source="ldap", username=entry.username, email=entry.email, realname=entry.realname, sysadmin=None,
        )
    if failed:
        return ORJSONResponse(failed, status_code=404)
    return ORJSONResponse(None, status_code=200)


def _directory():  # type: ignore[no-untyped-def]
    """The LDAP client module, imported when an LDAP operation first runs (ldap3 is 6 MiB)."""
    from berth.auth import ldap

    return ldap
