"""A project's audit log (paged, filtered by operation, resource type, resource and user in the query
string) and its configuration: Harbor's project metadata (public, auto scan, prevent vulnerable images
with a severity, content trust) through the project service's update, as the API's project update
does, and berth's trust policy through the trust service, as PUT /trust-policy does."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject
from berth.services.errors import BadRequest, ServiceError
from berth.services.projects import ProjectRecord, settable_metadata
from berth.sign.policy import TrustPolicy
from berth.ui.pages import Pager, Problem, Ui

#: the audit log's filters: query-string name -> Harbor's q key (resource fuzzy, the others exact)
LOG_FILTERS = {"operation": "operation", "resource_type": "resource_type", "resource": "resource", "user": "username"}
SEVERITIES = ("low", "medium", "high", "critical")
_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.S)

#: the trust policy form's fields and the words of its validation messages (Problem.about)
TRUST_FIELDS = {"mode": r"^mode|\bmode:", "cosign_public_keys": r"cosign_public_keys"}


class SettingsPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def logs(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "log", "list")
        pager = Pager.of(request, *LOG_FILTERS)
        clauses, problem = [], ""
        for name, key in LOG_FILTERS.items():
            value = pager.filters.get(name, "")
            if not value:
                continue
            if any(c in value for c in ",{}[]()~=\"'"):
                problem = f"the {name.replace('_', ' ')} filter cannot hold , = ~ quotes or brackets"
                continue
            clauses.append(f"{key}=~{value}" if name in ("resource", "user") else f"{key}={value}")
        try:
            found, total = await self.ui.registry.audit.list(project_ids={project.id}, q=",".join(clauses) or None,
                                                             offset=pager.offset, limit=pager.size)
        except BadRequest as exc:
            found, total, problem = [], 0, exc.message
        context = {"project": project, "tab": "logs", "records": found, "pager": pager.counted(total),
                   "problem": problem}
        if self.ui.partial(request):
            return self.ui.render(request, "_logs.html", **context)
        return self.ui.render(request, "logs.html", **context)

    async def configuration(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "configuration", "read")
        return await self._configuration(request, subject, project)

    async def _configuration(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                             **extra: Any) -> Response:
        may_trust = self.ui.may(subject, project.ref, "trust-policy", "read")
        policy = (await self.ui.registry.trust.policy(project.id) or TrustPolicy()) if may_trust else None
        context = {
            "project": project, "tab": "configuration", "meta": project.metadata, "severities": SEVERITIES,
            "policy": policy, "error": "", "trust_error": "", "saved": request.query_params.get("saved", ""),
            "may_update": self.ui.may(subject, project.ref, "project", "update"),
            "may_update_trust": self.ui.may(subject, project.ref, "trust-policy", "update"),
        } | extra
        return self.ui.render(request, "configuration.html", status, **context)

    async def save_configuration(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "project", "update")
        values = await self.ui.form(request)
        metadata: dict[str, object] = {key: "true" if values.get(key) == "true" else "false"
                                       for key in ("public", "auto_scan", "prevent_vul", "enable_content_trust")}
        if values.get("severity"):
            metadata["severity"] = values["severity"]
        try:
            await self.ui.registry.projects.update(
                project.id, metadata=settable_metadata(metadata, proxy_cache=bool(project.registry_id)))
        except ServiceError as exc:
            return await self._configuration(request, subject, project, exc.status, error=Problem.about(exc.message, {"severity": r"severity"}))
        return self.ui.redirect(f"/projects/{project.name}/configuration?saved=project")

    async def save_trust_policy(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "trust-policy", "update")
        values, formats = await self.ui.form_with_list(request, "formats")
        keys = values.get("cosign_public_keys", "")
        if keys.strip() and not _PEM.search(keys):
            return await self._configuration(request, subject, project, 400,
                                             trust_error=Problem("cosign_public_keys: paste PEM blocks (-----BEGIN PUBLIC KEY----- ...)",
                                                                       "cosign_public_keys"))
        current = await self.ui.registry.trust.policy(project.id) or TrustPolicy()
        body = current.model_dump(mode="json") | {
            "mode": values.get("mode", ""), "formats": formats, "require_tlog": values.get("require_tlog") == "true",
            "cosign_public_keys": _PEM.findall(keys),
        }
        try:
            policy = TrustPolicy.model_validate(body)
        except ValidationError as exc:
            message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            return await self._configuration(request, subject, project, 400, trust_error=Problem.about(message[:1000], TRUST_FIELDS))
        await self.ui.registry.trust.put_policy(project.id, project.name, policy)
        return self.ui.redirect(f"/projects/{project.name}/configuration?saved=trust")
