"""Replication driven by what happens here (Harbor's src/controller/event/handler/replication and
webhook/artifact/replication.go):

- `on_changes`, an outbox subscriber: a local push, tag creation, artifact or tag deletion that an
  enabled event-based push policy's filters take starts an execution (trigger EVENT_BASED) with one
  task for just that artifact: a copy, or with `replicate_deletion` a deletion on the destination.
  Written in the outbox's delivery transaction, keyed by the outbox row, so a crash loses none and
  an event handed over twice starts nothing twice.
- `delete`, the deletion task (the REPLICATION job kind hands it the tasks whose operation is one).
- `task_ended`, the REPLICATION task end hook: Harbor's REPLICATION webhook event, recorded in the
  transaction that ends the task.
- `replication_gauges`: per-policy lag and task counts for the metrics endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import Execution, Manifest, RemoteRegistry, ReplicationPolicyRow, Repository, Tag, Task, utcnow
from berth.db.session import Database, after_commit
from berth.events.bus import EventBus
from berth.events.outbox import OutboxEvent
from berth.events.types import ArtifactDeleted, ArtifactPushed, Event, ReplicationStatusChanged, TagCreated, TagDeleted
from berth.jobs.kinds import JobContext, JobFailed, JobFatal
from berth.jobs.store import ERROR, SUCCESS, JobStore
from berth.replication import ATTEMPTS, REPLICATION
from berth.replication.policy import Policy, PolicyInvalid, load_policy
from berth.replication.push import DeleteRefused, PushClient, PushFailed
from berth.services.errors import NotFound
from berth.services.registries import RegistryService
from berth.services.replication import ACCESSORY_TAG, copy_task

log = structlog.get_logger("berth.replication")

#: Harbor's execution trigger for event-based runs (task.ExecutionTriggerEvent)
EVENT_BASED = "EVENT_BASED"
#: Harbor's task operations for what an event-based policy deletes
DELETION, TAG_DELETION = "deletion", "tag deletion"
_CHANGES = (ArtifactPushed, TagCreated, ArtifactDeleted, TagDeleted)


@dataclass(frozen=True, slots=True)
class _Work:
    operation: str
    repository: str
    digest: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyGauge:
    """One policy's numbers for the metrics endpoint."""

    name: str
    trigger: str
    #: seconds (see replication_gauges); None when the policy promises none (manual, or disabled)
    lag: float | None
    #: unix time the last completely successful execution started; 0: none yet
    last_success: float = 0.0
    #: REPLICATION task status -> tasks (of the executions still kept)
    tasks: dict[str, int] = field(default_factory=dict)


class ReplicationEvents:
    def __init__(self, db: Database, events: EventBus, jobs: JobStore, registries: RegistryService) -> None:
        self._db = db
        self._events = events
        self._jobs = jobs
        self._registries = registries
        #: this berth as others reach it (the webhook's src_resource endpoint); set by the process
        self.local_endpoint = ""

    # --- the trigger ----------------------------------------------------------------------------------

    async def on_changes(self, conn: AsyncConnection, batch: Sequence[OutboxEvent]) -> None:
        """The outbox subscriber: executions for the changes event-based policies take, on `conn`."""
        changes = [item for item in batch if isinstance(item.event, _CHANGES)]
        if not changes:
            return
        policies = [(row.id, policy) for row in await conn.execute(select(ReplicationPolicyRow.id, ReplicationPolicyRow.data))
                    if (policy := load_policy(json.loads(row.data))).enabled and policy.trigger == "event_based"
                    and not policy.pull]
        if not policies:
            return
        done = set((await conn.execute(select(Execution.event_id).where(
            Execution.vendor_type == REPLICATION, Execution.event_id.in_([item.id for item in changes])))).scalars())
        # changes close together in one batch that come to the same artifact make one task
        planned: dict[tuple[int, str, str, str], tuple[OutboxEvent, Policy, _Work]] = {}
        for item in changes:
            if item.id in done:
                continue
            for policy_id, policy in policies:
                work = await self._work(conn, policy, item.event)
                if work is None:
                    continue
                key = (policy_id, work.operation, work.repository, work.digest)
                if key in planned:
                    first, _, earlier = planned[key]
                    tags = earlier.tags + tuple(t for t in work.tags if t not in earlier.tags)
                    planned[key] = (first, policy, _Work(work.operation, work.repository, work.digest, tags))
                else:
                    planned[key] = (item, policy, work)
        for (policy_id, *_), (item, policy, work) in planned.items():
            try:
                parameters, attrs = copy_task(policy_id, policy, work.repository, work.digest, list(work.tags),
                                              work.operation)
            except PolicyInvalid as exc:
                log.warning("event-based replication skipped", policy=policy.name, repository=work.repository,
                            reason=str(exc))
                continue
            if work.operation == "copy":  # no launch task prepares the destination (its project) for it
                parameters["prepare"] = True
            execution_id = await self._jobs.create_execution(
                conn, REPLICATION, policy_id, EVENT_BASED, {"operator": item.event.operator}, event_id=item.id)
            await self._jobs.create_task(conn, execution_id, REPLICATION, parameters, max_attempts=ATTEMPTS,
                                         extra_attrs=attrs, request_id=item.event.request_id)
        if planned:
            after_commit(conn, self._jobs.notify)

    async def _work(self, conn: AsyncConnection, policy: Policy, event: Event) -> _Work | None:
        """What the policy does about the event, or None (Harbor's getRelatedPolicies and filters):
        the tags the tag filter takes, or an untagged push (copied by digest) when the tag filter takes
        the empty tag, as a full run selects; a cosign accessory tag (`sha256-<hex>.sig`) or an OCI
        referrer pushed brings its subject, whose copy carries its accessories."""
        if not isinstance(event, _CHANGES) or not policy.takes_repository(event.repository):
            return None
        if isinstance(event, ArtifactPushed | TagCreated):
            tags = event.tags if isinstance(event, ArtifactPushed) else (event.tag,)
            digest: str | None = event.digest
            subjects = [t for t in tags if ACCESSORY_TAG.fullmatch(t)]
            if subjects:
                digest = "sha256:" + subjects[0][len("sha256-"):].rpartition(".")[0]
            elif not tags:  # pushed by digest: a referrer goes with its subject
                digest = await conn.scalar(
                    select(Manifest.subject_digest).join(Repository, Repository.id == Manifest.repository_id)
                    .where(Repository.name == event.repository, Manifest.digest == event.digest)) or event.digest
            if digest != event.digest:  # the subject's tags as they are now
                tags = tuple((await conn.execute(
                    select(Tag.name).join(Manifest, Manifest.id == Tag.manifest_id)
                    .join(Repository, Repository.id == Tag.repository_id)
                    .where(Repository.name == event.repository, Manifest.digest == digest)
                    .order_by(Tag.name))).scalars())
            taken = policy.selected_tags([t for t in tags if not ACCESSORY_TAG.fullmatch(t)])
            return _Work("copy", event.repository, digest, tuple(taken)) if taken is not None and digest else None
        if not policy.replicate_deletion:
            return None
        if isinstance(event, ArtifactDeleted):
            taken = tuple(t for t in event.tags if not ACCESSORY_TAG.fullmatch(t) and policy.takes_tag(t))
            return _Work(DELETION, event.repository, event.digest, taken) if taken else None
        if ACCESSORY_TAG.fullmatch(event.tag) or not policy.takes_tag(event.tag):
            return None
        return _Work(TAG_DELETION, event.repository, event.digest, (event.tag,))

    # --- the deletion task ----------------------------------------------------------------------------

    async def delete(self, ctx: JobContext) -> str:
        """Delete on the destination what was deleted here: an artifact by its digest (its tags go with
        it), or one tag. What the destination does not have is skipped; a destination refusing deletes
        fails the task at once with its answer (retrying cannot change it)."""
        try:
            p = ctx.parameters
            operation, target, digest = str(p["operation"]), str(p["target"]), str(p["digest"])
            tags = [str(t) for t in p["tags"]]
            registry = await self._registries.get(int(p["registry_id"]))
        except (KeyError, TypeError, ValueError, NotFound) as exc:
            raise JobFatal(f"cannot run: {exc}") from None
        reference = tags[0] if operation == TAG_DELETION else digest
        ctx.log(f"{operation}: {registry.url}/{target}{'@' if reference == digest else ':'}{reference}")
        try:
            async with PushClient(self._registries.endpoint(registry)) as client:
                if await client.delete_manifest(target, reference):
                    ctx.log(f"{target}:{reference} deleted on the destination")
                    return "deleted"
                ctx.log(f"{target}:{reference} is not on the destination, nothing to delete")
                return "not on the destination"
        except DeleteRefused as exc:
            ctx.log(f"failed: {exc}")
            raise JobFatal(str(exc)) from None
        except PushFailed as exc:
            ctx.log(f"failed: {exc}")
            raise JobFailed(str(exc)) from None

    # --- the REPLICATION webhook ------------------------------------------------------------------------

    async def task_ended(self, conn: AsyncConnection, task_id: int, status: str) -> None:
        """The REPLICATION task end hook: Harbor's REPLICATION event for the task, in its transaction. A
        database error rolls the ending back (to be tried again); anything else costs the webhook only."""
        try:
            await self._task_ended(conn, task_id, status)
        except DBAPIError:
            raise
        except Exception:
            log.exception("REPLICATION webhook event not recorded", task=task_id, status=status)

    async def _task_ended(self, conn: AsyncConnection, task_id: int, status: str) -> None:
        row = (await conn.execute(
            select(Task.id, Task.execution_id, Task.extra_attrs, Task.status_message, Task.kind,
                   Execution.trigger, Execution.start_time, Execution.vendor_id)
            .join(Execution, Execution.id == Task.execution_id).where(Task.id == task_id))).first()
        if row is None or row.kind != REPLICATION:
            return
        data = await conn.scalar(select(ReplicationPolicyRow.data).where(ReplicationPolicyRow.id == row.vendor_id))
        if data is None:
            return
        policy = load_policy(json.loads(data))
        destination = (await conn.execute(
            select(RemoteRegistry.name, RemoteRegistry.type, RemoteRegistry.url, RemoteRegistry.credential_type)
            .where(RemoteRegistry.id == policy.dest_registry_id))).first()
        extra = json.loads(row.extra_attrs or "{}")
        source, target = str(extra.get("src_resource") or ""), str(extra.get("dst_resource") or "")
        if destination is None or "/" not in source:
            return
        await self._events.record(conn, ReplicationStatusChanged(
            project=source.partition("/")[0], operator=row.trigger, replication=replication_data(
                status=status, policy=policy, destination=destination, trigger=row.trigger,
                started=row.start_time, source=source, target=target, local_endpoint=self.local_endpoint,
                message=row.status_message or "", execution_id=row.execution_id, task_id=row.id)))


def replication_data(
    *, status: str, policy: Policy, destination: Any, trigger: str, started: datetime, source: str, target: str,
    local_endpoint: str, message: str, execution_id: int, task_id: int,
) -> dict[str, Any]:
    """Harbor's event_data.replication for a push policy's task, but its harbor_hostname (pure). Empty
    fields are left out as Go's omitempty does; `references` is always there (null), as in Harbor."""
    source_namespace, _, source_name = source.partition("/")
    target_namespace = target.partition("/")[0]
    artifact = {"type": "artifact", "status": status, "name_tag": source_name, "references": None}
    if status == ERROR and message:
        artifact["fail_reason"] = message
    fields: dict[str, Any] = {
        "job_status": status, "description": policy.description, "artifact_type": "artifact",
        "authentication_type": destination.credential_type, "override_mode": policy.override,
        "trigger_type": trigger, "policy_creator": policy.creator,
        "execution_timestamp": int(started.timestamp()),
        "src_resource": _omit_empty({"registry_type": "harbor", "endpoint": local_endpoint,
                                     "namespace": source_namespace}, keep=("registry_type", "endpoint")),
        "dest_resource": _omit_empty({"registry_name": destination.name, "registry_type": destination.type,
                                      "endpoint": destination.url, "namespace": target_namespace},
                                     keep=("registry_type", "endpoint")),
        "successful_artifact": [artifact] if status == SUCCESS else None,
        "failed_artifact": [artifact] if status == ERROR else None,
        "execution_id": execution_id, "task_id": task_id,
    }
    return _omit_empty(fields)


def _omit_empty(fields: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value or key in keep}


# --- metrics ------------------------------------------------------------------------------------------


async def replication_gauges(conn: AsyncConnection) -> list[PolicyGauge]:
    """Per policy, from the executions (so every node reports the same):

    - lag, for an event-based policy: seconds since the oldest execution that has not (yet) succeeded
      completely among those started after the policy's last completely successful full run (manual or
      scheduled: it copies everything again); each event-based execution carries one local change,
      so this is the age of the oldest change not known to be on the destination; 0 when there is none.
    - lag, for a scheduled policy: seconds since the start of its last completely successful execution
      (everything older is on the destination; what changed since may not be), or since the policy was
      created when none succeeded yet.
    - none for a manual or a disabled policy: it promises nothing.

    Aggregate queries over the executions index only (vendor type, vendor id)."""
    rows = (await conn.execute(select(ReplicationPolicyRow.id, ReplicationPolicyRow.data,
                                      ReplicationPolicyRow.created_at))).all()
    if not rows:
        return []
    last_success = dict((await conn.execute(
        select(Execution.vendor_id, func.max(Execution.start_time))
        .where(Execution.vendor_type == REPLICATION, Execution.status == SUCCESS).group_by(Execution.vendor_id))).all())
    full = aliased(Execution)
    last_full = (select(func.max(full.start_time)).where(
        full.vendor_type == REPLICATION, full.vendor_id == Execution.vendor_id, full.status == SUCCESS,
        full.trigger != EVENT_BASED).scalar_subquery())
    oldest_pending = dict((await conn.execute(
        select(Execution.vendor_id, func.min(Execution.start_time))
        .where(Execution.vendor_type == REPLICATION, Execution.trigger == EVENT_BASED, Execution.status != SUCCESS,
               (last_full.is_(None)) | (Execution.start_time > last_full))
        .group_by(Execution.vendor_id))).all())
    tasks: dict[int, dict[str, int]] = {}
    for policy_id, status, count in await conn.execute(
            select(Execution.vendor_id, Task.status, func.count()).join(Task, Task.execution_id == Execution.id)
            .where(Execution.vendor_type == REPLICATION, Task.kind == REPLICATION)
            .group_by(Execution.vendor_id, Task.status)):
        tasks.setdefault(int(policy_id), {})[str(status)] = int(count)
    now = utcnow()
    gauges = []
    for policy_id, data, created_at in rows:
        policy = load_policy(json.loads(data))
        succeeded = last_success.get(policy_id)
        lag: float | None = None
        if policy.enabled and policy.trigger == "event_based":
            pending = oldest_pending.get(policy_id)
            lag = max(0.0, (now - _aware(pending)).total_seconds()) if pending is not None else 0.0
        elif policy.enabled and policy.trigger == "scheduled":
            lag = max(0.0, (now - _aware(succeeded or created_at)).total_seconds())
        gauges.append(PolicyGauge(policy.name, policy.trigger, lag,
                                  _aware(succeeded).timestamp() if succeeded else 0.0, tasks.get(policy_id, {})))
    return gauges


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; berth stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)
