"""Swagger tags `robot` and `permissions`: robot accounts (system and project level) and what they may be given."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.numbers import RowId
from berth.api.deps import (
    PagingDep,
    RegistryDep,
    SubjectDep,
    harbor_time,
    require_login,
    require_project,
    require_system,
    visible_project,
)
from berth.auth.rbac import Subject, is_allowed
from berth.auth.robot_grants import change_robot, robot_grants, store_robot
from berth.query import Fuzzy, QueryInvalid, parse_query
from berth.security.roles import Permission, grantable
from berth.services.errors import BadRequest, Forbidden
from berth.services.registry import Registry
from berth.services.robots import RobotGrant, RobotRecord

router = APIRouter(tags=["robot"])
permissions_router = APIRouter(tags=["permissions"])


def robot_body(robot: RobotRecord, prefix: str) -> schemas.Robot:
    return schemas.Robot(
        id=robot.id, name=prefix + robot.name, description=robot.description, level=robot.level,
        duration=robot.duration, editable=True, disable=robot.disabled, expires_at=robot.expires_at,
        permissions=[
            schemas.RobotPermission(
                kind=grant.kind, namespace=grant.namespace,
                access=[schemas.Access(resource=p.resource, action=p.action, effect="allow") for p in grant.access],
            )
            for grant in robot.grants
        ],
        creator_type=robot.creator_type, creator_ref=robot.creator_ref,
        creation_time=harbor_time(robot.created_at), update_time=harbor_time(robot.updated_at),
    )


async def _grants(
    registry: Registry, subject: Subject, level: str, permissions: list[schemas.RobotPermission],
) -> tuple[list[RobotGrant], tuple[int, str] | None]:
    return await robot_grants(subject, level, [spec.model_dump() for spec in permissions],
                              _project_finder(registry, subject))


def _project_finder(registry: Registry, subject: Subject):  # type: ignore[no-untyped-def]
    """The projects a robot's permissions may name: those `subject` may see (404 for another)."""
    return lambda name: visible_project(registry, subject, name, by_name=True)


def _require_manage(subject: Subject, robot_level: str, project_ref, action: str) -> None:  # type: ignore[no-untyped-def]
    if robot_level == "system" or project_ref is None:
        require_system(subject, "robot", action)
    elif not is_allowed(subject, Permission("robot", action), project_ref):
        require_login(subject)
        raise Forbidden("forbidden")


async def _project_ref(registry: Registry, robot: RobotRecord):  # type: ignore[no-untyped-def]
    if robot.project_id is None:
        return None
    found = await registry.projects.find(str(robot.project_id))
    return found.ref if found else None


@router.post("/robots", operation_id="CreateRobot", status_code=201, response_model=schemas.RobotCreated)
async def create_robot(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep,
    robot: Annotated[schemas.RobotCreate, Body()],
) -> schemas.RobotCreated:
    require_login(subject)
    level = robot.level or ""
    grants, project = await _grants(registry, subject, level, robot.permissions or [])
    if level == "project":
        assert project is not None
        target = await registry.projects.get(str(project[0]))
        require_project(subject, target, "robot", "create")
    else:
        require_system(subject, "robot", "create")
    created, secret, full_name = await store_robot(
        registry, subject, name=robot.name or "", description=robot.description or "", level=level,
        duration=robot.duration, disabled=bool(robot.disable), grants=grants, project=project, secret=robot.secret or None)
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/robots/{created.id}"
    return schemas.RobotCreated(
        id=created.id, name=full_name, secret=secret,
        creation_time=harbor_time(created.created_at), expires_at=created.expires_at,
    )


@router.get("/robots", operation_id="ListRobot", response_model=list[schemas.Robot], response_model_exclude_none=True)
async def list_robots(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.Robot]:
    """All robots (admins), or one project's: `q=Level=project,ProjectID=<id>` (project robot readers)."""
    level = project_id = name = None
    try:
        keywords = parse_query(q)
    except QueryInvalid as exc:
        raise BadRequest(str(exc)) from None
    for key, value in keywords.items():
        match key.lower(), value:
            case "level", str():
                level = value
            case "level", _:
                raise BadRequest("bad request error level input")
            case "projectid", str() if value.isdigit():
                project_id = int(value)
            case "projectid", _:
                raise BadRequest("ProjectID must be a positive integer")
            case "name", Fuzzy() | str():
                name = value.value if isinstance(value, Fuzzy) else value
            case _:
                pass  # Harbor ignores keys it cannot filter on (berth.query)
    if project_id is not None:
        project = await visible_project(registry, subject, str(project_id))
        require_project(subject, project, "robot", "list")
        level = "project"
    else:
        require_system(subject, "robot", "list")
    found, total = await registry.robots.list(
        project_id=project_id, level=level, name=name, offset=paging.offset, limit=paging.limit
    )
    paging.headers(request, response, total)
    prefix = await registry.configurations.get("robot_name_prefix")
    return [robot_body(robot, prefix) for robot in found]


@router.get("/robots/{robot_id}", operation_id="GetRobotByID", response_model=schemas.Robot, response_model_exclude_none=True)
async def get_robot(registry: RegistryDep, subject: SubjectDep, robot_id: RowId) -> schemas.Robot:
    robot = await registry.robots.get(robot_id)
    if not (subject.kind == "robot" and subject.robot_id == robot_id):
        _require_manage(subject, robot.level, await _project_ref(registry, robot), "read")
    return robot_body(robot, await registry.configurations.get("robot_name_prefix"))


@router.put("/robots/{robot_id}", operation_id="UpdateRobot")
async def update_robot(
    registry: RegistryDep, subject: SubjectDep, robot_id: RowId, robot: Annotated[schemas.Robot, Body()],
) -> Response:
    current = await registry.robots.get(robot_id)
    _require_manage(subject, current.level, await _project_ref(registry, current), "update")
    await change_robot(
        registry, subject, current, permissions=[spec.model_dump() for spec in robot.permissions or []],
        project_named=_project_finder(registry, subject),
        description=robot.description, duration=robot.duration, disabled=robot.disable, name=robot.name,
        level=robot.level)
    return Response(status_code=200)


@router.patch("/robots/{robot_id}", operation_id="RefreshSec", response_model=schemas.RobotSec, response_model_exclude_none=True)
async def refresh_secret(
    registry: RegistryDep, subject: SubjectDep, robot_id: RowId, robot_sec: Annotated[schemas.RobotSec, Body()],
) -> schemas.RobotSec:
    """A new secret: the one given, or a generated one returned once. A robot may refresh its own."""
    current = await registry.robots.get(robot_id)
    if not (subject.kind == "robot" and subject.robot_id == robot_id):
        _require_manage(subject, current.level, await _project_ref(registry, current), "update")
    generated = await registry.robots.refresh_secret(robot_id, robot_sec.secret or None)
    return schemas.RobotSec(secret=generated)


@router.delete("/robots/{robot_id}", operation_id="DeleteRobot")
async def delete_robot(registry: RegistryDep, subject: SubjectDep, robot_id: RowId) -> Response:
    current = await registry.robots.get(robot_id)
    _require_manage(subject, current.level, await _project_ref(registry, current), "delete")
    await registry.robots.delete(robot_id)
    return Response(status_code=200)


@permissions_router.get("/permissions", operation_id="getPermissions", response_model=schemas.Permissions)
async def get_permissions(subject: SubjectDep) -> schemas.Permissions:
    """What the caller may put in a robot's access lists, per scope (admins may hand out more)."""
    require_login(subject)

    def listed(kind: str) -> list[schemas.Permission]:
        return [schemas.Permission(resource=p.resource, action=p.action)
                for p in sorted(grantable(kind, subject.sysadmin), key=lambda p: (p.resource, p.action))]

    return schemas.Permissions(system=listed("system"), project=listed("project"))
