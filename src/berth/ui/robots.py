"""A project's robot accounts: the list, creating one (name, expiry, the access list a project robot
may hold), its secret shown exactly once, refreshing that secret, disabling and deleting one. The
rules are the API's: creating and editing go through auth/robot_grants.py as CreateRobot and
UpdateRobot do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject, permissions_in
from berth.auth.robot_grants import change_robot, robot_grants, store_robot
from berth.security.roles import Permission, grantable
from berth.services.errors import BadRequest, NotFound, ServiceError
from berth.services.projects import ProjectRecord
from berth.services.robots import RobotRecord
from berth.ui.pages import Pager, Problem, Ui, row_id, verb_needs

#: the robot form's fields and the words of the services' messages about them (Problem.about)
ROBOT_FIELDS = {"name": r"robot name|robot account \S+ already exists|\bname\b", "duration": r"duration|expir",
                "description": r"description"}


def offered(kind: str, subject: Subject, project: ProjectRecord | None = None) -> dict[str, list[str]]:
    """What this user may put in a robot's access list of `kind` ("system", or "project": in `project`
    when given, else on any project), grouped by resource: what robot_grants then accepts."""
    held = permissions_in(subject, project.ref) if project is not None else frozenset()
    out: dict[str, list[str]] = {}
    for p in sorted(grantable(kind, subject.sysadmin), key=lambda p: (p.resource, p.action)):
        if subject.sysadmin or p in held:
            out.setdefault(p.resource, []).append(p.action)
    return out


def permission(text: str) -> Permission:
    """A form's "resource:action" checkbox value."""
    resource, _, action = text.partition(":")
    if not resource or not action:
        raise BadRequest(f"unsupported access {text!r}")
    return Permission(resource, action)


class RobotPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def list(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "robot", "list")
        return await self._page(request, subject, project)

    async def _page(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                    **extra: object) -> Response:
        pager = Pager.of(request)
        robots, total = await self.ui.registry.robots.list(project_id=project.id, level="project",
                                                           offset=pager.offset, limit=pager.size)
        config = await self.ui.registry.configurations.all()
        context = {
            "project": project, "tab": "robots", "robots": robots, "pager": pager.counted(total),
            "prefix": config["robot_name_prefix"], "offered": offered("project", subject, project),
            "default_days": config["robot_token_duration"], "values": {}, "error": "", "created": None,
            "may_create": self.ui.may(subject, project.ref, "robot", "create"),
            "may_update": self.ui.may(subject, project.ref, "robot", "update"),
            "may_delete": self.ui.may(subject, project.ref, "robot", "delete"),
        } | extra
        if self.ui.partial(request):  # a refusal answers 200 with REFUSED_HEADER (Ui.render's rule)
            return self.ui.render(request, "_robots.html", status, **context)
        return self.ui.render(request, "robots.html", status, **context)

    async def create(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "robot", "create")
        values, picked = await self.ui.form_with_list(request, "access")
        try:  # the API's CreateRobot: robot_grants checks the access against the creator's, store_robot keeps it
            access = [{"resource": p.resource, "action": p.action} for p in map(permission, picked)]
            grants, owner = await robot_grants(
                subject, "project", [{"kind": "project", "namespace": project.name, "access": access}],
                lambda name: self.ui.project(subject, name))
            robot, secret, _ = await store_robot(
                self.ui.registry, subject, name=values.get("name", "").strip(),
                description=values.get("description", "").strip(), level="project",
                duration=days(values.get("duration", "")), disabled=False, grants=grants, project=owner)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, ROBOT_FIELDS),
                                    checked=set(picked))
        return await self._page(request, subject, project, 201, created=(robot, secret))

    async def action(self, request: Request) -> Response:
        """POST .../robots/<id>/<disable|enable|refresh|delete>."""
        subject = await self.ui.viewer(request)
        verb, needed = verb_needs(request, {"disable": "update", "enable": "update", "refresh": "update",
                                            "delete": "delete"})
        project = await self.ui.project(subject, request.path_params["project"], "robot", needed)
        robot = await self._robot(project, request.path_params["robot_id"])
        robots = self.ui.registry.robots
        if verb == "delete":
            await robots.delete(robot.id)
        elif verb == "refresh":
            secret = await robots.refresh_secret(robot.id, None)
            return await self._page(request, subject, project, 200, created=(robot, secret or ""))
        else:
            await robots.update(robot, description=robot.description, duration=robot.duration,
                                disabled=verb == "disable", grants=robot.grants)
        return self.ui.redirect(f"/projects/{project.name}/robots")

    async def edit_form(self, request: Request, error: Problem | str = "", values: dict[str, str] | None = None,
                        picked: list[str] | None = None, status: int = 200) -> Response:
        """A project robot's edit page: enabled, description, expiry and its access list."""
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "robot", "update")
        robot = await self._robot(project, request.path_params["robot_id"])
        if values is None:
            values = {"description": robot.description, "duration": str(robot.duration),
                      "enabled": "" if robot.disabled else "on"}
            picked = [f"{p.resource}:{p.action}" for grant in robot.grants for p in grant.access]
        return self.ui.render(request, "robot.html", status, project=project, tab="robots", robot=robot,
                              values=values, picked=picked or [], error=error, offered=offered("project", subject, project),
                              prefix=await self.ui.registry.configurations.get("robot_name_prefix"))

    async def save(self, request: Request) -> Response:
        """POST .../robots/<id>: the API's UpdateRobot (auth/robot_grants.change_robot) for a project robot."""
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "robot", "update")
        robot = await self._robot(project, request.path_params["robot_id"])
        values, picked = await self.ui.form_with_list(request, "access")
        try:
            access = [{"resource": p.resource, "action": p.action} for p in map(permission, picked)]
            await change_robot(
                self.ui.registry, subject, robot,
                permissions=[{"kind": "project", "namespace": project.name, "access": access}],
                project_named=lambda name: self.ui.project(subject, name), description=values.get("description", "").strip(),
                duration=days(values.get("duration", "")), disabled=not values.get("enabled"))
        except ServiceError as exc:
            return await self.edit_form(request, Problem.about(exc.message, ROBOT_FIELDS), values, picked, exc.status)
        return self.ui.redirect(f"/projects/{project.name}/robots")

    async def _robot(self, project: ProjectRecord, text: str) -> RobotRecord:
        robot = await self.ui.registry.robots.get(row_id(text, "robot account"))
        if robot.project_id != project.id:
            raise NotFound("there is no such robot account in this project")
        return robot


def days(text: str) -> int:
    text = text.strip()
    if text == "-1":
        return -1
    if not text.isascii() or not text.isdigit():
        raise BadRequest("the expiry is a number of days (or -1: never)")
    return int(text)
