"""Swagger tag `immutable`: a project's tag immutability rules (list, create, update, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, project_for
from berth.api.numbers import BigRowId
from berth.services.errors import BadRequest
from berth.services.immutability import RuleRecord, parse_rule

router = APIRouter(tags=["immutable"])

RESOURCE = "immutable-tag"
_BASE = "/projects/{project_name_or_id}/immutabletagrules"
_RULE = _BASE + "/{immutable_rule_id}"


def rule_body(rule: RuleRecord) -> schemas.ImmutableRule:
    spec = rule.spec

    def selector(s) -> schemas.ImmutableSelector:  # type: ignore[no-untyped-def]
        return schemas.ImmutableSelector(kind=s.kind, decoration=s.decoration, pattern=s.pattern,
                                         extras=s.extras or None)

    return schemas.ImmutableRule(
        id=rule.id, priority=spec.priority, disabled=spec.disabled, action=spec.action, template=spec.template,
        params=dict(spec.params) or None, tag_selectors=[selector(s) for s in spec.tag_selectors],
        scope_selectors={scope: [selector(s) for s in selectors] for scope, selectors in spec.scope_selectors},
    )


@router.get(_BASE, operation_id="ListImmuRules", response_model=list[schemas.ImmutableRule],
            response_model_exclude_none=True)
async def list_rules(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.ImmutableRule]:
    """Oldest first (by id) by default; `q` and `sort` keys: id, priority, disabled, action, template,
    creation_time, update_time."""
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "list")
    found, total = await registry.immutability.list(project.id, q=q, sort=sort, offset=paging.offset,
                                                    limit=paging.limit)
    paging.headers(request, response, total)
    return [rule_body(rule) for rule in found]


@router.post(_BASE, operation_id="CreateImmuRule", status_code=201)
async def create_rule(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    rule: Annotated[schemas.ImmutableRuleIn, Body()],
) -> Response:
    """At most 15 rules a project; the same selectors twice are a conflict (409)."""
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "create")
    spec = parse_rule(rule.model_dump(exclude_none=True))
    rule_id = await registry.immutability.create(project.id, project.name, spec)
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{rule_id}"})


@router.put(_RULE, operation_id="UpdateImmuRule")
async def update_rule(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    immutable_rule_id: BigRowId, rule: Annotated[schemas.ImmutableRuleIn, Body()],
) -> Response:
    """Replaces the rule: selectors, priority and `disabled` alike. The body's id must be the path's (Harbor)."""
    if rule.id != immutable_rule_id:
        raise BadRequest("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "update")
    current = await registry.immutability.get(project.id, immutable_rule_id)
    spec = parse_rule(rule.model_dump(exclude_none=True))
    await registry.immutability.update(current, project.name, spec)
    return Response(status_code=200)


@router.delete(_RULE, operation_id="DeleteImmuRule")
async def delete_rule(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    immutable_rule_id: BigRowId,
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "delete")
    rule = await registry.immutability.get(project.id, immutable_rule_id)
    await registry.immutability.delete(rule, project.name)
    return Response(status_code=200)
