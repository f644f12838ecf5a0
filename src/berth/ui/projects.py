"""Project pages: the list (search, paging), creating one, a project's summary and its repositories."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import member_project_ids
from berth.security.roles import Role
from berth.services.errors import BadRequest, ServiceError
from berth.services.project_creation import create_project
from berth.services.projects import ProjectFilter
from berth.services.proxy_cache import PROXY_REGISTRY_TYPES
from berth.services.users import ADMIN_ID
from berth.ui.pages import Pager, Problem, Ui

ROLE_NAMES = {Role.PROJECT_ADMIN: "Project admin", Role.MAINTAINER: "Maintainer", Role.DEVELOPER: "Developer",
              Role.GUEST: "Guest", Role.LIMITED_GUEST: "Limited guest"}
_UNITS = {"MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}

#: the new project form's fields and the words of the services' messages about them (Problem.about)
PROJECT_FIELDS = {"storage_amount": r"quota|storage", "registry_id": r"registry",
                  "project_name": r"project.?name|project named|\bname\b"}


class ProjectPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def list(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        pager = Pager.of(request, "name")
        filt = ProjectFilter(name=pager.filters.get("name"))
        members = member_project_ids(subject)
        if members is not None:
            filt.ids, filt.include_public = members, True
        found, total = await self.ui.registry.projects.list(filt, offset=pager.offset, limit=pager.size)
        rows = [(project, _role(subject.roles.get(project.id, ()))) for project in found]
        context = {"rows": rows, "pager": pager.counted(total), "may_create": await self._may_create(subject)}
        if self.ui.partial(request):
            return self.ui.render(request, "_projects.html", **context)
        return self.ui.render(request, "projects.html", **context)

    async def _may_create(self, subject) -> bool:  # type: ignore[no-untyped-def]
        if subject.sysadmin:
            return True
        return (await self.ui.registry.configurations.get("project_creation_restriction")) != "adminonly"

    async def new_form(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        return await self._new_form(request, subject, {}, "")

    async def _new_form(self, request: Request, subject, values: dict[str, str], error: Problem | str,  # type: ignore[no-untyped-def]
                        status: int = 200) -> Response:
        upstreams = []
        if subject.sysadmin:
            endpoints, _ = await self.ui.registry.registries.list(None, None, 0, 100)
            upstreams = [e for e in endpoints if e.type in PROXY_REGISTRY_TYPES]
        return self.ui.render(request, "project_new.html", status, values=values, error=error, upstreams=upstreams,
                              may_create=await self._may_create(subject))

    async def create(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        values = await self.ui.form(request)
        name = values.get("project_name", "").strip()
        try:
            limit = storage_limit(values) if subject.sysadmin else None
            upstream = values.get("registry_id") or None
            if upstream is not None and not (upstream.isascii() and upstream.isdigit()):
                raise BadRequest("choose a registry endpoint from the list")
            await create_project(
                self.ui.registry, name, owner_id=subject.user_id or ADMIN_ID, sysadmin=subject.sysadmin,
                unrestricted=subject.sysadmin, metadata={"public": "true" if values.get("public") else "false"},
                storage_limit=limit, registry_id=int(upstream) if upstream else None,
            )
        except ServiceError as exc:
            return await self._new_form(request, subject, values, Problem.about(exc.message, PROJECT_FIELDS), exc.status)
        return self.ui.redirect(f"/projects/{name}")

    async def summary(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"])
        registry = self.ui.registry
        hard, used = await registry.quotas.usage(project.id)
        members = sum((await registry.projects.role_counts(project.id)).values())
        artifacts = await registry.repositories.artifact_count(project.id)
        upstream = await registry.registries.get(project.registry_id) if project.registry_id else None
        return self.ui.render(
            request, "project.html", project=project, tab="summary", hard=hard, used=used, members=members,
            artifacts=artifacts, upstream=upstream, role=_role(subject.roles.get(project.id, ())),
            percent=min(100.0, used * 100 / hard) if hard > 0 else None,
        )

    async def repositories(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "repository", "list")
        pager = Pager.of(request, "name")
        q = f"name=~{pager.filters['name']}" if pager.filters.get("name") else None
        try:
            found, total = await self.ui.registry.repositories.list(
                project_ids={project.id}, q=q, offset=pager.offset, limit=pager.size)
        except BadRequest:  # a search text Harbor's query language cannot hold (a comma, braces ...)
            found, total = [], 0
        context = {"project": project, "tab": "repositories", "repositories": found, "pager": pager.counted(total),
                   "prefix": project.name + "/"}
        if self.ui.partial(request):
            return self.ui.render(request, "_repositories.html", **context)
        return self.ui.render(request, "repositories.html", **context)


def _role(roles) -> str:  # type: ignore[no-untyped-def]
    """The strongest of a user's roles in a project, by name ("" when none: a public project)."""
    for role in ROLE_NAMES:
        if role in roles:
            return ROLE_NAMES[role]
    return ""


def storage_limit(values: dict[str, str]) -> int | None:
    """The storage limit in bytes from the form's amount and unit; None when left empty, -1 for unlimited."""
    amount = values.get("storage_amount", "").strip()
    if not amount:
        return None
    if amount == "-1":
        return -1
    unit = _UNITS.get(values.get("storage_unit", "GiB"))
    if unit is None or not amount.isascii() or not amount.isdigit() or int(amount) == 0:
        raise BadRequest("the storage quota is a whole number above 0 (or -1 for no limit)")
    return int(amount) * unit
