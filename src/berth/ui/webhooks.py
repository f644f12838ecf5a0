"""A project's webhook policies: the list, adding and editing one (one target each, as Harbor's
portal does), enabling or disabling and deleting one, and each policy's delivery history (its
executions, their tasks and logs), through the webhook and execution services the API uses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject
from berth.services.errors import NotFound, ServiceError
from berth.services.projects import ProjectRecord
from berth.services.webhooks import PolicyRecord, TargetInput
from berth.ui.pages import Pager, Problem, Ui, row_id, verb_needs
from berth.webhook.policy import EVENT_TYPES, NOTIFY_TYPES, PAYLOAD_FORMATS, VENDOR_TYPES

RESOURCE = "notification-policy"

#: the webhook form's fields and the words of the service's messages about them (Problem.about)
WEBHOOK_FIELDS = {"address": r"\bURL\b|address|scheme", "type": r"\btype\b", "payload_format": r"format",
                  "name": r"\bname\b|policy named"}


class WebhookPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def list(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RESOURCE, "list")
        return await self._page(request, subject, project)

    async def _page(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                    **extra: object) -> Response:
        pager = Pager.of(request)
        found, total = await self.ui.registry.webhooks.list(project.id, offset=pager.offset, limit=pager.size)
        edit = request.query_params.get("edit", "")
        context = {
            "project": project, "tab": "webhooks", "policies": found, "pager": pager.counted(total), "values": {},
            "error": "", "edit": next((p for p in found if str(p.id) == edit), None), "event_types": EVENT_TYPES,
            "notify_types": NOTIFY_TYPES, "payload_formats": PAYLOAD_FORMATS,
            "may_create": self.ui.may(subject, project.ref, RESOURCE, "create"),
            "may_update": self.ui.may(subject, project.ref, RESOURCE, "update"),
            "may_delete": self.ui.may(subject, project.ref, RESOURCE, "delete"),
            "may_read": self.ui.may(subject, project.ref, RESOURCE, "read"),
        } | extra
        return self.ui.render(request, "webhooks.html", status, **context)

    async def create(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RESOURCE, "create")
        values, events = await self.ui.form_with_list(request, "event_types")
        try:
            await self.ui.registry.webhooks.create(
                project.id, name=values.get("name", "").strip(), description=values.get("description", ""),
                event_types=events, targets=[_target(values, keep=False)], enabled=True, creator=subject.name or "",
                signing_secret=None)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, WEBHOOK_FIELDS),
                                    checked=events)
        return self.ui.redirect(f"/projects/{project.name}/webhooks")

    async def change(self, request: Request) -> Response:
        """POST .../webhooks/<id>/<edit|enable|disable|delete>."""
        subject = await self.ui.viewer(request)
        verb, needed = verb_needs(request, {"edit": "update", "enable": "update", "disable": "update",
                                            "delete": "delete"})
        project = await self.ui.project(subject, request.path_params["project"], RESOURCE, needed)
        service = self.ui.registry.webhooks
        policy = await service.get(project.id, row_id(request.path_params["policy_id"], "webhook policy"))
        if verb == "delete":
            await service.delete(policy)
        elif verb == "edit":
            values, events = await self.ui.form_with_list(request, "event_types")
            try:
                await service.update(policy, name=values.get("name", "").strip(), description=values.get("description", ""),
                                     event_types=events, targets=[_target(values, keep=True)], enabled=None,
                                     signing_secret=None)
            except ServiceError as exc:
                return await self._page(request, subject, project, exc.status, values=values, error=Problem.about(exc.message, WEBHOOK_FIELDS),
                                        checked=events, edit=policy)
        else:
            await service.update(policy, name=None, description=None, event_types=policy.event_types,
                                 targets=[TargetInput(t.type, t.address, None, t.skip_cert_verify, t.payload_format)
                                          for t in policy.targets],
                                 enabled=verb == "enable", signing_secret=None)
        return self.ui.redirect(f"/projects/{project.name}/webhooks")

    async def deliveries(self, request: Request) -> Response:
        """A policy's executions (one per event it fired for), newest first, paged."""
        subject = await self.ui.viewer(request)
        project, policy = await self._policy(request, subject)
        pager = Pager.of(request, "status")
        q = f"status={pager.filters['status']}" if pager.filters.get("status", "").isalpha() else None
        found, total = await self.ui.registry.executions.list_executions(
            tuple(VENDOR_TYPES.values()), policy.id, q=q, sort="-id", offset=pager.offset, limit=pager.size)
        return self.ui.render(request, "webhook_deliveries.html", project=project, tab="webhooks", policy=policy,
                              executions=found, pager=pager.counted(total))

    async def delivery(self, request: Request) -> Response:
        """One execution: its tasks (one per target) with their logs."""
        subject = await self.ui.viewer(request)
        project, policy = await self._policy(request, subject)
        executions = self.ui.registry.executions
        execution = await executions.get_execution(row_id(request.path_params["execution_id"], "delivery"),
                                                   tuple(VENDOR_TYPES.values()))
        if execution.vendor_id != policy.id:
            raise NotFound(f"execution {execution.id} not found in policy {policy.id}")
        tasks, _ = await executions.list_tasks(execution.id, offset=0, limit=20)
        logs = {task.id: await executions.task_log(task.id) for task in tasks}
        return self.ui.render(request, "webhook_delivery.html", project=project, tab="webhooks", policy=policy,
                              execution=execution, tasks=tasks, logs=logs)

    async def _policy(self, request: Request, subject: Subject) -> tuple[ProjectRecord, PolicyRecord]:
        project = await self.ui.project(subject, request.path_params["project"], RESOURCE, "read")
        policy = await self.ui.registry.webhooks.get(project.id, row_id(request.path_params["policy_id"],
                                                                        "webhook policy"))
        return project, policy


def _target(values: dict[str, str], *, keep: bool) -> TargetInput:
    """The form's one target; on an edit an empty auth header keeps the stored one."""
    header = values.get("auth_header", "")
    return TargetInput(values.get("type", ""), values.get("address", "").strip(),
                       (header or None) if keep else header, values.get("skip_cert_verify") == "true",
                       values.get("payload_format", ""))
