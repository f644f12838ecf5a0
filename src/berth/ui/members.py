"""A project's members: the list (filtered by name in the query string), adding a user or a group with
a role, changing a member's role and removing one, through the project service as the API's
/members does (services/members.py names the new member for both)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject
from berth.security.roles import Role
from berth.services.errors import BadRequest, ServiceError
from berth.services.members import group_entity, user_entity
from berth.services.projects import ProjectRecord
from berth.services.usergroups import HTTP_GROUP, LDAP_GROUP, OIDC_GROUP
from berth.ui.pages import Pager, Problem, Ui, row_id, verb_needs
from berth.ui.projects import ROLE_NAMES

GROUP_TYPE_NAMES = {LDAP_GROUP: "LDAP group", HTTP_GROUP: "HTTP group", OIDC_GROUP: "OIDC group"}

#: the member form's fields and the words of the service's messages about them (Problem.about)
MEMBER_FIELDS = {"role": r"\brole", "group_type": r"group.?type", "name": r"\bUser\b|\buser\b|group|member"}


class MemberPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def list(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "member", "list")
        return await self._page(request, subject, project)

    async def _page(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                    **extra: object) -> Response:
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.projects.members(
            project.id, pager.filters.get("name"), offset=pager.offset, limit=pager.size)
        context = {
            "project": project, "tab": "members", "members": found, "pager": pager.counted(total),
            "roles": ROLE_NAMES, "group_types": GROUP_TYPE_NAMES, "values": {}, "error": "",
            "may_create": self.ui.may(subject, project.ref, "member", "create"),
            "may_update": self.ui.may(subject, project.ref, "member", "update"),
            "may_delete": self.ui.may(subject, project.ref, "member", "delete"),
        } | extra
        if self.ui.partial(request):
            return self.ui.render(request, "_members.html", status, **context)
        return self.ui.render(request, "members.html", status, **context)

    async def add(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "member", "create")
        values = await self.ui.form(request)
        name = values.get("name", "").strip()
        try:
            role = _role(values.get("role", ""))
            if not name:
                raise BadRequest("name the user or group to add")
            registry = self.ui.registry
            if values.get("kind") == "group":
                kind = _choice(values.get("group_type", ""), GROUP_TYPE_NAMES, "a group type")
                dn = name if kind == LDAP_GROUP and "=" in name else ""
                entity = await group_entity(registry.groups, None, kind, "" if dn else name, dn)
            else:
                entity = await user_entity(registry.users, None, name)
            await registry.projects.add_member(project.id, entity[0], entity[1], role)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, MEMBER_FIELDS))
        return self.ui.redirect(f"/projects/{project.name}/members")

    async def change(self, request: Request) -> Response:
        """POST .../members/<id>/role (a new role) or .../members/<id>/delete."""
        subject = await self.ui.viewer(request)
        verb, needed = verb_needs(request, {"role": "update", "delete": "delete"})
        project = await self.ui.project(subject, request.path_params["project"], "member", needed)
        member_id = row_id(request.path_params["member_id"], "member")
        if verb == "role":
            values = await self.ui.form(request)
            await self.ui.registry.projects.update_member(project.id, member_id, _role(values.get("role", "")))
        else:
            await self.ui.registry.projects.remove_member(project.id, member_id)
        return self.ui.redirect(f"/projects/{project.name}/members")


def _choice(text: str, choices: object, what: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) < 12) or int(text) not in choices:  # type: ignore[operator]
        raise BadRequest(f"choose {what} from the list")
    return int(text)


def _role(text: str) -> int:
    return _choice(text, Role._value2member_map_, "a role")
