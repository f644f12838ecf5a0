"""Administration pages (system administrators): users, groups, registry endpoints, garbage
collection and the system CVE allowlist. Every handler asks auth/rbac.py's system decision for the
same resource and action as the matching /api/v2.0 operation, and calls the same services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
import json
import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from berth.auth import ldap_test
from berth.auth.groups import add_group
from berth.auth.robot_grants import change_robot, robot_grants, store_robot
from berth.auth.rbac import Subject, is_allowed_system
from berth.gc import GC
from berth.replication.adapters import SUPPORTED_TYPES
from berth.replication.policy import Policy, PolicyInvalid, policy_from
from berth.security.roles import Permission
from berth.services.admin import (
    SCHEDULE_TYPES, delete_endpoint, kick_gc, kick_purge, ping_endpoint, set_scan_all_schedule,
)
from berth.services.audit import PURGE_AUDIT
from berth.services.errors import BadRequest, Forbidden, NotFound, ServiceError
from berth.services.configurations import ITEMS
from berth.services.labels import GLOBAL
from berth.services.projects import normalize_allowlist
from berth.services.registry import Registry
from berth.services.scan_jobs import SCAN_ALL
from berth.services.scanners import AUTH_SCHEMES, RegistrationInput, ping_adapter
from berth.services.registries import MASKED_SECRET, RegistryInput, normalized_url
from berth.services.robots import RobotGrant, RobotRecord
from berth.services.usergroups import HTTP_GROUP, LDAP_GROUP, OIDC_GROUP
from berth.services.users import fixed_user, require_local_accounts
from berth.ui.pages import Pager, Problem, Ui, row_id, verb_needs, when
from berth.ui.projects import storage_limit
from berth.ui.robots import days, offered, permission

GROUP_TYPES = {LDAP_GROUP: "LDAP", HTTP_GROUP: "HTTP", OIDC_GROUP: "OIDC"}
#: the schedule types a person picks from (Manual is the "run now" button)
SCHEDULES = tuple(kind for kind in SCHEDULE_TYPES if kind != "Manual")
#: each form's fields and the words of the services' messages about them (Problem.about): a refusal
#: is drawn beside the first field it names, at the form's top when it names none
JOB_FIELDS = {"workers": r"worker", "audit_retention_hour": r"retention|hour", "include_event_types": r"event"}
SCHEDULE_FIELDS = {"cron": r"\bcron\b", "schedule": r"schedule type|\bschedule\b"}
USER_FIELDS = {"username": r"user ?name", "email": r"e-?mail", "password": r"password",
               "realname": r"realname|full name"}
GROUP_FIELDS = {"group_type": r"group.?type", "ldap_group_dn": r"\bDN\b|ldap_group_dn",
                "group_name": r"group.?name|user group"}
REGISTRY_FIELDS = {"url": r"\bURL\b|scheme|unhealthy|connect", "name": r"\bname\b|registry \S+ already exists",
                   "access_key": r"access.?key|credential|unauthori[sz]ed"}
POLICY_FIELDS = {"name": r"\bname\b|already exists", "cron": r"\bcron\b|schedule", "endpoint": r"registry|endpoint",
                 "dest_namespace": r"namespace", "speed": r"bandwidth|speed"}
SCANNER_FIELDS = {"url": r"\bURL\b|metadata|adapter", "name": r"\bname\b|registration \S+ already exists",
                  "access_credential": r"credential|authori[sz]ation"}
LABEL_FIELDS = {"color": r"colou?r", "name": r"\bname\b|label \S+ already exists"}
ROBOT_FIELDS = {"name": r"robot name|\bname\b|already exists", "duration": r"duration|expir",
                "description": r"description"}


class AdminPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def admin(self, request: Request, resource: str, action: str) -> Subject:
        """The logged-in user, when the system decision allows `action` on `resource`; else 403."""
        subject = await self.ui.viewer(request)
        if not is_allowed_system(subject, Permission(resource, action)):
            raise Forbidden("only a system administrator may see or change this")
        return subject

    async def index(self, request: Request) -> Response:
        await self.admin(request, "user", "list")
        return self.ui.redirect("/admin/users")

    # --- users -----------------------------------------------------------------------------------

    async def users(self, request: Request, error: Problem | str = "", values: dict[str, str] | None = None,
                    status: int = 200, notice: str = "") -> Response:
        subject = await self.admin(request, "user", "list")
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.users.list(username=pager.filters.get("name"), offset=pager.offset,
                                                         limit=pager.size)
        local = await self.ui.registry.configurations.get("auth_mode") == "db_auth"
        context = {"rows": [(user, fixed_user(subject.user_id, user.id)) for user in found],
                   "pager": pager.counted(total), "local": local, "error": error, "values": values or {},
                   "notice": notice, "section": "users"}
        if self.ui.partial(request) and request.method == "GET":
            return self.ui.render(request, "admin/_users.html", **context)
        return self.ui.render(request, "admin/users.html", status, **context)

    async def create_user(self, request: Request) -> Response:
        await self.admin(request, "user", "create")
        values = await self.ui.form(request)
        try:
            await require_local_accounts(self.ui.registry.configurations)
            user = await self.ui.registry.users.create(
                values.get("username", "").strip(), values.get("email", "").strip(), values.get("password", ""),
                values.get("realname", "").strip())
        except ServiceError as exc:
            values.pop("password", None)
            return await self.users(request, Problem.about(exc.message, USER_FIELDS), values, exc.status)
        return self.ui.redirect("/admin/users?" + urlencode({"name": user.username}))

    async def user_action(self, request: Request) -> Response:
        """POST /admin/users/{id}/{action}: sysadmin (flag on or off), password (reset) or delete."""
        action, needed = verb_needs(request, {"sysadmin": "update", "password": "update", "delete": "delete"})
        user_id = row_id(request.path_params["user_id"])
        subject = await self.admin(request, "user", needed)
        values = await self.ui.form(request)
        registry = self.ui.registry
        try:
            user = await registry.users.get(user_id)
            if action == "password":
                if await registry.configurations.get("auth_mode") != "db_auth" or user.source != "db":
                    raise Forbidden(f"user {user.username} has no local password here")
                await registry.users.change_password(user_id, values.get("password", ""), None)
                notice = f"The password of {user.username} was reset."
            elif fixed_user(subject.user_id, user_id):
                raise Forbidden(f"User with ID {user_id} cannot be changed this way")
            elif action == "sysadmin":
                flag = values.get("flag") == "true"
                await registry.users.set_sysadmin(user_id, flag)
                notice = f"{user.username} is {'now' if flag else 'no longer'} a system administrator."
            else:
                await registry.users.delete(user_id)
                registry.projects.groups_changed()
                notice = f"The user {user.username} was deleted."
        except ServiceError as exc:
            return await self.users(request, exc.message, None, exc.status)
        return await self.users(request, notice=notice)

    # --- groups ----------------------------------------------------------------------------------

    async def groups(self, request: Request, error: Problem | str = "", values: dict[str, str] | None = None,
                     status: int = 200) -> Response:
        await self.admin(request, "user-group", "list")
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.groups.list(group_name=pager.filters.get("name"), offset=pager.offset,
                                                          limit=pager.size)
        ldap = await self.ui.registry.configurations.get("auth_mode") == "ldap_auth"
        types = {key: name for key, name in GROUP_TYPES.items() if ldap or key != LDAP_GROUP}
        context = {"rows": found, "pager": pager.counted(total), "types": types, "ldap": ldap, "error": error,
                   "values": values or {}, "section": "groups", "type_names": GROUP_TYPES}
        if self.ui.partial(request) and request.method == "GET":
            return self.ui.render(request, "admin/_groups.html", **context)
        return self.ui.render(request, "admin/groups.html", status, **context)

    async def create_group(self, request: Request) -> Response:
        await self.admin(request, "user-group", "create")
        values = await self.ui.form(request)
        try:
            kind = values.get("group_type", "")
            if not kind.isascii() or not kind.isdigit() or int(kind) not in GROUP_TYPES:
                raise BadRequest("choose a group type from the list")
            await add_group(self.ui.registry, values.get("group_name", "").strip(), int(kind),
                            values.get("ldap_group_dn", "").strip())
        except ServiceError as exc:
            return await self.groups(request, Problem.about(exc.message, GROUP_FIELDS), values, exc.status)
        return self.ui.redirect("/admin/groups")

    async def rename_group(self, request: Request) -> Response:
        """POST /admin/groups/{id}/rename: the API's updateUserGroup (only the name changes; the type and
        an LDAP group's DN identify it)."""
        await self.admin(request, "user-group", "update")
        values = await self.ui.form(request)
        try:
            await self.ui.registry.groups.rename(row_id(request.path_params["group_id"]),
                                                 values.get("group_name", "").strip())
        except ServiceError as exc:
            return await self.groups(request, exc.message, None, exc.status)
        return self.ui.redirect("/admin/groups")

    async def delete_group(self, request: Request) -> Response:
        await self.admin(request, "user-group", "delete")
        await self.ui.registry.groups.delete(row_id(request.path_params["group_id"]))
        return self.ui.redirect("/admin/groups")

    # --- registry endpoints ----------------------------------------------------------------------

    async def registries(self, request: Request) -> Response:
        await self.admin(request, "registry", "list")
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.registries.list(None, None, pager.offset, pager.size,
                                                              pager.filters.get("name"))
        context = {"rows": found, "pager": pager.counted(total), "section": "registries"}
        if self.ui.partial(request):
            return self.ui.render(request, "admin/_registries.html", **context)
        return self.ui.render(request, "admin/registries.html", **context)

    async def registry_form(self, request: Request) -> Response:
        key = request.path_params["registry_id"]
        if key == "-":
            await self.admin(request, "registry", "create")
            return self._registry_page(request, None, {"type": "docker-registry"})
        await self.admin(request, "registry", "read")
        stored = await self.ui.registry.registries.get(row_id(key))
        values = {"name": stored.name, "type": stored.type, "url": stored.url, "description": stored.description,
                  "access_key": stored.access_key, "insecure": "on" if stored.insecure else "",
                  "access_secret": MASKED_SECRET if stored.sealed_secret else ""}
        return self._registry_page(request, stored.id, values)

    def _registry_page(self, request: Request, registry_id: int | None, values: dict[str, str], error: Problem | str = "",
                       notice: str = "", status: int = 200) -> Response:
        return self.ui.render(request, "admin/registry.html", status, registry_id=registry_id, values=values,
                              error=error, notice=notice, types=SUPPORTED_TYPES, section="registries")

    async def save_registry(self, request: Request) -> Response:
        """POST /admin/registries/{id or -}: "test" pings the endpoint as the form describes it (the
        stored secret when the field is left masked); "save" creates or updates it (checked again)."""
        key = request.path_params["registry_id"]
        registry_id = None if key == "-" else row_id(key)
        values = await self.ui.form(request)
        test = values.get("action") == "test"
        await self.admin(request, "registry", "read" if test else ("create" if registry_id is None else "update"))
        service = self.ui.registry.registries
        try:
            stored = await service.get(registry_id) if registry_id is not None else None
            secret: str | None = values.get("access_secret", "")
            if secret == MASKED_SECRET and stored is not None:
                secret = service.endpoint(stored).access_secret if test else None
            access_key = values.get("access_key", "").strip()
            data = RegistryInput(
                name=values.get("name", "").strip(), type=stored.type if stored else values.get("type", ""),
                url=normalized_url(values.get("url", "")), description=values.get("description", "").strip(),
                credential_type="basic" if access_key else "", access_key=access_key, access_secret=secret,
                insecure=bool(values.get("insecure")), ca_certificate=stored.ca_certificate if stored else "")
            if test:
                await ping_endpoint(data)
                return self._registry_page(request, registry_id, values, notice="Connection tested: the endpoint "
                                           "answers as a healthy registry.")
            if stored is None:
                await service.create(data)
            else:
                await service.update(stored.id, data)
        except ServiceError as exc:
            return self._registry_page(request, registry_id, values, Problem.about(exc.message, REGISTRY_FIELDS),
                                       status=exc.status)
        return self.ui.redirect("/admin/registries")

    async def delete_registry(self, request: Request) -> Response:
        await self.admin(request, "registry", "delete")
        await delete_endpoint(self.ui.registry, row_id(request.path_params["registry_id"]))
        return self.ui.redirect("/admin/registries")

    # --- replication rules and their executions -------------------------------------------------

    async def replication(self, request: Request, error: Problem | str = "", status: int = 200) -> Response:
        await self.admin(request, "replication-policy", "list")
        registry = self.ui.registry
        pager = Pager.of(request, "name")
        policies, total = await registry.replication.list(None, None, pager.offset, pager.size,
                                                          pager.filters.get("name"))
        endpoints = await self._endpoint_names()
        runs, run_total = await registry.replication.executions(None, None, None, 0, 10)
        names = {record.id: record.policy.name for record in policies}
        context = {"policies": policies, "pager": pager.counted(total), "endpoints": endpoints, "runs": runs,
                   "run_total": run_total, "names": names, "error": error, "section": "replication",
                   "may_run": self.ui.may_system(request, "replication", "create")}
        if self.ui.partial(request) and request.method == "GET":
            return self.ui.render(request, "admin/_replication.html", **context)
        return self.ui.render(request, "admin/replication.html", status, **context)

    async def _endpoint_names(self) -> dict[int, str]:
        found, _ = await self.ui.registry.registries.list(None, None, 0, 100)
        return {endpoint.id: endpoint.name for endpoint in found}

    async def policy_form(self, request: Request) -> Response:
        key = request.path_params["policy_id"]
        if key == "-":
            await self.admin(request, "replication-policy", "create")
            return await self._policy_page(request, None, {"enabled": "on", "direction": "push", "trigger": "manual",
                                                           "replace_count": "-1", "resource": ""})
        await self.admin(request, "replication-policy", "read")
        record = await self.ui.registry.replication.get(row_id(key))
        return await self._policy_page(request, record.id, _policy_values(record.policy))

    async def _policy_page(self, request: Request, policy_id: int | None, values: dict[str, str], error: Problem | str = "",
                           status: int = 200) -> Response:
        return self.ui.render(request, "admin/policy.html", status, policy_id=policy_id, values=values, error=error,
                              endpoints=await self._endpoint_names(), section="replication")

    async def save_policy(self, request: Request) -> Response:
        key = request.path_params["policy_id"]
        policy_id = None if key == "-" else row_id(key)
        subject = await self.admin(request, "replication-policy", "create" if policy_id is None else "update")
        values = await self.ui.form(request)
        service = self.ui.registry.replication
        try:
            policy = replace(_policy_of(values), creator=subject.name or "")
            if policy_id is None:
                await service.create(policy)
            else:
                existing = await service.get(policy_id)
                await service.update(policy_id, replace(policy, creator=existing.policy.creator))
        except ServiceError as exc:
            return await self._policy_page(request, policy_id, values, Problem.about(exc.message, POLICY_FIELDS),
                                           exc.status)
        return self.ui.redirect("/admin/replication")

    async def delete_policy(self, request: Request) -> Response:
        await self.admin(request, "replication-policy", "delete")
        await self.ui.registry.replication.delete(row_id(request.path_params["policy_id"]))
        return self.ui.redirect("/admin/replication")

    async def run_policy(self, request: Request) -> Response:
        subject = await self.admin(request, "replication", "create")
        try:
            execution_id = await self.ui.registry.replication.start(row_id(request.path_params["policy_id"]),
                                                                    subject.name or "anonymous")
        except ServiceError as exc:
            return await self.replication(request, exc.message, exc.status)
        return self.ui.redirect(f"/admin/replication/executions/{execution_id}")

    async def execution(self, request: Request) -> Response:
        await self.admin(request, "replication", "read")
        registry = self.ui.registry
        run = await registry.replication.execution(row_id(request.path_params["execution_id"]))
        pager = Pager.of(request, "status")
        tasks, total = await registry.replication.tasks(run.id, pager.filters.get("status"), pager.offset, pager.size)
        try:
            policy_name = (await registry.replication.get(run.policy_id)).policy.name
        except NotFound:
            policy_name = f"deleted rule {run.policy_id}"
        rows = [(task, json.loads(task.extra_attrs or "{}")) for task in tasks]
        return self.ui.render(request, "admin/execution.html", run=run, rows=rows, pager=pager.counted(total),
                              policy_name=policy_name, section="replication",
                              finished=run.status not in ("Pending", "Running", "Scheduled"),
                              may_stop=self.ui.may_system(request, "replication", "create"))

    async def stop_execution(self, request: Request) -> Response:
        """POST /admin/replication/executions/{id}/stop: as the API's stopReplication."""
        await self.admin(request, "replication", "create")
        execution_id = row_id(request.path_params["execution_id"])
        await self.ui.registry.replication.stop(execution_id)
        return self.ui.redirect(f"/admin/replication/executions/{execution_id}")

    async def executions(self, request: Request) -> Response:
        """GET /admin/replication/executions: every execution, newest first, a page at a time."""
        await self.admin(request, "replication", "list")
        registry = self.ui.registry
        pager = Pager.of(request)
        runs, total = await registry.replication.executions(None, None, None, pager.offset, pager.size)
        context = {"runs": runs, "pager": pager.counted(total), "names": await self._policy_names(),
                   "section": "replication"}
        return self.ui.render(request, "admin/_executions.html" if self.ui.partial(request) else
                              "admin/executions.html", **context)

    async def _policy_names(self) -> dict[int, str]:
        found, _ = await self.ui.registry.replication.list(None, None, 0, 100)
        return {record.id: record.policy.name for record in found}

    async def task_log(self, request: Request) -> Response:
        await self.admin(request, "replication", "read")
        execution_id = row_id(request.path_params["execution_id"])
        task_id = row_id(request.path_params["task_id"])
        log = await self.ui.registry.replication.task_log(execution_id, task_id)
        return self.ui.render(request, "admin/task_log.html", execution_id=execution_id, task_id=task_id, log=log,
                              section="replication")

    # --- scanners and scan-all -------------------------------------------------------------------

    async def scanners(self, request: Request, error: Problem | str = "", values: dict[str, str] | None = None,
                       status: int = 200, notice: str = "") -> Response:
        await self.admin(request, "scanner", "list")
        registry = self.ui.registry
        pager = Pager.of(request)
        found, total = await registry.scanners.list(None, None, pager.offset, pager.size)
        may_scan_all = self.ui.may_system(request, "scan-all", "read")
        stats = await registry.scan_jobs.scan_all_stats() if may_scan_all else None
        schedule = await registry.schedules.get(SCAN_ALL, 0) if may_scan_all else None
        return self.ui.render(request, "admin/scanners.html", status, rows=found, pager=pager.counted(total),
                              stats=stats, schedule=schedule, schedules=SCHEDULES, auth_schemes=AUTH_SCHEMES,
                              error=error, notice=notice, values=values or {}, section="scanners", uuid=None)

    async def add_scanner(self, request: Request) -> Response:
        """POST /admin/scanners: "test" asks the adapter for its metadata; "save" registers it."""
        values = await self.ui.form(request)
        await self.admin(request, "scanner", "create")
        try:
            if values.get("action") == "test":
                return await self.scanners(request, values=values, notice=await _tested_scanner(values))
            await self.ui.registry.scanners.create(_registration_of(values))
        except ServiceError as exc:
            values.pop("access_credential", None)
            return await self.scanners(request, Problem.about(exc.message, SCANNER_FIELDS), values, exc.status)
        return self.ui.redirect("/admin/scanners")

    async def scanner_form(self, request: Request) -> Response:
        """GET /admin/scanners/{uuid}: a registration's edit page (the built-in one cannot be changed)."""
        await self.admin(request, "scanner", "read")
        stored = await self.ui.registry.scanners.get(request.path_params["uuid"])
        values = {"name": stored.name, "description": stored.description, "url": stored.url, "auth": stored.auth,
                  "skip_cert_verify": _shown(stored.skip_cert_verify), "enabled": _shown(not stored.disabled)}
        return self._scanner_page(request, stored.uuid, stored.name, values)

    def _scanner_page(self, request: Request, uuid: str, name: str, values: dict[str, str], error: Problem | str = "",
                      notice: str = "", status: int = 200) -> Response:
        return self.ui.render(request, "admin/scanner.html", status, uuid=uuid, stored_name=name, values=values,
                              auth_schemes=AUTH_SCHEMES, error=error, notice=notice, section="scanners")

    async def save_scanner(self, request: Request) -> Response:
        """POST /admin/scanners/{uuid}: "test" the form's adapter, or "save" it (the API's updateScanner:
        an empty credential keeps the stored one while the authorization stays the same)."""
        values = await self.ui.form(request)
        await self.admin(request, "scanner", "read" if values.get("action") == "test" else "update")
        service = self.ui.registry.scanners
        stored = await service.get(request.path_params["uuid"])
        try:
            if values.get("action") == "test":
                credential = values.get("access_credential") or (
                    service.credential(stored) if values.get("auth", "") == stored.auth else "")
                notice = await _tested_scanner({**values, "access_credential": credential})
                return self._scanner_page(request, stored.uuid, stored.name, _without_secret(values), notice=notice)
            await service.update(stored.uuid, _registration_of(values, disabled=not values.get("enabled")))
        except ServiceError as exc:
            return self._scanner_page(request, stored.uuid, stored.name, _without_secret(values),
                                      Problem.about(exc.message, SCANNER_FIELDS),
                                      status=exc.status)
        return self.ui.redirect("/admin/scanners")

    async def scanner_action(self, request: Request) -> Response:
        """POST /admin/scanners/{uuid}/default, /enable, /disable or /delete."""
        action, needed = verb_needs(request, {"default": "update", "enable": "update", "disable": "update",
                                              "delete": "delete"})
        uuid = request.path_params["uuid"]
        await self.admin(request, "scanner", needed)
        service = self.ui.registry.scanners
        try:
            if action == "default":
                await service.set_default(uuid)
            elif action == "delete":
                await service.delete(uuid)
            else:  # as updateScanner with the registration as it is, but for its flag
                stored = await service.get(uuid)
                await service.update(uuid, RegistrationInput(
                    name=stored.name, url=stored.url, description=stored.description, auth=stored.auth,
                    skip_cert_verify=stored.skip_cert_verify, use_internal_addr=stored.use_internal_addr,
                    disabled=action == "disable"))
        except ServiceError as exc:
            return await self.scanners(request, exc.message, None, exc.status)
        return self.ui.redirect("/admin/scanners")

    async def scan_all(self, request: Request) -> Response:
        """POST /admin/scan-all: "run" now or "schedule"."""
        values = await self.ui.form(request)
        scheduling = values.get("action") == "schedule"
        await self.admin(request, "scan-all", "update" if scheduling else "create")
        try:
            if scheduling:
                await set_scan_all_schedule(self.ui.registry, values.get("schedule", ""),
                                            values.get("cron", "").strip() or None)
            else:
                await self.ui.registry.scan_jobs.scan_all("MANUAL")
        except ServiceError as exc:
            return await self.scanners(request, Problem.about(exc.message, SCHEDULE_FIELDS), None, exc.status)
        return self.ui.redirect("/admin/scanners")

    # --- project quotas ----------------------------------------------------------------------------

    async def quotas(self, request: Request, error: Problem | str = "", status: int = 200) -> Response:
        await self.admin(request, "quota", "list")
        pager = Pager.of(request)
        found, total = await self.ui.registry.quotas.list(offset=pager.offset, limit=pager.size)
        return self.ui.render(request, "admin/quotas.html", status, rows=found, pager=pager.counted(total),
                              error=error, section="quotas")

    async def set_quota(self, request: Request) -> Response:
        await self.admin(request, "quota", "update")
        values = await self.ui.form(request)
        try:
            limit = storage_limit(values)
            if limit is None:
                raise BadRequest("give the storage quota: a whole number above 0, or -1 for no limit")
            await self.ui.registry.quotas.set_hard(row_id(request.path_params["quota_id"]), limit)
        except ServiceError as exc:  # beside the storage quota of the row posted
            return await self.quotas(request, Problem(exc.message, f"quota-{request.path_params['quota_id']}"),
                                     exc.status)
        return self.ui.redirect("/admin/quotas" + (f"?{request.url.query}" if request.url.query else ""))

    # --- system labels -----------------------------------------------------------------------------

    async def labels(self, request: Request, error: Problem | str = "", values: dict[str, str] | None = None,
                     status: int = 200) -> Response:
        await self.admin(request, "label", "list")
        pager = Pager.of(request, "name")
        found, total = await self.ui.registry.labels.list(scope=GLOBAL, project_id=None, name=pager.filters.get("name"),
                                                          q=None, sort=None, offset=pager.offset, limit=pager.size)
        context = {"rows": found, "pager": pager.counted(total), "error": error,
                   "values": values or {"color": "#0b5394"}, "section": "labels"}
        if self.ui.partial(request) and request.method == "GET":
            return self.ui.render(request, "admin/_labels.html", **context)
        return self.ui.render(request, "admin/labels.html", status, **context)

    async def create_label(self, request: Request) -> Response:
        await self.admin(request, "label", "create")
        values = await self.ui.form(request)
        try:
            await self.ui.registry.labels.create(values.get("name", "").strip(), values.get("description", "").strip(),
                                                 values.get("color", "").strip(), GLOBAL, None)
        except ServiceError as exc:
            return await self.labels(request, Problem.about(exc.message, LABEL_FIELDS), values, exc.status)
        return self.ui.redirect("/admin/labels")

    async def delete_label(self, request: Request) -> Response:
        await self.admin(request, "label", "delete")
        label = await self.ui.registry.labels.get(row_id(request.path_params["label_id"]))
        if label.scope != GLOBAL:  # a project's label is its project's page's
            raise NotFound(f"label {label.id} not found")
        await self.ui.registry.labels.delete(label.id)
        return self.ui.redirect("/admin/labels")

    # --- authentication and system settings --------------------------------------------------------

    async def settings(self, request: Request, values: dict[str, str] | None = None, error: Problem | str = "",
                       notice: str = "", status: int = 200) -> Response:
        page = _settings_page(request)
        await self.admin(request, "configuration", "read")
        configurations = self.ui.registry.configurations
        current = await configurations.all()
        shown = values if values is not None else {key: _shown(current[key]) for _, keys in page.groups for key in keys
                                                     if not ITEMS[key].secret}
        mode_fixed = page.key == "auth" and await self.ui.registry.users.count_others() > 0
        return self.ui.render(request, "admin/settings.html", status, page=page, values=shown, items=ITEMS,
                              fixed=configurations.fixed, labels=SETTING_LABELS, mode_fixed=mode_fixed,
                              kinds={key: item.type.__name__ for key, item in ITEMS.items()},
                              secrets_set={key for key in current if ITEMS.get(key) and ITEMS[key].secret and current[key]},
                              error=error, notice=notice or ("Saved." if request.query_params.get("saved") else ""),
                              section=page.key)

    async def save_settings(self, request: Request) -> Response:
        """POST /admin/auth or /admin/settings: "save" the changed items (the configuration service
        checks them all, and Harbor's rules, before it stores any), or "test_ldap" / "test_oidc"."""
        page = _settings_page(request)
        values = await self.ui.form(request)
        action = values.get("action", "save")
        await self.admin(request, "configuration", "read" if action.startswith("test_") else "update")
        configurations = self.ui.registry.configurations
        current = await configurations.all()
        shown = {key: value for key, value in values.items() if not key.endswith("password") and not key.endswith("secret")}
        try:
            if action == "test_ldap":
                given = {key: values.get(key, "").strip() for key in ("ldap_url", "ldap_search_dn", "ldap_search_password",
                                                                      "ldap_base_dn", "ldap_filter", "ldap_uid")}
                given |= {"ldap_scope": values.get("ldap_scope") or None,
                          "ldap_connection_timeout": values.get("ldap_timeout") or None,
                          "ldap_verify_cert": bool(values.get("ldap_verify_cert"))}
                problem = await ldap_test.ping(ldap_test.settings_to_test(current, given))
                if problem is not None:  # the test ran: its answer is the page's (200), as the API's ping
                    return await self.settings(request, shown, f"LDAP test failed: {problem}")
                return await self.settings(request, shown, notice="LDAP test: the server answers and the bind works.")
            if action == "test_oidc":
                url = values.get("oidc_endpoint", "").strip()
                if not url.startswith(("http://", "https://")):
                    raise BadRequest("url must be an http(s) URL of the OIDC issuer")
                await self.ui.web.ping(url, bool(values.get("oidc_verify_cert")))
                return await self.settings(request, shown, notice="OIDC test: the issuer answers.")
            changes: dict[str, Any] = {}
            for _, keys in page.groups:
                for key in keys:
                    if key in configurations.fixed:
                        continue
                    item = ITEMS[key]
                    if item.type is bool:
                        given: Any = bool(values.get(key))
                    elif item.secret:
                        given = values.get(key, "")
                        if not given:
                            continue  # empty: the stored secret stays
                    elif key not in values:  # a field shown disabled (the auth mode, once users exist)
                        continue
                    else:
                        given = values.get(key, "").strip()
                        if given == _shown(current[key]):
                            continue
                    if given != current[key]:
                        changes[key] = given
            await configurations.update(changes)
        except ServiceError as exc:
            return await self.settings(request, shown, Problem.about(exc.message, {key: rf"\b{key}\b" for key in page.keys}),
                                       status=exc.status)
        return self.ui.redirect(f"/admin/{page.key}?saved=1")

    # --- system robot accounts ---------------------------------------------------------------------

    async def robots(self, request: Request, error: Problem | str = "", form: RobotForm | None = None,
                     status: int = 200) -> Response:
        subject = await self.admin(request, "robot", "list")
        registry = self.ui.registry
        pager = Pager.of(request, "name")
        found, total = await registry.robots.list(level="system", name=pager.filters.get("name"), offset=pager.offset,
                                                  limit=pager.size)
        prefix = await registry.configurations.get("robot_name_prefix")
        rows = [(robot, _expiry(robot)) for robot in found]
        context = {"rows": rows, "pager": pager.counted(total), "prefix": prefix, "error": error,
                   "form": form or RobotForm.blank(), "opened": form is not None, "section": "robots",
                   "system_access": offered("system", subject), "project_access": offered("project", subject),
                   "default_days": await registry.configurations.get("robot_token_duration")}
        if self.ui.partial(request) and request.method == "GET":
            return self.ui.render(request, "admin/_robots.html", **context)
        return self.ui.render(request, "admin/robots.html", status, **context)

    async def create_robot(self, request: Request) -> Response:
        """A system robot with the chosen system permissions and project permissions (on every project,
        or each project named with its own access list), checked by robot_grants as the API's
        CreateRobot; its secret is shown on this answer only (never stored in plain, never sent again)."""
        subject = await self.admin(request, "robot", "create")
        form = await RobotForm.posted(request)
        try:
            grants, project = await robot_grants(subject, "system", form.permissions(),
                                                 lambda name: self.ui.project(subject, name))
            duration = form.values.get("duration", "").strip()
            robot, secret, full_name = await store_robot(
                self.ui.registry, subject, name=form.values.get("name", "").strip(),
                description=form.values.get("description", "").strip(), level="system",
                duration=days(duration) if duration else None, disabled=False, grants=grants, project=project)
        except ServiceError as exc:
            return await self.robots(request, form.problem(exc), form, exc.status)
        return self.ui.render(request, "admin/robot_created.html", robot=robot, full_name=full_name, secret=secret,
                              section="robots")

    async def robot(self, request: Request, error: Problem | str = "", form: RobotForm | None = None,
                    status: int = 200) -> Response:
        """A system robot's edit page: description, expiry, enabled, and its permissions."""
        subject = await self.admin(request, "robot", "read")
        robot = await self._system_robot(request)
        registry = self.ui.registry
        return self.ui.render(
            request, "admin/robot.html", status, robot=robot, form=form or RobotForm.of(robot), error=error,
            prefix=await registry.configurations.get("robot_name_prefix"), expires=_expiry(robot),
            system_access=offered("system", subject), project_access=offered("project", subject), section="robots")

    async def save_robot(self, request: Request) -> Response:
        """POST /admin/robots/{id}: the API's UpdateRobot (auth/robot_grants.change_robot, the same
        checks as at creation)."""
        subject = await self.admin(request, "robot", "update")
        robot = await self._system_robot(request)
        form = await RobotForm.posted(request)
        try:
            await change_robot(
                self.ui.registry, subject, robot, permissions=form.permissions(),
                project_named=lambda name: self.ui.project(subject, name),
                description=form.values.get("description", "").strip(),
                duration=days(form.values.get("duration", "")), disabled=not form.values.get("enabled"))
        except ServiceError as exc:
            return await self.robot(request, form.problem(exc), form, exc.status)
        return self.ui.redirect("/admin/robots?" + urlencode({"name": robot.name}))

    async def _system_robot(self, request: Request) -> RobotRecord:
        robot = await self.ui.registry.robots.get(row_id(request.path_params["robot_id"], "robot account"))
        if robot.level != "system":  # a project's robot is its project's page's
            raise NotFound(f"robot {robot.id} not found")
        return robot

    async def delete_robot(self, request: Request) -> Response:
        await self.admin(request, "robot", "delete")
        robot = await self._system_robot(request)
        await self.ui.registry.robots.delete(robot.id)
        return self.ui.redirect("/admin/robots")

    # --- system jobs: garbage collection and the audit-log purge ---------------------------------

    async def job(self, request: Request, run_error: Problem | str = "", schedule_error: Problem | str = "",
                  status: int = 200) -> Response:
        """A system job's page; a refusal goes to the form it came from (run or schedule: their fields
        have the same names)."""
        spec = _job_of(request)
        await self.admin(request, spec.resource, "list")
        registry = self.ui.registry
        pager = Pager.of(request)
        runs, total = await registry.executions.list_executions(spec.vendor_type, 0, offset=pager.offset,
                                                                limit=pager.size)
        schedule = await registry.schedules.get(spec.vendor_type, 0)
        return self.ui.render(request, "admin/job.html", status, job=spec, runs=runs, pager=pager.counted(total),
                              schedule=schedule, schedules=SCHEDULES, error="", run_error=run_error,
                              schedule_error=schedule_error, section=spec.key)

    async def job_run(self, request: Request) -> Response:
        """POST /admin/gc or /admin/purge: "run" (now, or a dry run) or "schedule"."""
        spec = _job_of(request)
        values = await self.ui.form(request)
        scheduling = values.get("action") == "schedule"
        await self.admin(request, spec.resource, "update" if scheduling else "create")
        try:
            parameters = spec.parameters(values)
            if scheduling:
                await spec.kick(self.ui.registry, values.get("schedule", ""), values.get("cron", "").strip() or None,
                                parameters)
                return self.ui.redirect(f"/admin/{spec.key}")
            execution_id = await spec.kick(self.ui.registry, "Manual", None, parameters)
        except ServiceError as exc:
            problem = Problem.about(exc.message, JOB_FIELDS | SCHEDULE_FIELDS)
            if scheduling:
                return await self.job(request, schedule_error=problem, status=exc.status)
            return await self.job(request, run_error=problem, status=exc.status)
        return self.ui.redirect(f"/admin/{spec.key}/{execution_id}")

    async def job_log(self, request: Request) -> Response:
        spec = _job_of(request)
        await self.admin(request, spec.resource, "read")
        execution_id = row_id(request.path_params["execution_id"])
        registry = self.ui.registry
        run = await registry.executions.system_job(execution_id, spec.vendor_type, spec.noun)
        log = await registry.executions.execution_log(execution_id)
        return self.ui.render(request, "admin/job_run.html", job=spec, run=run, log=log, section=spec.key,
                              finished=run.status not in ("Pending", "Running", "Scheduled"),
                              may_stop=self.ui.may_system(request, spec.resource, "stop"))

    async def job_stop(self, request: Request) -> Response:
        """POST /admin/gc/{id}/stop or /admin/purge/{id}/stop: as the API's stopGC and stopPurge."""
        spec = _job_of(request)
        await self.admin(request, spec.resource, "stop")
        execution_id = row_id(request.path_params["execution_id"])
        await self.ui.registry.executions.stop_system_job(execution_id, spec.vendor_type, spec.noun)
        return self.ui.redirect(f"/admin/{spec.key}/{execution_id}")

    # --- system CVE allowlist --------------------------------------------------------------------

    async def allowlist(self, request: Request) -> Response:
        await self.admin(request, "configuration", "read")
        current = await self.ui.registry.system_allowlist.get()
        expires = datetime.fromtimestamp(current.expires_at, UTC).date().isoformat() if current.expires_at else ""
        return self.ui.render(request, "admin/allowlist.html", cves="\n".join(current.items), expires=expires,
                              error="", saved=request.query_params.get("saved") == "1", section="allowlist")

    async def save_allowlist(self, request: Request) -> Response:
        await self.admin(request, "configuration", "update")
        values = await self.ui.form(request)
        text, expires = values.get("cves", ""), values.get("expires", "").strip()
        try:
            items = normalize_allowlist([{"cve_id": line} for line in text.replace(",", "\n").split() if line])
            expires_at = None
            if expires:
                try:
                    day = datetime.strptime(expires, "%Y-%m-%d").replace(tzinfo=UTC)
                except ValueError:
                    raise BadRequest("the expiry is a date (YYYY-MM-DD)") from None
                expires_at = int(day.timestamp())
            await self.ui.registry.system_allowlist.put(items, expires_at)
        except ServiceError as exc:
            return self.ui.render(request, "admin/allowlist.html", exc.status, cves=text, expires=expires,
                                  error=Problem.about(exc.message, {"cves": r"cve", "expires_at": r"expir"}),
                                  saved=False, section="allowlist")
        return self.ui.redirect("/admin/allowlist?saved=1")


def _registration_of(values: dict[str, str], disabled: bool = False) -> RegistrationInput:
    return RegistrationInput(
        name=values.get("name", "").strip(), url=values.get("url", "").strip(),
        description=values.get("description", "").strip(), auth=values.get("auth", ""),
        access_credential=values.get("access_credential") or None,
        skip_cert_verify=bool(values.get("skip_cert_verify")), disabled=disabled)


async def _tested_scanner(values: dict[str, str]) -> str:
    """The form's adapter asked for its metadata (ServiceError when it does not answer as one)."""
    metadata = await ping_adapter(values.get("name", "").strip(), values.get("url", "").strip(), values.get("auth", ""),
                                  values.get("access_credential", ""))
    scanner = metadata.get("scanner") or {}
    return f"Connection tested: the adapter answers as {scanner.get('name', 'a scanner')} {scanner.get('version', '')}".rstrip()


def _without_secret(values: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in values.items() if key != "access_credential"}


#: how many project rows the system robot form takes at most, and how many it draws (empty ones included)
MAX_PROJECT_ROWS = 50
EMPTY_PROJECT_ROWS = 3


@dataclass(frozen=True, slots=True)
class RobotForm:
    """The system robot form (create and edit): the text fields, the system access picked, the project
    access on every project (scope "all"), and the project rows (scope "some"): each project named
    with its own access list, as Harbor's system robot dialog sets them."""

    values: dict[str, str]
    system: list[str]
    every: list[str]
    rows: list[tuple[str, list[str]]]

    @classmethod
    def blank(cls) -> RobotForm:
        return cls({"scope": "all"}, [], ["repository:pull"], [])

    @classmethod
    def of(cls, robot: RobotRecord) -> RobotForm:
        """The form as the stored robot fills it."""
        def picked(grant: RobotGrant) -> list[str]:
            return [f"{p.resource}:{p.action}" for p in grant.access]

        every = [p for grant in robot.grants if grant.kind == "project" and grant.namespace == "*" for p in picked(grant)]
        rows = [(grant.namespace, picked(grant)) for grant in robot.grants
                if grant.kind == "project" and grant.namespace != "*"]
        values = {"description": robot.description, "duration": str(robot.duration),
                  "enabled": "" if robot.disabled else "on", "scope": "all" if every else "some"}
        return cls(values, [p for grant in robot.grants if grant.kind == "system" for p in picked(grant)],
                   every, rows)

    @classmethod
    async def posted(cls, request: Request) -> RobotForm:
        values, system = await Ui.form_with_list(request, "system")
        every = (await Ui.form_with_list(request, "project"))[1]
        rows = []
        for i in range(MAX_PROJECT_ROWS):
            if values.get(f"ns_{i}", "").strip():  # a row left without a name is ignored
                rows.append((values[f"ns_{i}"].strip()[:255], (await Ui.form_with_list(request, f"access_{i}"))[1]))
        return cls(values, system, every, rows)

    @property
    def shown_rows(self) -> list[tuple[str, list[str]]]:
        """The rows the form draws: those filled in, and empty ones (at least one, three in all)."""
        return self.rows + [("", ["repository:pull"])] * max(1, EMPTY_PROJECT_ROWS - len(self.rows))

    def permissions(self) -> list[dict[str, Any]]:
        """The form as the API's RobotPermission list (robot_grants checks it)."""
        def access(picked: list[str]) -> list[dict[str, str]]:
            return [{"resource": p.resource, "action": p.action} for p in map(permission, picked)]

        permissions: list[dict[str, Any]] = []
        if self.system:
            permissions.append({"kind": "system", "namespace": "/", "access": access(self.system)})
        if self.values.get("scope") == "all" and self.every:
            permissions.append({"kind": "project", "namespace": "*", "access": access(self.every)})
        seen: set[str] = set()  # the rows named count either way (a robot may hold both, as the API allows)
        for name, picked in self.rows:
            if name in seen:
                raise BadRequest(f"project {name} is named twice: give each project one row")
            if not picked:
                raise BadRequest(f"choose the access on project {name}")
            seen.add(name)
            permissions.append({"kind": "project", "namespace": name, "access": access(picked)})
        if not permissions:
            raise BadRequest("choose at least one permission")
        return permissions

    def problem(self, exc: ServiceError) -> Problem:
        """The refusal beside its field: a project row's name when the message names that project."""
        rows = {f"ns_{i}": rf"project {re.escape(name)}(\b|$)" for i, (name, _) in enumerate(self.rows)}
        return Problem.about(exc.message, ROBOT_FIELDS | rows)


def _expiry(robot: RobotRecord) -> str:
    return "never" if robot.expires_at == -1 else when(datetime.fromtimestamp(robot.expires_at, UTC))


def _gc_parameters(values: dict[str, str]) -> dict[str, Any]:
    workers = values.get("workers", "1").strip() or "1"
    return {"delete_untagged": bool(values.get("delete_untagged")), "dry_run": bool(values.get("dry_run")),
            "workers": int(workers) if workers.isascii() and workers.isdigit() else workers}


def _purge_parameters(values: dict[str, str]) -> dict[str, Any]:
    hours = values.get("audit_retention_hour", "").strip()
    return {"audit_retention_hour": int(hours) if hours.isascii() and hours.isdigit() else hours,
            "include_event_types": ",".join(t.strip() for t in values.get("include_event_types", "").split(",")
                                            if t.strip()),
            "dry_run": bool(values.get("dry_run"))}


@dataclass(frozen=True, slots=True)
class SystemJob:
    """A system job's page: its path (/admin/<key>), RBAC resource, execution type and parameters."""

    key: str
    title: str
    noun: str
    resource: str
    vendor_type: str
    kick: Callable[[Registry, str, str | None, dict[str, Any]], Awaitable[int]]
    parameters: Callable[[dict[str, str]], dict[str, Any]]


JOBS = {job.key: job for job in (
    SystemJob("gc", "Garbage collection", "gc", "garbage-collection", GC, kick_gc, _gc_parameters),
    SystemJob("purge", "Audit log purge", "purge", "purge-audit", PURGE_AUDIT, kick_purge, _purge_parameters),
)}


def _job_of(request: Request) -> SystemJob:
    return JOBS[request.url.path.split("/")[2]]


def _policy_of(values: dict[str, str]) -> Policy:
    """A replication rule from the form, through the same validation as the API's body."""
    endpoint = values.get("endpoint", "")
    if not endpoint.isascii() or not endpoint.isdigit():
        raise BadRequest("choose a registry endpoint from the list")
    side = {"id": int(endpoint)}
    filters: list[dict[str, Any]] = []
    for kind in ("name", "tag"):
        if values.get(f"{kind}_filter", "").strip():
            filters.append({"type": kind, "value": values[f"{kind}_filter"].strip(),
                            "decoration": values.get(f"{kind}_decoration") or "matches"})
    labels = [label.strip() for label in values.get("label_filter", "").split(",") if label.strip()]
    if labels:
        filters.append({"type": "label", "value": labels, "decoration": "matches"})
    if values.get("resource"):
        filters.append({"type": "resource", "value": values["resource"]})
    body = {
        "name": values.get("name", "").strip(), "description": values.get("description", "").strip(),
        "src_registry" if values.get("direction") == "pull" else "dest_registry": side,
        "dest_namespace": values.get("dest_namespace", "").strip(),
        "dest_namespace_replace_count": _whole(values.get("replace_count", "-1"), "the flattening level"),
        "speed": _whole(values.get("speed", "") or "0", "the speed"),
        "trigger": {"type": values.get("trigger") or "manual", "trigger_settings": {"cron": values.get("cron", "").strip()}},
        "filters": filters, "override": bool(values.get("override")), "enabled": bool(values.get("enabled")),
        "replicate_deletion": bool(values.get("replicate_deletion")), "copy_by_chunk": bool(values.get("copy_by_chunk")),
    }
    try:
        return policy_from(body)
    except PolicyInvalid as exc:
        raise BadRequest(str(exc)) from None


def _policy_values(policy: Policy) -> dict[str, str]:
    values = {
        "name": policy.name, "description": policy.description, "direction": "pull" if policy.pull else "push",
        "endpoint": str(policy.registry_id), "dest_namespace": policy.dest_namespace,
        "replace_count": str(policy.dest_namespace_replace_count), "speed": str(policy.speed),
        "trigger": policy.trigger, "cron": policy.cron, "override": "on" if policy.override else "",
        "enabled": "on" if policy.enabled else "", "replicate_deletion": "on" if policy.replicate_deletion else "",
        "copy_by_chunk": "on" if policy.copy_by_chunk else "", "resource": "",
    }
    for found in policy.filters:
        if found.type == "label":
            values["label_filter"] = ", ".join(found.value)
        elif found.type == "resource":
            values["resource"] = str(found.value)
        else:
            values[f"{found.type}_filter"] = str(found.value)
            values[f"{found.type}_decoration"] = found.decoration or "matches"
    return values


def _whole(value: str, what: str) -> int:
    value = value.strip()
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{what} is a whole number") from None


def _shown(value: Any) -> str:
    return ("on" if value else "") if isinstance(value, bool) else str(value)


@dataclass(frozen=True, slots=True)
class SettingsPage:
    key: str
    title: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for _, keys in self.groups for key in keys)


SETTINGS = {page.key: page for page in (
    SettingsPage("auth", "Authentication", (
        ("Mode", ("auth_mode", "self_registration", "primary_auth_mode")),
        ("LDAP", ("ldap_url", "ldap_search_dn", "ldap_search_password", "ldap_base_dn", "ldap_filter", "ldap_uid",
                  "ldap_scope", "ldap_timeout", "ldap_verify_cert", "ldap_group_base_dn", "ldap_group_search_filter",
                  "ldap_group_attribute_name", "ldap_group_search_scope", "ldap_group_admin_dn",
                  "ldap_group_membership_attribute")),
        ("OIDC", ("oidc_name", "oidc_endpoint", "oidc_client_id", "oidc_client_secret", "oidc_groups_claim",
                  "oidc_admin_group", "oidc_group_filter", "oidc_scope", "oidc_user_claim", "oidc_verify_cert",
                  "oidc_auto_onboard", "oidc_extra_redirect_parms", "oidc_logout")),
    )),
    SettingsPage("settings", "System settings", (
        ("Projects", ("project_creation_restriction", "quota_per_project_enable", "storage_per_project")),
        ("Robots and tokens", ("robot_token_duration", "robot_name_prefix", "token_expiration", "session_timeout")),
        ("Registry", ("read_only", "banner_message", "notification_enable", "scanner_skip_update_pulltime")),
        ("Audit log", ("audit_log_forward_endpoint", "skip_audit_log_database", "disabled_audit_log_event_types",
                       "pull_audit_log_disable")),
    )),
)}
SETTING_LABELS = {
    "auth_mode": "Authentication mode", "self_registration": "Allow self-registration",
    "primary_auth_mode": "The identity provider is the primary one", "ldap_url": "LDAP URL",
    "ldap_search_dn": "LDAP search DN", "ldap_search_password": "LDAP search password", "ldap_base_dn": "LDAP base DN",
    "ldap_filter": "LDAP filter", "ldap_uid": "LDAP UID attribute", "ldap_scope": "LDAP scope (0 base, 1 one level, 2 subtree)",
    "ldap_timeout": "LDAP timeout (seconds)", "ldap_verify_cert": "Verify the LDAP server's certificate",
    "ldap_group_base_dn": "LDAP group base DN", "ldap_group_search_filter": "LDAP group filter",
    "ldap_group_attribute_name": "LDAP group name attribute", "ldap_group_search_scope": "LDAP group scope (0, 1 or 2)",
    "ldap_group_admin_dn": "LDAP group admin DN", "ldap_group_membership_attribute": "LDAP group membership attribute",
    "oidc_name": "OIDC provider name", "oidc_endpoint": "OIDC endpoint (issuer URL)", "oidc_client_id": "OIDC client ID",
    "oidc_client_secret": "OIDC client secret", "oidc_groups_claim": "OIDC groups claim",
    "oidc_admin_group": "OIDC admin group", "oidc_group_filter": "OIDC group filter", "oidc_scope": "OIDC scope",
    "oidc_user_claim": "OIDC username claim", "oidc_verify_cert": "Verify the OIDC provider's certificate",
    "oidc_auto_onboard": "Onboard OIDC users automatically", "oidc_extra_redirect_parms": "OIDC extra redirect parameters (JSON)",
    "oidc_logout": "Log out of the OIDC provider too",
    "project_creation_restriction": "Who may create projects", "quota_per_project_enable": "Per-project quotas",
    "storage_per_project": "Default storage quota of a new project (bytes; -1: no limit)",
    "robot_token_duration": "Robot account expiry (days)", "robot_name_prefix": "Robot name prefix",
    "token_expiration": "Token expiry (minutes)", "session_timeout": "Web session timeout (minutes)",
    "read_only": "Read only (no pushes or deletes)", "banner_message": "Banner message",
    "notification_enable": "Webhooks enabled", "scanner_skip_update_pulltime": "Scanner pulls leave the pull time alone",
    "audit_log_forward_endpoint": "Forward audit logs to (syslog endpoint host:port)",
    "skip_audit_log_database": "Keep audit logs out of the database (forward only)",
    "disabled_audit_log_event_types": "Audit event types not logged (comma-separated)",
    "pull_audit_log_disable": "Do not log pulls",
}


def _settings_page(request: Request) -> SettingsPage:
    return SETTINGS[request.url.path.split("/")[2]]
