"""Swagger tag `Retention`: a project's tag retention policy, its runs (manual, dry or not, and on its
cron schedule), their per-repository tasks and logs, and stopping a run. Checks go in Harbor's order
(server/v2.0/handler/retention.go): rule count and duplicates, the project and the caller's access,
then the policy itself; a policy, execution or task that does not exist is a 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import PlainTextResponse

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_login, require_project
from berth.api.numbers import BigRowId, RowId
from berth.auth.rbac import Subject
from berth.retention.policy import Policy, PolicyInvalid, check_rule_count, metadata, read_scope
from berth.services.errors import BadRequest, Forbidden, NotFound
from berth.services.projects import ProjectRecord
from berth.services.registry import Registry
from berth.services.retention import RetentionExecution, RetentionTask, checked

router = APIRouter(tags=["Retention"])
_RESOURCE = "tag-retention"
#: Harbor's job status codes (jobservice/job/status.go)
_STATUS_CODES = {"Pending": 0, "Scheduled": 1, "Running": 2, "Stopped": 3, "Error": 3, "Success": 3}


@router.get("/retentions/metadatas", operation_id="getRentenitionMetadata", response_model=schemas.RetentionMetadata)
async def get_metadata(subject: SubjectDep) -> Any:
    """The advertised templates and selectors (Harbor also accepts latestActiveK and lastXDays, and
    label selectors withLabels/withoutLabels, without advertising them)."""
    require_login(subject)
    return metadata()


@router.post("/retentions", operation_id="createRetention", status_code=201)
async def create_retention(
    request: Request, registry: RegistryDep, subject: SubjectDep,
    policy: Annotated[schemas.RetentionPolicyIn, Body()],
) -> Response:
    """Create the project's policy (one per project; its `retention_id` metadata then names it)."""
    require_login(subject)
    body = policy.as_body()
    checked(check_rule_count, body)
    scope = checked(read_scope, body)
    project = await _project(registry, subject, scope.ref)
    require_project(subject, project, _RESOURCE, "create")
    existing = await registry.retention.project_policy_id(project.id)
    if existing:
        raise BadRequest(f"project {project.id} already has retention policy {existing}")
    try:
        policy_id = await registry.retention.create(body, project.name)
    except PolicyInvalid as exc:
        raise BadRequest(str(exc)) from None
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{policy_id}"})


@router.get("/retentions/{id}", operation_id="getRetention", response_model=schemas.RetentionPolicy)
async def get_retention(registry: RegistryDep, subject: SubjectDep, id: RowId) -> Any:
    policy, _ = await _policy(registry, subject, id, "read")
    return schemas.RetentionPolicy.model_validate(policy.as_json())


@router.put("/retentions/{id}", operation_id="updateRetention")
async def update_retention(
    registry: RegistryDep, subject: SubjectDep, id: RowId, policy: Annotated[schemas.RetentionPolicyIn, Body()],
) -> Response:
    """Replace the policy's rules and trigger (a new cron replaces the schedule; an empty one removes it)."""
    require_login(subject)
    body = policy.as_body()
    checked(check_rule_count, body)
    current, project = await _policy(registry, subject, id, "update")
    scope = checked(read_scope, body)
    if scope.ref != current.project_id:
        raise NotFound(f"the retention policy id {id} does not match")
    try:
        await registry.retention.update(id, body, project.name)
    except PolicyInvalid as exc:
        raise BadRequest(str(exc)) from None
    return Response(status_code=200)


@router.delete("/retentions/{id}", operation_id="deleteRetention")
async def delete_retention(registry: RegistryDep, subject: SubjectDep, id: RowId) -> Response:
    """Delete the policy, its schedule and its executions; the project's `retention_id` goes."""
    _, project = await _policy(registry, subject, id, "delete")
    await registry.retention.delete(id, project.name)
    return Response(status_code=200)


@router.post("/retentions/{id}/executions", operation_id="triggerRetentionExecution", status_code=201,
             responses={200: {"description": "Trigger a Retention job successfully."}})
async def trigger_execution(
    request: Request, registry: RegistryDep, subject: SubjectDep, id: RowId,
    body: Annotated[schemas.RetentionDryRun, Body()],
) -> Response:
    """Run the policy now; with `{"dry_run": true}` nothing is deleted and the tasks' logs say what would be."""
    await _policy(registry, subject, id, "update")
    execution_id = await registry.retention.trigger(id, body.dry_run is True, subject.name or "anonymous")
    return Response(status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{execution_id}"})


@router.get("/retentions/{id}/executions", operation_id="listRetentionExecutions",
            response_model=list[schemas.RetentionExecution])
async def list_executions(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, id: RowId, paging: PagingDep,
) -> Any:
    await _policy(registry, subject, id, "list")
    executions, total = await registry.retention.executions(id, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [_execution(e) for e in executions]


@router.patch("/retentions/{id}/executions/{eid}", operation_id="operateRetentionExecution")
async def operate_execution(
    registry: RegistryDep, subject: SubjectDep, id: RowId, eid: BigRowId,
    body: Annotated[schemas.RetentionAction, Body()],
) -> Response:
    """Stop a run: its pending tasks at once, a running one at its worker's next heartbeat."""
    require_login(subject)
    if body.action != "stop":
        raise BadRequest("action should be 'stop'")
    policy, _ = await _policy(registry, subject, id, "update", bound=True)
    await registry.retention.stop(policy, eid)
    return Response(status_code=200)


@router.get("/retentions/{id}/executions/{eid}/tasks", operation_id="listRetentionTasks",
            response_model=list[schemas.RetentionExecutionTask])
async def list_tasks(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, id: RowId, eid: BigRowId,
    paging: PagingDep,
) -> Any:
    """One task per repository the policy's rules take."""
    policy, _ = await _policy(registry, subject, id, "list", bound=True)
    await registry.retention.execution(policy, eid)
    tasks, total = await registry.retention.tasks(eid, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [_task(t) for t in tasks]


@router.get("/retentions/{id}/executions/{eid}/tasks/{tid}", operation_id="getRetentionTaskLog",
            response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def get_task_log(
    registry: RegistryDep, subject: SubjectDep, id: RowId, eid: BigRowId, tid: BigRowId,
) -> PlainTextResponse:
    """The task's log: what it loaded, and a table of every artifact with RETAIN, DEL, IMMUTABLE or ERR."""
    policy, _ = await _policy(registry, subject, id, "read", bound=True)
    return PlainTextResponse(await registry.retention.task_log(policy, eid, tid))


# --- helpers -------------------------------------------------------------------------------------------


async def _project(registry: Registry, subject: Subject, project_id: int) -> ProjectRecord:
    """The scope's project; one that does not exist is Harbor's 400 to an administrator, and refused
    like a private one (403) to anyone else, so project ids cannot be probed."""
    try:
        return await registry.projects.get(str(project_id), by_name=False)
    except NotFound:
        if subject.sysadmin:
            raise BadRequest(f"invalid Project id {project_id}") from None
        raise Forbidden("forbidden") from None


async def _policy(
    registry: Registry, subject: Subject, policy_id: int, action: str, *, bound: bool = False,
) -> tuple[Policy, ProjectRecord]:
    """The policy when the caller may `action` it in its project (401/403 else; 404 when it does not
    exist). `bound`: also Harbor's requirePolicyAccess, the project's `retention_id` must name it."""
    require_login(subject)
    policy = await registry.retention.get(policy_id)
    project = await _project(registry, subject, policy.project_id)
    require_project(subject, project, _RESOURCE, action)
    if bound and await registry.retention.project_policy_id(project.id) != str(policy_id):
        raise NotFound(f"the retention policy id {policy_id} does not match")
    return policy, project


def _execution(record: RetentionExecution) -> schemas.RetentionExecution:
    return schemas.RetentionExecution(
        id=record.id, policy_id=record.policy_id, start_time=harbor_time(record.start_time),
        end_time=harbor_time(record.end_time), status=record.status, trigger=record.trigger, dry_run=record.dry_run,
    )


def _task(record: RetentionTask) -> schemas.RetentionExecutionTask:
    return schemas.RetentionExecutionTask(
        id=record.id, execution_id=record.execution_id, repository=record.repository, job_id=str(record.id),
        status=record.status, status_code=_STATUS_CODES.get(record.status, -1), start_time=harbor_time(record.start_time),
        end_time=harbor_time(record.end_time), total=record.total, retained=record.retained,
    )
