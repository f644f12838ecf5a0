"""Swagger tag `member`: users and user groups holding Harbor roles in a project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.numbers import RowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, project_for
from berth.security.roles import ROLE_NAMES, Role
from berth.services.errors import BadRequest
from berth.services.projects import MemberRecord
from berth.services.members import group_entity, user_entity

router = APIRouter(tags=["member"])


def _entity(member: MemberRecord) -> schemas.ProjectMemberEntity:
    role_name = ROLE_NAMES.get(Role(member.role), "") if member.role in Role._value2member_map_ else ""
    return schemas.ProjectMemberEntity(
        id=member.id, project_id=member.project_id, entity_name=member.entity_name, role_name=role_name,
        role_id=member.role, entity_id=member.entity_id, entity_type=member.entity_type,
    )


@router.get("/projects/{project_name_or_id}/members", operation_id="listProjectMembers", response_model=list[schemas.ProjectMemberEntity])
async def list_members(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, entityname: str | None = None,
) -> list[schemas.ProjectMemberEntity]:
    project = await project_for(registry, subject, project_name_or_id, request, "member", "list")
    found, total = await registry.projects.members(project.id, entityname, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [_entity(member) for member in found]


@router.post("/projects/{project_name_or_id}/members", operation_id="createProjectMember", status_code=201)
async def create_member(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    project_member: Annotated[schemas.ProjectMember, Body()],
) -> Response:
    """Add a user (by id or name) or a group (by id, or by name/DN: created when new) with a role."""
    project = await project_for(registry, subject, project_name_or_id, request, "member", "create")
    body = project_member
    if body.role_id is None:
        raise BadRequest("role can not be empty")
    if body.member_user is not None and (body.member_user.user_id or body.member_user.username):
        entity = await user_entity(registry.users, body.member_user.user_id, body.member_user.username)
    elif body.member_group is not None and (body.member_group.id or body.member_group.group_name or body.member_group.ldap_group_dn):
        group = body.member_group
        entity = await group_entity(registry.groups, group.id, group.group_type, group.group_name, group.ldap_group_dn)
    else:
        raise BadRequest("at least one of member_user or member_group must be provided")
    member_id = await registry.projects.add_member(project.id, entity[0], entity[1], body.role_id)
    location = f"{request.scope.get('root_path', '')}/projects/{project_name_or_id}/members/{member_id}"
    return Response(status_code=201, headers={"Location": location})


@router.get("/projects/{project_name_or_id}/members/{mid}", operation_id="getProjectMember", response_model=schemas.ProjectMemberEntity)
async def get_member(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, mid: RowId) -> schemas.ProjectMemberEntity:
    project = await project_for(registry, subject, project_name_or_id, request, "member", "read")
    return _entity(await registry.projects.member(project.id, mid))


@router.put("/projects/{project_name_or_id}/members/{mid}", operation_id="updateProjectMember")
async def update_member(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, mid: RowId,
    role: Annotated[schemas.RoleRequest, Body()],
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, "member", "update")
    if role.role_id is None:
        raise BadRequest("role can not be empty")
    await registry.projects.update_member(project.id, mid, role.role_id)
    return Response(status_code=200)


@router.delete("/projects/{project_name_or_id}/members/{mid}", operation_id="deleteProjectMember")
async def delete_member(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, mid: RowId) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, "member", "delete")
    await registry.projects.remove_member(project.id, mid)
    return Response(status_code=200)
