"""Swagger tag `webhook`: a project's webhook policies, the event types they may name, and the
executions, tasks and logs of their deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.numbers import BigRowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, project_for
from berth.api.executions import execution_body, task_body
from berth.auth.rbac import Subject, is_allowed
from berth.security.roles import Permission
from berth.services.errors import NotFound
from berth.services.projects import ProjectRecord
from berth.services.registry import Registry
from berth.services.webhooks import PolicyRecord, TargetInput
from berth.webhook.policy import EVENT_TYPES, HTTP, NOTIFY_TYPES, PAYLOAD_FORMATS, VENDOR_TYPES

router = APIRouter(tags=["webhook"])
#: Harbor's deprecated webhook jobs (its own swagger tag): executions seen the old way
jobs_router = APIRouter(tags=["webhookjob"])

RESOURCE = "notification-policy"
_BASE = "/projects/{project_name_or_id}/webhook"
_POLICY = _BASE + "/policies/{webhook_policy_id}"
#: what Harbor shows for a policy that never fired (Go's zero time)
_NEVER = datetime(1, 1, 1, tzinfo=UTC)


def policy_body(registry: Registry, policy: PolicyRecord, show_auth_header: bool) -> schemas.WebhookPolicy:
    return schemas.WebhookPolicy(
        id=policy.id, name=policy.name, description=policy.description, project_id=policy.project_id,
        targets=[schemas.WebhookTargetObject(
            type=t.type, address=t.address, skip_cert_verify=t.skip_cert_verify,
            auth_header=(registry.webhooks.open(t.sealed_auth_header)
                         if show_auth_header and t.sealed_auth_header else None),
            payload_format=t.payload_format or None,
        ) for t in policy.targets],
        event_types=list(policy.event_types), creator=policy.creator, enabled=policy.enabled,
        creation_time=harbor_time(policy.creation_time), update_time=harbor_time(policy.update_time),
    )


def _may_update(subject: Subject, project: ProjectRecord) -> bool:
    """Auth headers are credentials: shown to those who could replace them anyway, hidden from
    read-only roles (maintainers, robots with read access)."""
    return is_allowed(subject, Permission(RESOURCE, "update"), project.ref)


def _targets(body: schemas.WebhookPolicyIn) -> list[TargetInput]:
    return [TargetInput(t.type or "", t.address or "", t.auth_header, bool(t.skip_cert_verify), t.payload_format or "")
            for t in body.targets or []]


async def _policy(registry: Registry, subject: Subject, request: Request, project_name_or_id: str,
                  policy_id: int, action: str) -> tuple[ProjectRecord, PolicyRecord]:
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, action)
    return project, await registry.webhooks.get(project.id, policy_id)


async def _execution_of(registry: Registry, policy: PolicyRecord, execution_id: int) -> None:
    execution = await registry.executions.get_execution(execution_id, tuple(VENDOR_TYPES.values()))
    if execution.vendor_id != policy.id:
        raise NotFound(f"execution {execution_id} not found in policy {policy.id}")


@router.get(_BASE + "/policies", operation_id="ListWebhookPoliciesOfProject",
            response_model=list[schemas.WebhookPolicy], response_model_exclude_none=True)
async def list_policies(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.WebhookPolicy]:
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "list")
    found, total = await registry.webhooks.list(project.id, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    show = _may_update(subject, project)
    return [policy_body(registry, policy, show) for policy in found]


@router.post(_BASE + "/policies", operation_id="CreateWebhookPolicyOfProject", status_code=201)
async def create_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    policy: Annotated[schemas.WebhookPolicyIn, Body()],
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "create")
    policy_id = await registry.webhooks.create(
        project.id, name=policy.name or "", description=policy.description or "",
        event_types=policy.event_types or [], targets=_targets(policy),
        enabled=True if policy.enabled is None else policy.enabled, creator=subject.name or "",
        signing_secret=policy.signing_secret or None,
    )
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{policy_id}"})


@router.get(_POLICY, operation_id="GetWebhookPolicyOfProject", response_model=schemas.WebhookPolicy,
            response_model_exclude_none=True)
async def get_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, webhook_policy_id: BigRowId,
) -> schemas.WebhookPolicy:
    project, policy = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "read")
    return policy_body(registry, policy, _may_update(subject, project))


@router.put(_POLICY, operation_id="UpdateWebhookPolicyOfProject")
async def update_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, webhook_policy_id: BigRowId,
    policy: Annotated[schemas.WebhookPolicyIn, Body()],
) -> Response:
    """Replaces event types and targets (both required, as in Harbor); name, description, enabled and
    signing_secret are kept when left out."""
    _, current = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "update")
    await registry.webhooks.update(
        current, name=policy.name, description=policy.description, event_types=policy.event_types or [],
        targets=_targets(policy), enabled=policy.enabled, signing_secret=policy.signing_secret,
    )
    return Response(status_code=200)


@router.delete(_POLICY, operation_id="DeleteWebhookPolicyOfProject")
async def delete_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, webhook_policy_id: BigRowId,
) -> Response:
    _, policy = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "delete")
    await registry.webhooks.delete(policy)
    return Response(status_code=200)


@router.get(_POLICY + "/executions", operation_id="ListExecutionsOfWebhookPolicy",
            response_model=list[schemas.Execution])
async def list_executions(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, webhook_policy_id: BigRowId, q: str | None = None, sort: str | None = None,
) -> list[schemas.Execution]:
    _, policy = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "read")
    found, total = await registry.executions.list_executions(
        tuple(VENDOR_TYPES.values()), policy.id, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [execution_body(record) for record in found]


@router.get(_POLICY + "/executions/{execution_id}/tasks", operation_id="ListTasksOfWebhookExecution",
            response_model=list[schemas.Task])
async def list_tasks(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, webhook_policy_id: BigRowId, execution_id: BigRowId, q: str | None = None,
    sort: str | None = None,
) -> list[schemas.Task]:
    _, policy = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "read")
    await _execution_of(registry, policy, execution_id)
    found, total = await registry.executions.list_tasks(execution_id, q=q, sort=sort, offset=paging.offset,
                                                        limit=paging.limit)
    paging.headers(request, response, total)
    return [task_body(record) for record in found]


@router.get(_POLICY + "/executions/{execution_id}/tasks/{task_id}/log", operation_id="GetLogsOfWebhookTask",
            response_class=PlainTextResponse)
async def task_log(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, webhook_policy_id: BigRowId,
    execution_id: BigRowId, task_id: BigRowId,
) -> str:
    _, policy = await _policy(registry, subject, request, project_name_or_id, webhook_policy_id, "read")
    await _execution_of(registry, policy, execution_id)
    try:
        await registry.executions.get_task(task_id, execution_id)
    except NotFound:
        raise NotFound(f"task {task_id} not found in execution {execution_id}") from None
    return await registry.executions.task_log(task_id)


@router.get(_BASE + "/lasttrigger", operation_id="LastTrigger", response_model=list[schemas.WebhookLastTrigger],
            deprecated=True)
async def last_trigger(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
) -> list[schemas.WebhookLastTrigger]:
    """Per policy and event type: when the policy last fired for it."""
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "read")
    policies, _ = await registry.webhooks.list(project.id, offset=0, limit=10_000)
    out = []
    for policy in policies:
        triggered = await registry.webhooks.last_triggered(policy)
        for event_type in policy.event_types:
            when = triggered.get(event_type)
            out.append(schemas.WebhookLastTrigger(
                policy_name=policy.name, event_type=event_type, enabled=policy.enabled,
                creation_time=harbor_time(policy.creation_time), last_trigger_time=harbor_time(when or _NEVER),
            ))
    return out


@router.get(_BASE + "/events", operation_id="GetSupportedEventTypes", response_model=schemas.SupportedWebhookEventTypes)
async def supported_event_types(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
) -> schemas.SupportedWebhookEventTypes:
    await project_for(registry, subject, project_name_or_id, request, RESOURCE, "read")
    return schemas.SupportedWebhookEventTypes(
        event_type=list(EVENT_TYPES), notify_type=list(NOTIFY_TYPES),
        payload_formats=[schemas.PayloadFormat(notify_type=HTTP, formats=list(PAYLOAD_FORMATS))],
    )


_NOTIFY_TYPES = {vendor: notify for notify, vendor in VENDOR_TYPES.items()}


@jobs_router.get(_BASE + "/jobs", operation_id="ListWebhookJobs", response_model=list[schemas.WebhookJob],
                 deprecated=True)
async def list_webhook_jobs(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, policy_id: BigRowId, q: str | None = None, sort: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> list[schemas.WebhookJob]:
    """The policy's executions as Harbor 1.x's webhook jobs (`job_detail` is the body sent)."""
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "list")
    policy = await registry.webhooks.get(project.id, policy_id)
    if status:
        q = ",".join(filter(None, [q, "status={" + " ".join(status) + "}"]))
    found, total = await registry.executions.list_executions(
        tuple(VENDOR_TYPES.values()), policy.id, q=q, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [schemas.WebhookJob(
        id=e.id, policy_id=e.vendor_id, event_type=str(e.extra_attrs.get("event_type", "")),
        notify_type=_NOTIFY_TYPES.get(e.vendor_type, ""), status=e.status,
        job_detail=str(e.extra_attrs.get("payload", "")), creation_time=harbor_time(e.start_time),
        update_time=harbor_time(e.update_time),
    ) for e in found]
