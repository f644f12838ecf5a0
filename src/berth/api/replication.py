"""Swagger tag `replication`, the policies: `/replication/policies` CRUD, system administrators only,
as Harbor (src/server/v2.0/handler/replication.go). Push-based and pull-based policies with name, tag,
label and resource filters, manual, scheduled and event-based triggers (push-based only), deletion
replication, copy_by_chunk; what berth does not do yet (single active replication) is refused with a
400 saying so, and nothing is stored."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.numbers import BigRowId, Int64, RowId
from berth.api.registries import registry_body
from berth.replication.policy import Policy, PolicyInvalid, policy_from
from berth.services.errors import BadRequest, NotFound
from berth.services.registry import Registry
from berth.services.replication import ExecutionRow, PolicyRecord

router = APIRouter(tags=["replication"])
RESOURCE = "replication-policy"
#: Harbor's execution statuses (InProgress for a running one)
_EXECUTION_STATUS = {"Running": "InProgress", "Error": "Failed", "Success": "Succeed"}


@router.get("/replication/policies", operation_id="listReplicationPolicies",
            response_model=list[schemas.ReplicationPolicy])
async def list_policies(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None, name: str | None = None,
) -> list[schemas.ReplicationPolicy]:
    """`q` key: name; `name` (older) is a fuzzy match on the name."""
    require_system(subject, RESOURCE, "list")
    found, total = await registry.replication.list(q, sort, paging.offset, paging.limit, name)
    paging.headers(request, response, total)
    return [await _body(request, registry, record) for record in found]


@router.post("/replication/policies", operation_id="createReplicationPolicy", status_code=201)
async def create_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep,
    policy: Annotated[schemas.ReplicationPolicyIn, Body()],
) -> Response:
    """400 when the policy is invalid or asks for what berth does not do yet; 409 when the name is taken."""
    require_system(subject, RESOURCE, "create")
    policy_id = await registry.replication.create(replace(_policy(policy), creator=subject.name or ""))
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{policy_id}"})


@router.get("/replication/policies/{id}", operation_id="getReplicationPolicy",
            response_model=schemas.ReplicationPolicy)
async def get_policy(request: Request, registry: RegistryDep, subject: SubjectDep, id: RowId) -> schemas.ReplicationPolicy:
    require_system(subject, RESOURCE, "read")
    return await _body(request, registry, await registry.replication.get(id))


@router.put("/replication/policies/{id}", operation_id="updateReplicationPolicy")
async def update_policy(
    registry: RegistryDep, subject: SubjectDep, id: RowId, policy: Annotated[schemas.ReplicationPolicyIn, Body()],
) -> Response:
    """Replace the policy with the body (validated as on create)."""
    require_system(subject, RESOURCE, "update")
    existing = await registry.replication.get(id)
    await registry.replication.update(id, replace(_policy(policy), creator=existing.policy.creator))
    return Response(status_code=200)


@router.delete("/replication/policies/{id}", operation_id="deleteReplicationPolicy")
async def delete_policy(registry: RegistryDep, subject: SubjectDep, id: RowId) -> Response:
    require_system(subject, RESOURCE, "delete")
    await registry.replication.delete(id)
    return Response(status_code=200)


@router.post("/replication/executions", operation_id="startReplication", status_code=201)
async def start_replication(
    request: Request, registry: RegistryDep, subject: SubjectDep,
    execution: Annotated[schemas.StartReplicationExecution, Body()],
) -> Response:
    """Run a policy now, as a durable job: one task per artifact its filters take."""
    require_system(subject, "replication", "create")
    if execution.policy_id is None or not 0 < execution.policy_id < 2**31:
        raise BadRequest(f"policy {execution.policy_id} not found")
    try:
        await registry.replication.get(execution.policy_id)
    except NotFound:
        raise BadRequest(f"policy {execution.policy_id} not found") from None
    execution_id = await registry.replication.start(execution.policy_id, subject.name or "anonymous")
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{execution_id}"})


@router.get("/replication/executions", operation_id="listReplicationExecutions",
            response_model=list[schemas.ReplicationExecution])
async def list_executions(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    policy_id: Int64 | None = None, status: str | None = None, trigger: str | None = None, sort: str | None = None,
) -> list[schemas.ReplicationExecution]:
    require_system(subject, "replication", "list")
    found, total = await registry.replication.executions(policy_id, status, trigger, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [_execution(e) for e in found]


@router.get("/replication/executions/{id}", operation_id="getReplicationExecution",
            response_model=schemas.ReplicationExecution)
async def get_execution(registry: RegistryDep, subject: SubjectDep, id: BigRowId) -> schemas.ReplicationExecution:
    require_system(subject, "replication", "read")
    return _execution(await registry.replication.execution(id))


@router.put("/replication/executions/{id}", operation_id="stopReplication")
async def stop_replication(registry: RegistryDep, subject: SubjectDep, id: BigRowId) -> Response:
    """Stop a run: its pending tasks at once, a running one at its worker's next heartbeat."""
    require_system(subject, "replication", "create")
    await registry.replication.stop(id)
    return Response(status_code=200)


@router.get("/replication/executions/{id}/tasks", operation_id="listReplicationTasks",
            response_model=list[schemas.ReplicationTask])
async def list_tasks(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, id: BigRowId,
    paging: PagingDep, status: str | None = None, resource_type: str | None = None, sort: str | None = None,
) -> list[schemas.ReplicationTask]:
    """One task per artifact (resource_type `artifact`)."""
    require_system(subject, "replication", "list")
    if resource_type and resource_type != "artifact":
        await registry.replication.execution(id)
        paging.headers(request, response, 0)
        return []
    rows, total = await registry.replication.tasks(id, status, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [_task(row) for row in rows]


@router.get("/replication/executions/{id}/tasks/{task_id}/log", operation_id="getReplicationLog",
            response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def get_log(registry: RegistryDep, subject: SubjectDep, id: BigRowId, task_id: BigRowId) -> PlainTextResponse:
    """What the task copied and skipped, blob by blob."""
    require_system(subject, "replication", "read")
    return PlainTextResponse(await registry.replication.task_log(id, task_id))


def _execution(row: ExecutionRow) -> schemas.ReplicationExecution:
    counts = row.counts
    return schemas.ReplicationExecution(
        id=row.id, policy_id=row.policy_id, status=_EXECUTION_STATUS.get(row.status, row.status),
        trigger=row.trigger.lower(), start_time=harbor_time(row.start_time), end_time=harbor_time(row.end_time),
        status_text=row.status_message, total=sum(counts.values()), failed=counts.get("Error", 0),
        succeed=counts.get("Success", 0), in_progress=counts.get("Running", 0) + counts.get("Pending", 0),
        stopped=counts.get("Stopped", 0),
    )


def _task(row: Any) -> schemas.ReplicationTask:
    extra = json.loads(row.extra_attrs or "{}")
    return schemas.ReplicationTask(
        id=row.id, execution_id=row.execution_id, status=row.status, job_id=str(row.id),
        operation=str(extra.get("operation") or "copy"),
        resource_type="artifact", src_resource=str(extra.get("src_resource") or ""),
        dst_resource=str(extra.get("dst_resource") or ""), start_time=harbor_time(row.start_time),
        end_time=harbor_time(row.end_time),
    )


def _policy(body: schemas.ReplicationPolicyIn) -> Policy:
    """Harbor's Policy.Validate, then berth's limits; BadRequest with the reason."""
    try:
        return policy_from(body.model_dump())
    except PolicyInvalid as exc:
        raise BadRequest(str(exc)) from None


async def _body(request: Request, registry: Registry, record: PolicyRecord) -> schemas.ReplicationPolicy:
    policy = record.policy
    try:
        remote: schemas.Registry | None = registry_body(await registry.registries.get(policy.registry_id))
    except NotFound:
        remote = None
    source, destination = (remote, _local(request)) if policy.pull else (_local(request), remote)
    trigger = schemas.ReplicationTrigger(
        type=policy.trigger,
        trigger_settings=schemas.ReplicationTriggerSettings(cron=policy.cron or None))
    return schemas.ReplicationPolicy(
        id=record.id, name=policy.name, description=policy.description, src_registry=source,
        dest_registry=destination, dest_namespace=policy.dest_namespace,
        dest_namespace_replace_count=policy.dest_namespace_replace_count, trigger=trigger,
        filters=[schemas.ReplicationFilter(**f.as_json()) for f in policy.filters],
        replicate_deletion=policy.replicate_deletion, deletion=policy.replicate_deletion, override=policy.override, enabled=policy.enabled,
        creation_time=harbor_time(record.created_at), update_time=harbor_time(record.updated_at), speed=policy.speed,
        copy_by_chunk=policy.copy_by_chunk, single_active_replication=False,
    )


def _local(request: Request) -> schemas.Registry:
    """This berth as a push policy's source or a pull policy's destination: Harbor's "Local" registry (id 0)."""
    return schemas.Registry(id=0, name="Local", type="harbor", url=str(request.base_url).rstrip("/"),
                            status="healthy")

