"""A project's labels: the list (filtered by name in the query string), creating, editing and
deleting one, through the label service the API's /labels uses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject
from berth.services.errors import NotFound, ServiceError
from berth.services.labels import PROJECT
from berth.services.projects import ProjectRecord
from berth.ui.pages import Pager, Problem, Ui, row_id, verb_needs

#: the label form's fields and the words of the service's messages about them (Problem.about)
LABEL_FIELDS = {"color": r"colou?r", "name": r"\bname\b|label \S+ already exists"}


class LabelPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def list(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "label", "list")
        return await self._page(request, subject, project)

    async def _page(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                    **extra: object) -> Response:
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.labels.list(
            scope=PROJECT, project_id=project.id, name=pager.filters.get("name"), q=None, sort=None,
            offset=pager.offset, limit=pager.size)
        edit = request.query_params.get("edit", "")
        context = {
            "project": project, "tab": "labels", "labels": found, "pager": pager.counted(total), "values": {},
            "error": "", "edit": next((label for label in found if str(label.id) == edit), None),
            "may_create": self.ui.may(subject, project.ref, "label", "create"),
            "may_update": self.ui.may(subject, project.ref, "label", "update"),
            "may_delete": self.ui.may(subject, project.ref, "label", "delete"),
        } | extra
        if self.ui.partial(request):
            return self.ui.render(request, "_labels.html", status, **context)
        return self.ui.render(request, "labels.html", status, **context)

    async def create(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "label", "create")
        values = await self.ui.form(request)
        try:
            await self.ui.registry.labels.create(values.get("name", "").strip(), values.get("description", ""),
                                                 values.get("color", ""), PROJECT, project.id)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, LABEL_FIELDS))
        return self.ui.redirect(f"/projects/{project.name}/labels")

    async def change(self, request: Request) -> Response:
        """POST .../labels/<id>/edit or .../labels/<id>/delete."""
        subject = await self.ui.viewer(request)
        verb, needed = verb_needs(request, {"edit": "update", "delete": "delete"})
        project = await self.ui.project(subject, request.path_params["project"], "label", needed)
        service = self.ui.registry.labels
        label = await service.get(row_id(request.path_params["label_id"], "label"))
        if label.scope != PROJECT or label.project_id != project.id:
            raise NotFound("there is no such label in this project")
        if verb == "delete":
            await service.delete(label.id)
        else:
            values = await self.ui.form(request)
            try:
                await service.update(label, values.get("name", "").strip(), values.get("description", ""),
                                     values.get("color", ""))
            except ServiceError as exc:
                return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, LABEL_FIELDS),
                                        edit=label)
        return self.ui.redirect(f"/projects/{project.name}/labels")
