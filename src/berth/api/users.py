"""Swagger tag `user`: local users, the current user and its permissions, passwords and CLI secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from berth.api import schemas
from berth.api.numbers import RowId
from berth.api.deps import (
    PagingDep,
    RegistryDep,
    SubjectDep,
    harbor_time,
    require_login,
    require_system,
    visible_project,
)
from berth.auth.rbac import Subject, is_allowed_system, permissions_in, resource_paths, scope_project
from berth.security.roles import ADMIN_ONLY_SYSTEM_PERMISSIONS, ROBOT_SYSTEM_PERMISSIONS, Permission
from berth.services.errors import BadRequest, Forbidden, PreconditionFailed
from berth.services.registry import Registry
from berth.services.users import ADMIN_ID, UserRecord, fixed_user, require_local_accounts

router = APIRouter(tags=["user"])


def user_body(user: UserRecord) -> schemas.UserResp:
    return schemas.UserResp(
        email=user.email, realname=user.realname, comment=user.comment, user_id=user.id, username=user.username,
        sysadmin_flag=user.sysadmin, admin_role_in_auth=user.sysadmin and user.source != "db",
        oidc_user_meta=schemas.OIDCUserInfo(user_id=user.id) if user.source == "oidc" else None,
        creation_time=harbor_time(user.created_at), update_time=harbor_time(user.updated_at),
    )


def _is_self(subject: Subject, user_id: int) -> bool:
    return subject.kind == "user" and subject.user_id == user_id


def _user_id(subject: Subject) -> int | None:
    return subject.user_id if subject.kind == "user" else None


def _require_self_or(subject: Subject, user_id: int, action: str) -> None:
    if not _is_self(subject, user_id):
        require_system(subject, "user", action)


async def _require_modifiable(registry: Registry, subject: Subject, user_id: int) -> None:
    """Harbor's rule: in db_auth a user edits itself and admins edit anyone; in other modes only the
    local admin's record can change."""
    if await registry.configurations.get("auth_mode") == "db_auth":
        _require_self_or(subject, user_id, "update")
        return
    if user_id != ADMIN_ID:
        raise Forbidden(f"User with ID {user_id} can't be updated")
    require_system(subject, "user", "update")


@router.get("/users", operation_id="listUsers", response_model=list[schemas.UserResp], response_model_exclude_none=True)
async def list_users(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.UserResp]:
    require_system(subject, "user", "list")
    found, total = await registry.users.list(q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [user_body(user) for user in found]


@router.post("/users", operation_id="createUser", status_code=201)
async def create_user(
    request: Request, registry: RegistryDep, subject: SubjectDep, user_req: Annotated[schemas.UserCreationReq, Body()],
) -> Response:
    await require_local_accounts(registry.configurations)
    if not is_allowed_system(subject, Permission("user", "create")):
        if await registry.configurations.get("self_registration") and subject.anonymous:
            raise Forbidden("self-registration cannot be triggered via API")
        require_system(subject, "user", "create")
    user = await registry.users.create(
        user_req.username or "", user_req.email or "", user_req.password or "", user_req.realname or "",
        user_req.comment or "",
    )
    return Response(status_code=201, headers={"Location": f"{request.scope.get('root_path', '')}/users/{user.id}"})


@router.get("/users/current", operation_id="getCurrentUserInfo", response_model=schemas.UserResp, response_model_exclude_none=True)
async def current_user(registry: RegistryDep, subject: SubjectDep) -> schemas.UserResp:
    require_login(subject)
    if subject.kind != "user" or subject.user_id is None:
        raise PreconditionFailed(f"get current user not available for security context: {subject.kind}")
    return user_body(await registry.users.get(subject.user_id))


@router.get("/users/search", operation_id="searchUsers", response_model=list[schemas.UserSearchRespItem])
async def search_users(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    username: Annotated[str, Query()],
) -> list[schemas.UserSearchRespItem]:
    require_login(subject)
    found, total = await registry.users.list(username=username, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [schemas.UserSearchRespItem(user_id=user.id, username=user.username) for user in found]


@router.get("/users/current/permissions", operation_id="getCurrentUserPermissions", response_model=list[schemas.Permission])
async def current_permissions(
    registry: RegistryDep, subject: SubjectDep, scope: str | None = None, relative: bool = False,
) -> list[schemas.Permission]:
    """What the caller may do in the namespace of `scope` (`/project/<id or name>[/...]`, or `/system`,
    the default), as Harbor lists it: every permission of the namespace with its full resource path,
    or with `relative` those inside `scope`, relative to it (`.` for the scope itself)."""
    require_login(subject)
    scope = scope or "/system"
    project_key = scope_project(scope)
    if project_key is not None:
        project = await visible_project(registry, subject, project_key)
        granted = permissions_in(subject, project.ref)
        namespace = f"/project/{project.id}"
        scope = namespace + scope.removeprefix(f"/project/{project_key}")  # a name reads as the id
    elif scope == "/system" or scope.startswith("/system/"):
        every = ROBOT_SYSTEM_PERMISSIONS | ADMIN_ONLY_SYSTEM_PERMISSIONS
        granted = frozenset(p for p in every if is_allowed_system(subject, p))
        namespace = "/system"
    else:
        raise BadRequest(f"invalid scope {scope[:100]!r}: /system or /project/<id>")
    return [
        schemas.Permission(resource=resource, action=action)
        for resource, action in resource_paths(granted, namespace, scope, relative)
    ]


@router.get("/users/{user_id}", operation_id="getUser", response_model=schemas.UserResp, response_model_exclude_none=True)
async def get_user(registry: RegistryDep, subject: SubjectDep, user_id: RowId) -> schemas.UserResp:
    _require_self_or(subject, user_id, "read")
    return user_body(await registry.users.get(user_id))


@router.put("/users/{user_id}", operation_id="updateUserProfile")
async def update_user(
    registry: RegistryDep, subject: SubjectDep, user_id: RowId, profile: Annotated[schemas.UserProfile, Body()],
) -> Response:
    await _require_modifiable(registry, subject, user_id)
    await registry.users.update_profile(user_id, profile.email, profile.realname, profile.comment)
    return Response(status_code=200)


@router.delete("/users/{user_id}", operation_id="deleteUser")
async def delete_user(registry: RegistryDep, subject: SubjectDep, user_id: RowId) -> Response:
    require_system(subject, "user", "delete")
    if fixed_user(_user_id(subject), user_id):
        raise Forbidden(f"User with ID {user_id} cannot be deleted")
    await registry.users.delete(user_id)
    registry.projects.groups_changed()
    return Response(status_code=200)


@router.put("/users/{user_id}/sysadmin", operation_id="setUserSysAdmin")
async def set_sysadmin(
    registry: RegistryDep, subject: SubjectDep, user_id: RowId, sysadmin_flag: Annotated[schemas.UserSysAdminFlag, Body()],
) -> Response:
    require_system(subject, "user", "update")
    if fixed_user(_user_id(subject), user_id):
        raise Forbidden(f"the system admin flag of user {user_id} cannot be changed by this call")
    if sysadmin_flag.sysadmin_flag is None:
        raise BadRequest("sysadmin_flag is required")
    await registry.users.set_sysadmin(user_id, sysadmin_flag.sysadmin_flag)
    return Response(status_code=200)


@router.put("/users/{user_id}/password", operation_id="updateUserPassword")
async def update_password(
    registry: RegistryDep, subject: SubjectDep, user_id: RowId, password: Annotated[schemas.PasswordReq, Body()],
) -> Response:
    """A user changing its own password gives the old one; an admin resetting another's does not."""
    await _require_modifiable(registry, subject, user_id)
    user = await registry.users.get(user_id)
    if user.source != "db":
        raise PreconditionFailed(f"user {user.username} authenticates through {user.source}: no local password")
    old = password.old_password if _is_self(subject, user_id) else None
    if _is_self(subject, user_id) and not old:
        raise BadRequest("old_password is required")
    await registry.users.change_password(user_id, password.new_password or "", old)
    return Response(status_code=200)


@router.put("/users/{user_id}/cli_secret", operation_id="setCliSecret")
async def set_cli_secret(
    registry: RegistryDep, subject: SubjectDep, user_id: RowId, secret: Annotated[schemas.OIDCCliSecretReq, Body()],
) -> Response:
    """The secret an OIDC user gives `docker login` in place of a password (stored hashed)."""
    mode = await registry.configurations.get("auth_mode")
    if mode != "oidc_auth":
        raise PreconditionFailed(f"unable to update CLI secret under authmode: {mode}")
    _require_self_or(subject, user_id, "update")
    await registry.users.set_cli_secret(user_id, secret.secret or "")
    return Response(status_code=200)
