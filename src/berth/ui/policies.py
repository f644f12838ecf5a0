"""A project's policies: tag immutability rules (list, add, edit, enable or disable, delete) and its tag
retention policy (rules from Harbor's templates and selectors, the schedule, a dry run or a real run
through the job queue, and the runs with their results, which the page polls with htmx until done).
Both go through the services the API uses, with the same validation (services/immutability.py's
parse_rule, retention/policy.py's parse_policy)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject
from berth.jobs.store import FINAL
from berth.retention.policy import (
    ALGORITHM_OR, MAX_RULES, SCOPE_PROJECT, TEMPLATES, TRIGGER_SCHEDULE, Policy, PolicyInvalid, Rule, check_rule_count,
)
from berth.services.errors import BadRequest, NotFound, ServiceError
from berth.services.immutability import MAX_RULES as MAX_IMMUTABLE_RULES
from berth.services.immutability import RuleRecord, parse_rule
from berth.services.projects import ProjectRecord
from berth.services.retention import checked
from berth.ui.pages import Problem, Ui, row_id, verb_needs

IMMUTABLE = "immutable-tag"
RETENTION = "tag-retention"
REPOSITORY_DECORATIONS = {"repoMatches": "matching", "repoExcludes": "excluding"}
TAG_DECORATIONS = {"matches": "matching", "excludes": "excluding"}
#: what the retention form offers: the advertised templates, in Harbor's order
RETENTION_TEMPLATES = {t.id: t for t in TEMPLATES.values() if t.advertised}
EXECUTIONS_SHOWN = 5

#: each policy form's fields and the words of the services' messages about them (Problem.about)
IMMUTABLE_FIELDS = {"repo_pattern": r"repositor", "tag_pattern": r"\btag"}
RETENTION_FIELDS = {"cron": r"\bcron\b|schedule", "param": r"number of|\bparam", "template": r"template|what to retain",
                    "repo_pattern": r"repositor", "tag_pattern": r"\btag"}


class PolicyPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def page(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self._project(subject, request.path_params["project"])
        return await self._page(request, subject, project)

    async def _project(self, subject: Subject, name: str) -> ProjectRecord:
        project = await self.ui.project(subject, name)
        if not (self.ui.may(subject, project.ref, IMMUTABLE, "list") or self.ui.may(subject, project.ref, RETENTION, "list")):
            self.ui.require(subject, project.ref, RETENTION, "list")
        return project

    async def _page(self, request: Request, subject: Subject, project: ProjectRecord, status: int = 200,
                    **extra: Any) -> Response:
        may = lambda resource, action: self.ui.may(subject, project.ref, resource, action)  # noqa: E731
        registry = self.ui.registry
        rules: list[RuleRecord] = []
        if may(IMMUTABLE, "list"):
            rules, _ = await registry.immutability.list(project.id, offset=0, limit=MAX_IMMUTABLE_RULES)
        policy, executions = None, []
        if may(RETENTION, "list"):
            policy = await self._policy(project)
            if policy is not None:
                executions, _ = await registry.retention.executions(policy.id, 0, EXECUTIONS_SHOWN)
        edit = request.query_params.get("edit", "")
        retain = request.query_params.get("retain", "")
        editing = int(retain) if policy is not None and retain.isdigit() and int(retain) < len(policy.rules) else None
        if editing is not None and "retention_edit" not in extra:
            extra = {"retention_values": _retention_values(policy.rules[editing])} | extra | {"retention_edit": editing}
        context = {
            "project": project, "tab": "policies", "rules": rules, "policy": policy, "executions": executions,
            "repository_decorations": REPOSITORY_DECORATIONS, "tag_decorations": TAG_DECORATIONS,
            "templates": RETENTION_TEMPLATES, "max_rules": MAX_RULES, "max_immutable": MAX_IMMUTABLE_RULES, "edit": next((r for r in rules if str(r.id) == edit), None),
            "immutable_error": "", "retention_error": "", "values": {}, "retention_values": {}, "retention_edit": None,
            "may_list_immutable": may(IMMUTABLE, "list"), "may_create_immutable": may(IMMUTABLE, "create"),
            "may_update_immutable": may(IMMUTABLE, "update"), "may_delete_immutable": may(IMMUTABLE, "delete"),
            "may_list_retention": may(RETENTION, "list"), "may_update_retention": may(RETENTION, "update"),
            "may_create_retention": may(RETENTION, "create"),
        } | extra
        return self.ui.render(request, "policies.html", status, **context)

    async def _policy(self, project: ProjectRecord) -> Policy | None:
        policy_id = await self.ui.registry.retention.project_policy_id(project.id)
        if not policy_id or not policy_id.isdigit():
            return None
        try:
            return await self.ui.registry.retention.get(int(policy_id))
        except NotFound:
            return None

    # --- tag immutability ------------------------------------------------------------------------

    async def add_immutable(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], IMMUTABLE, "create")
        values = await self.ui.form(request)
        try:
            spec = parse_rule(_immutable_body(values, disabled=False))
            await self.ui.registry.immutability.create(project.id, project.name, spec)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, immutable_error=Problem.about(exc.message, IMMUTABLE_FIELDS), values=values)
        return self.ui.redirect(f"/projects/{project.name}/policies")

    async def change_immutable(self, request: Request) -> Response:
        """POST .../immutable/<id>/<edit|enable|disable|delete>."""
        subject = await self.ui.viewer(request)
        verb, needed = verb_needs(request, {"edit": "update", "enable": "update", "disable": "update",
                                            "delete": "delete"})
        project = await self.ui.project(subject, request.path_params["project"], IMMUTABLE, needed)
        service = self.ui.registry.immutability
        rule = await service.get(project.id, row_id(request.path_params["rule_id"], "immutability rule"))
        if verb == "delete":
            await service.delete(rule, project.name)
        elif verb == "edit":
            values = await self.ui.form(request)
            try:
                spec = parse_rule(_immutable_body(values, disabled=rule.spec.disabled, priority=rule.spec.priority))
                await service.update(rule, project.name, spec)
            except ServiceError as exc:
                return await self._page(request, subject, project, exc.status, immutable_error=Problem.about(exc.message, IMMUTABLE_FIELDS),
                                        values=values, edit=rule)
        else:
            body = _rule_json(rule) | {"disabled": verb == "disable"}
            await service.update(rule, project.name, parse_rule(body))
        return self.ui.redirect(f"/projects/{project.name}/policies")

    # --- tag retention ---------------------------------------------------------------------------

    async def add_retention_rule(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RETENTION, "update")
        values = await self.ui.form(request)
        policy = await self._policy(project)
        try:
            rule = _retention_rule(values)
            if policy is None:
                self.ui.require(subject, project.ref, RETENTION, "create")
                body = {"algorithm": ALGORITHM_OR, "rules": [rule], "scope": {"level": SCOPE_PROJECT, "ref": project.id},
                        "trigger": {"kind": TRIGGER_SCHEDULE, "settings": {"cron": ""}}}
                await self._store(project, None, body)
            else:
                body = policy.as_json()
                body["rules"].append(rule)
                await self._store(project, policy, body)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, retention_error=Problem.about(exc.message, RETENTION_FIELDS), retention_values=values)
        return self.ui.redirect(f"/projects/{project.name}/policies#retention")

    async def change_retention_rule(self, request: Request) -> Response:
        """POST .../retention/rules/<index>/<edit|delete>: the policy stored again without the rule, or
        with it replaced (its id, priority and enabled state kept), as a PUT of the API's policy."""
        subject = await self.ui.viewer(request)
        verb, _ = verb_needs(request, {"edit": "update", "delete": "update"})
        project = await self.ui.project(subject, request.path_params["project"], RETENTION, "update")
        policy = await self._policy(project)
        index = row_id(request.path_params["index"], "retention rule")
        if policy is None or index >= len(policy.rules):
            raise NotFound("there is no such retention rule")
        body = policy.as_json()
        if verb == "delete":
            del body["rules"][index]
        else:
            values = await self.ui.form(request)
            try:
                old = body["rules"][index]
                body["rules"][index] = old | _retention_rule(values) | {"disabled": old["disabled"]}
                await self._store(project, policy, body)
            except ServiceError as exc:
                return await self._page(request, subject, project, exc.status, retention_error=Problem.about(exc.message, RETENTION_FIELDS),
                                        retention_values=values, retention_edit=index)
            return self.ui.redirect(f"/projects/{project.name}/policies#retention")
        await self._store(project, policy, body)
        return self.ui.redirect(f"/projects/{project.name}/policies#retention")

    async def schedule(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RETENTION, "update")
        values = await self.ui.form(request)
        policy = await self._policy(project)
        if policy is None:
            raise BadRequest("add a retention rule first: the schedule belongs to the project's retention policy")
        body = policy.as_json()
        body["trigger"] = {"kind": TRIGGER_SCHEDULE, "settings": {"cron": values.get("cron", "").strip()}}
        try:
            await self._store(project, policy, body)
        except ServiceError as exc:
            return await self._page(request, subject, project, exc.status, retention_error=Problem.about(exc.message, RETENTION_FIELDS), retention_values=values)
        return self.ui.redirect(f"/projects/{project.name}/policies#retention")

    async def _store(self, project: ProjectRecord, policy: Policy | None, body: dict[str, Any]) -> None:
        """Create or replace the project's retention policy, with the API's checks and messages."""
        service = self.ui.registry.retention
        checked(check_rule_count, body)
        try:
            if policy is None:
                await service.create(body, project.name)
            else:
                await service.update(policy.id, body, project.name)
        except PolicyInvalid as exc:
            raise BadRequest(str(exc)) from None

    async def run(self, request: Request) -> Response:
        """POST .../retention/run: a dry run (`dry_run` set) or a real one, queued for the workers."""
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RETENTION, "update")
        values = await self.ui.form(request)
        policy = await self._policy(project)
        if policy is None:
            raise BadRequest("there is no retention policy to run: add a rule first")
        execution_id = await self.ui.registry.retention.trigger(policy.id, values.get("dry_run") == "true",
                                                                subject.name or "anonymous")
        return self.ui.redirect(f"/projects/{project.name}/policies/retention/executions/{execution_id}")

    async def execution(self, request: Request) -> Response:
        """A run and its per-repository tasks (with their logs once done); while it runs, the fragment
        asks again (htmx) until it is."""
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], RETENTION, "list")
        policy = await self._policy(project)
        if policy is None:
            raise NotFound("there is no retention policy in this project")
        service = self.ui.registry.retention
        execution = await service.execution(policy, row_id(request.path_params["execution_id"], "run"))
        tasks, total = await service.tasks(execution.id, 0, 100)
        done = execution.status in FINAL
        logs = {}
        if done and self.ui.may(subject, project.ref, RETENTION, "read"):
            for task in tasks[:20]:
                logs[task.id] = await service.task_log(policy, execution.id, task.id)
        context = {"project": project, "tab": "policies", "execution": execution, "tasks": tasks, "total": total,
                   "done": done, "logs": logs}
        if self.ui.partial(request):
            return self.ui.render(request, "_retention_run.html", **context)
        return self.ui.render(request, "retention_run.html", **context)


def _immutable_body(values: dict[str, str], *, disabled: bool, priority: int = 0) -> dict[str, Any]:
    return {
        "disabled": disabled, "priority": priority,
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": values.get("repo_decoration", ""),
                                            "pattern": values.get("repo_pattern", "").strip()}]},
        "tag_selectors": [{"kind": "doublestar", "decoration": values.get("tag_decoration", ""),
                           "pattern": values.get("tag_pattern", "").strip()}],
    }


def _rule_json(rule: RuleRecord) -> dict[str, Any]:
    spec = rule.spec
    return {"disabled": spec.disabled, "priority": spec.priority, "params": dict(spec.params),
            "tag_selectors": [s.as_json() for s in spec.tag_selectors],
            "scope_selectors": {scope: [s.as_json() for s in selectors] for scope, selectors in spec.scope_selectors}}


def _retention_rule(values: dict[str, str]) -> dict[str, Any]:
    template = values.get("template", "")
    spec = RETENTION_TEMPLATES.get(template)
    if spec is None:
        raise BadRequest("choose what to retain from the list")
    params: dict[str, Any] = {}
    if spec.unit is not None:
        amount = values.get("param", "").strip()
        if not (amount.isascii() and amount.isdigit() and len(amount) < 10):
            raise BadRequest(f"the number of {'days' if spec.unit == 'DAYS' else 'artifacts'} is a whole number")
        params[template] = int(amount)
    extras = json.dumps({"untagged": values.get("untagged") == "true"})
    return {
        "disabled": False, "action": "retain", "template": template, "params": params,
        "tag_selectors": [{"kind": "doublestar", "decoration": values.get("tag_decoration", ""),
                           "pattern": values.get("tag_pattern", "").strip(), "extras": extras}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": values.get("repo_decoration", ""),
                                            "pattern": values.get("repo_pattern", "").strip()}]},
    }



def _retention_values(rule: Rule) -> dict[str, str]:
    """An existing retention rule as its form's fields (the first repository and tag selector: the
    ones the form edits)."""
    repo = (rule.scope_selectors.get("repository") or (None,))[0]
    tag = rule.tag_selectors[0] if rule.tag_selectors else None
    try:
        untagged = bool(json.loads(tag.extras or "{}").get("untagged")) if tag is not None else False
    except (ValueError, AttributeError):
        untagged = False
    return {"template": rule.template, "param": str(rule.parameter),
            "repo_decoration": repo.decoration if repo else "repoMatches", "repo_pattern": repo.pattern if repo else "**",
            "tag_decoration": tag.decoration if tag else "matches", "tag_pattern": tag.pattern if tag else "**",
            "untagged": "true" if untagged else ""}
