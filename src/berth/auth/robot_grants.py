"""Robot accounts as the API and the web UI create them: the permissions asked for, checked against
what the creator holds (Harbor's rules), and the stored robot with its secret (seen once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from berth.auth.rbac import Subject, is_allowed_system, permissions_in
from berth.security.roles import ALL_PROJECTS, grantable
from berth.services.errors import BadRequest, Denied
from berth.services.projects import ProjectRecord
from berth.services.registry import Registry
from berth.services.robots import RobotGrant, RobotRecord, parse_access, project_access


async def robot_grants(
    subject: Subject, level: str, permissions: Sequence[Mapping[str, Any]],
    project_named: Callable[[str], Awaitable[ProjectRecord]],
) -> tuple[list[RobotGrant], tuple[int, str] | None]:
    """Validate requested permissions (Harbor's RobotPermission: kind, namespace, access): known
    scopes and actions, and never more than the creator holds. `project_named` finds a project the
    subject may see (the front's refusal otherwise)."""
    if level not in ("system", "project"):
        raise BadRequest(f"invalid robot level {level!r}: system or project")
    if level == "project" and len(permissions) != 1:
        raise BadRequest("a project level robot needs exactly one permission, on its project")
    grants: list[RobotGrant] = []
    project_of_robot: tuple[int, str] | None = None
    for spec in permissions:
        kind, namespace = spec.get("kind") or "", spec.get("namespace") or ""
        access = parse_access(list(spec.get("access") or []))
        if not access:
            raise BadRequest("each permission needs at least one access")
        if kind not in ("system", "project"):
            raise BadRequest(f"invalid permission kind {kind!r}: system or project")
        if level == "project" and kind != "project":
            raise BadRequest("a project level robot can only hold project permissions")
        project_id = None
        if kind != "project" or namespace == "*":  # a named project's list is checked by project_access
            unknown = [str(p) for p in access if p not in grantable(kind, subject.sysadmin)]
            if unknown:
                raise BadRequest(f"unsupported access for a {kind} permission: {', '.join(unknown)}")
        if kind == "system":
            if namespace not in ("/", ""):
                raise BadRequest("a system permission's namespace is /")
            namespace = "/"
            if not all(is_allowed_system(subject, p) for p in access):
                raise Denied("the robot cannot be given system permissions its creator does not hold")
        elif namespace == "*":
            if level == "project":
                raise BadRequest("a project level robot's namespace is its project")
            holder = subject.grants.get(ALL_PROJECTS, frozenset()) if subject.grants is not None else frozenset()
            if not subject.sysadmin and not all(p in holder for p in access):
                raise Denied("only a system administrator can grant permissions on every project")
        else:
            project = await project_named(namespace)
            project_id = project.id
            access = project_access(access, held=permissions_in(subject, project.ref), sysadmin=subject.sysadmin,
                                    namespace=namespace, own_project=level == "project")
            if level == "project":
                project_of_robot = (project.id, project.name)
        grants.append(RobotGrant(kind, namespace, access, project_id))
    return grants, project_of_robot


async def store_robot(
    registry: Registry, subject: Subject, *, name: str, description: str, level: str, duration: int | None,
    disabled: bool, grants: Sequence[RobotGrant], project: tuple[int, str] | None, secret: str | None = None,
) -> tuple[RobotRecord, str, str]:
    """Store the robot (the system's default duration when none is given): the robot, its plain
    secret (the only time it is seen) and its full name (with the configured prefix)."""
    config = await registry.configurations.all()
    created, plain = await registry.robots.create(
        name=name, description=description, level=level,
        duration=duration if duration is not None else config["robot_token_duration"], disabled=disabled,
        grants=grants, project=project, creator_type="robot" if subject.kind == "robot" else "local",
        creator_ref=(subject.robot_id if subject.kind == "robot" else subject.user_id) or 0, secret=secret,
    )
    return created, plain, config["robot_name_prefix"] + created.name


async def change_robot(
    registry: Registry, subject: Subject, current: RobotRecord, *, permissions: Sequence[Mapping[str, Any]],
    project_named: Callable[[str], Awaitable[ProjectRecord]], description: str | None = None,
    duration: int | None = None, disabled: bool | None = None, name: str | None = None, level: str | None = None,
) -> None:
    """Harbor's robot update (PUT /robots/{id}, and the UI's edit forms): the name and level stay (a
    name given must be the robot's, with or without the prefix), a project robot stays on its project,
    the permissions are checked as at creation (`robot_grants`); what is not given (None) keeps its
    value. Who may update it is the caller's check (the robot's level decides the RBAC resource)."""
    prefix = await registry.configurations.get("robot_name_prefix")
    if (level and level != current.level) or (name and name not in (current.name, prefix + current.name)):
        raise BadRequest("cannot update the level or name of robot")
    grants, project = await robot_grants(subject, current.level, permissions, project_named)
    if current.level == "project" and (project is None or project[0] != current.project_id):
        raise BadRequest("cannot update the project id of robot")
    await registry.robots.update(
        current, description=description if description is not None else current.description,
        duration=duration if duration is not None else current.duration,
        disabled=disabled if disabled is not None else current.disabled, grants=grants,
    )
