"""Swagger tag `usergroup`: LDAP, HTTP and OIDC user groups that can be project members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.numbers import RowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, require_login, require_system
from berth.auth.groups import add_group
from berth.services.usergroups import GroupRecord

router = APIRouter(tags=["usergroup"])


def _body(group: GroupRecord) -> schemas.UserGroup:
    return schemas.UserGroup(id=group.id, group_name=group.group_name, group_type=group.group_type, ldap_group_dn=group.ldap_group_dn)


@router.get("/usergroups", operation_id="listUserGroups", response_model=list[schemas.UserGroup], response_model_exclude_none=True)
async def list_groups(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    ldap_group_dn: str | None = None, group_name: str | None = None,
) -> list[schemas.UserGroup]:
    require_system(subject, "user-group", "list")
    found, total = await registry.groups.list(
        group_name=group_name, ldap_group_dn=ldap_group_dn, offset=paging.offset, limit=paging.limit
    )
    paging.headers(request, response, total)
    return [_body(group) for group in found]


@router.post("/usergroups", operation_id="createUserGroup", status_code=201)
async def create_group(
    request: Request, registry: RegistryDep, subject: SubjectDep, usergroup: Annotated[schemas.UserGroup, Body()],
) -> Response:
    require_system(subject, "user-group", "create")
    group = await add_group(registry, usergroup.group_name or "", usergroup.group_type or 0, usergroup.ldap_group_dn or "")
    return Response(status_code=201, headers={"Location": f"{request.scope.get('root_path', '')}/usergroups/{group.id}"})


@router.get("/usergroups/search", operation_id="searchUserGroups", response_model=list[schemas.UserGroupSearchItem])
async def search_groups(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep, groupname: str,
) -> list[schemas.UserGroupSearchItem]:
    require_login(subject)
    found, total = await registry.groups.list(group_name=groupname, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [schemas.UserGroupSearchItem(id=g.id, group_name=g.group_name, group_type=g.group_type) for g in found]


@router.get("/usergroups/{group_id}", operation_id="getUserGroup", response_model=schemas.UserGroup, response_model_exclude_none=True)
async def get_group(registry: RegistryDep, subject: SubjectDep, group_id: RowId) -> schemas.UserGroup:
    require_system(subject, "user-group", "read")
    return _body(await registry.groups.get(group_id))


@router.put("/usergroups/{group_id}", operation_id="updateUserGroup")
async def update_group(
    registry: RegistryDep, subject: SubjectDep, group_id: RowId, usergroup: Annotated[schemas.UserGroup, Body()],
) -> Response:
    """Only the name changes; type and DN identify the group."""
    require_system(subject, "user-group", "update")
    await registry.groups.rename(group_id, usergroup.group_name or "")
    return Response(status_code=200)


@router.delete("/usergroups/{group_id}", operation_id="deleteUserGroup")
async def delete_group(registry: RegistryDep, subject: SubjectDep, group_id: RowId) -> Response:
    require_system(subject, "user-group", "delete")
    await registry.groups.delete(group_id)
    registry.projects.groups_changed()
    return Response(status_code=200)
