"""Replication policies (Harbor's src/controller/replication): stored as berth.replication.policy's
JSON, name unique, the endpoint (a push policy's destination, a pull policy's source) a registry that
exists; an audit row for every change. Pull-based runs are berth.services.replication_pull's.

A run is an execution of vendor REPLICATION (vendor id: the policy). Its first task
(REPLICATION_LAUNCH, hidden from the task list) lists the local artifacts the filters take and adds
one REPLICATION task per artifact, which copies it (index children, blobs the target lacks, the
manifest, its tags, then its accessories: cosign tags and referrers) through berth.replication.push.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from berth.db.models import (
    Execution,
    Manifest,
    ManifestChild,
    Project,
    ProjectMetadata,
    RemoteRegistry,
    ReplicationPolicyRow,
    Repository,
    Tag,
    Task,
    TaskLog,
    utcnow,
)
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.jobs.kinds import JobContext, JobFailed, JobFatal, JobKind
from berth.jobs.store import JobStore
from berth.references import parse_digest
from berth.replication import ATTEMPTS, LAUNCH, REPLICATION
from berth.replication.adapters import HarborAdapter, PingFailed
from berth.replication.policy import (
    CHUNK_SIZE,
    Policy,
    PolicyInvalid,
    destination_projects,
    load_policy,
    replace_namespace,
)
from berth.replication.push import MountMemory, PushClient, PushFailed
from berth.services.blobs import BlobService
from berth.services.errors import BadRequest, Conflict, NotFound, PreconditionFailed, RegistryError
from berth.services.manifests import ManifestService
from berth.services.labels import LabelService
from berth.services.registries import RegistryEndpoint, RegistryService
from berth.services.replication_pull import PullReplication
from berth.services.schedules import ScheduleService
from berth.services.querying import conditions, orderings

#: cosign's accessory tags (`sha256-<hex>.sig`, `.att`, `.sbom`): copied with their subject, not on their own
ACCESSORY_TAG = re.compile(r"sha256-[0-9a-f]{64}\.(?:sig|att|sbom)")
_KEYS = {"name": ReplicationPolicyRow.name}
_SORTS = {**_KEYS, "id": ReplicationPolicyRow.id, "creation_time": ReplicationPolicyRow.created_at,
          "update_time": ReplicationPolicyRow.updated_at}


@dataclass(slots=True)
class _Copied:
    """What one task pushed and skipped."""

    blobs: int = 0
    skipped: int = 0
    manifests: int = 0
    done: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    id: int
    policy_id: int
    status: str
    status_message: str
    trigger: str
    start_time: datetime
    end_time: datetime | None
    #: REPLICATION task status -> count
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    policy: Policy
    created_at: datetime
    updated_at: datetime


class ReplicationService:
    def __init__(
        self, db: Database, events: EventBus, jobs: JobStore, schedules: ScheduleService, registries: RegistryService,
        manifests: ManifestService, blobs: BlobService,
    ) -> None:
        self._schedules = schedules
        self._db = db
        self._events = events
        self._jobs = jobs
        self._registries = registries
        self._manifests = manifests
        self._blobs = blobs
        #: pull-based runs (the registry sets it)
        self.pull: PullReplication | None = None
        #: copy_by_chunk's chunk size (Harbor's REPLICATION_CHUNK_SIZE)
        self.chunk_size = CHUNK_SIZE
        #: which destination repository got which blob: the next one mounts it (best effort)
        self._mounts = MountMemory()

    async def list(
        self, q: str | None, sort: str | None, offset: int, limit: int, name: str | None = None,
    ) -> tuple[list[PolicyRecord], int]:
        query: Select = select(ReplicationPolicyRow).where(*conditions(q, _KEYS))
        if name:  # the older `name` parameter: a fuzzy match, as Harbor keeps it
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(ReplicationPolicyRow.name.like(f"%{escaped}%", escape="\\"))
        async with self._db.read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await conn.execute(query.order_by(
                *orderings(sort, _SORTS, [ReplicationPolicyRow.created_at, ReplicationPolicyRow.id]))
                .offset(offset).limit(limit))
            return [_record(row) for row in rows], total

    async def get(self, policy_id: int) -> PolicyRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id))).first()
        if row is None:
            raise NotFound(f"policy {policy_id} not found")
        return _record(row)

    async def create(self, policy: Policy) -> int:
        await self._check_source(policy)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                await self._check(conn, policy, None)
                policy_id = int(await conn.scalar(self._db.insert(ReplicationPolicyRow).values(
                    name=policy.name, dest_registry_id=policy.registry_id, data=json.dumps(policy.as_json()),
                    created_at=now, updated_at=now,
                ).returning(ReplicationPolicyRow.id)))
                await self._schedule(conn, policy_id, policy)
                await self._audit(conn, "create", policy.name)
        except IntegrityError:  # a concurrent create with the same name won
            raise _taken(policy.name) from None
        return policy_id

    async def update(self, policy_id: int, policy: Policy) -> None:
        await self.get(policy_id)
        await self._check_source(policy)
        try:
            async with self._db.write() as conn:
                await self._check(conn, policy, policy_id)
                changed = await conn.execute(update(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id)
                                             .values(name=policy.name, dest_registry_id=policy.registry_id,
                                                     data=json.dumps(policy.as_json()), updated_at=utcnow()))
                if changed.rowcount != 1:
                    raise NotFound(f"policy {policy_id} not found")
                await self._schedule(conn, policy_id, policy)
                await self._audit(conn, "update", policy.name)
        except IntegrityError:
            raise _taken(policy.name) from None

    async def delete(self, policy_id: int) -> None:
        record = await self.get(policy_id)
        async with self._db.read() as conn:
            running = await conn.scalar(select(Execution.id).where(
                Execution.vendor_type == REPLICATION, Execution.vendor_id == policy_id, Execution.status == "Running"))
        if running is not None:  # Harbor's 412
            raise PreconditionFailed(f"the policy {policy_id} has running executions, stop them first")
        async with self._db.write() as conn:
            await conn.execute(delete(ReplicationPolicyRow).where(ReplicationPolicyRow.id == policy_id))
            await self._schedules.put(conn, REPLICATION, policy_id, "Custom", None, LAUNCH, {})
            await conn.execute(delete(Execution).where(
                Execution.vendor_type == REPLICATION, Execution.vendor_id == policy_id))
            await self._audit(conn, "delete", record.policy.name)

    async def _schedule(self, conn: AsyncConnection, policy_id: int, policy: Policy) -> None:
        """A scheduled trigger's cron on berth's schedules (none for a manual one: the schedule goes)."""
        cron = policy.cron if policy.trigger == "scheduled" else None
        await self._schedules.put(conn, REPLICATION, policy_id, "Custom", cron, LAUNCH, {"policy_id": policy_id})

    async def using_registry(self, registry_id: int) -> list[str]:
        """The names of the policies replicating with the registry (Harbor refuses its deletion: 412)."""
        async with self._db.read() as conn:
            return list((await conn.execute(select(ReplicationPolicyRow.name).where(
                ReplicationPolicyRow.dest_registry_id == registry_id).order_by(ReplicationPolicyRow.id))).scalars())

    # --- executions ----------------------------------------------------------------------------------

    async def start(self, policy_id: int, operator: str, trigger: str = "MANUAL") -> int:
        """Run the policy now (Harbor refuses a disabled one: 400); returns the execution id."""
        record = await self.get(policy_id)
        if not record.policy.enabled:
            raise BadRequest(f"the policy {policy_id} is disabled")
        async with self._db.write() as conn:
            execution_id = await self._jobs.create_execution(conn, REPLICATION, policy_id, trigger, {"operator": operator})
            await self._jobs.create_task(conn, execution_id, LAUNCH, {"policy_id": policy_id}, max_attempts=1)
        self._jobs.notify()
        return execution_id

    async def execution(self, execution_id: int) -> ExecutionRow:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Execution).where(
                Execution.id == execution_id, Execution.vendor_type == REPLICATION))).first()
            if row is None:
                raise NotFound(f"execution {execution_id} not found")
            counts = dict((await conn.execute(select(Task.status, func.count()).where(
                Task.execution_id == execution_id, Task.kind == REPLICATION).group_by(Task.status))).all())
        return ExecutionRow(row.id, row.vendor_id, row.status, row.status_message, row.trigger, row.start_time,
                            row.end_time, {str(k): int(v) for k, v in counts.items()})

    async def executions(
        self, policy_id: int | None, status: str | None, trigger: str | None, offset: int, limit: int,
    ) -> tuple[list[ExecutionRow], int]:
        query = select(Execution.id).where(Execution.vendor_type == REPLICATION)
        if policy_id is not None:
            query = query.where(Execution.vendor_id == policy_id)
        if status:
            query = query.where(Execution.status == status)
        if trigger:  # as the API shows it ("event_based"), or as stored ("EVENT_BASED")
            query = query.where(Execution.trigger == trigger.upper())
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            ids = (await conn.execute(query.order_by(Execution.id.desc()).offset(offset).limit(limit))).scalars().all()
        return [await self.execution(i) for i in ids], total

    async def stop(self, execution_id: int) -> None:
        await self.execution(execution_id)
        await self._jobs.stop_execution(execution_id)

    async def tasks(self, execution_id: int, status: str | None, offset: int, limit: int) -> tuple[list[Any], int]:
        await self.execution(execution_id)
        query = select(Task).where(Task.execution_id == execution_id, Task.kind == REPLICATION)
        if status:
            query = query.where(Task.status == status)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(Task.id).offset(offset).limit(limit))).all()
        return list(rows), total

    async def task_log(self, execution_id: int, task_id: int) -> str:
        await self.execution(execution_id)
        async with self._db.read() as conn:
            found = await conn.scalar(select(Task.id).where(
                Task.id == task_id, Task.execution_id == execution_id, Task.kind == REPLICATION))
            if found is None:
                raise NotFound(f"task {task_id} not found")
            lines = (await conn.execute(
                select(TaskLog.line).where(TaskLog.task_id == task_id).order_by(TaskLog.id))).scalars().all()
        return "".join(line + "\n" for line in lines)

    # --- the jobs -------------------------------------------------------------------------------------

    async def launch(self, ctx: JobContext) -> str:
        """REPLICATION_LAUNCH: one REPLICATION task per local artifact the filters take (`_selected`),
        after the destination is prepared (`_prepare_destination`)."""
        policy_id = ctx.parameters.get("policy_id")
        async with self._db.read() as conn:
            data = await conn.scalar(select(ReplicationPolicyRow.data).where(ReplicationPolicyRow.id == policy_id))
        if data is None:
            raise JobFatal(f"replication policy {policy_id} no longer exists")
        policy = load_policy(json.loads(data))
        if not policy.enabled:  # a schedule's tick while the policy is disabled
            ctx.log(f"policy {policy.name} is disabled, nothing replicated")
            return "the policy is disabled"
        if policy.pull:
            return await self._puller().launch(ctx, int(policy_id), policy)
        try:
            registry = await self._registries.get(policy.dest_registry_id)
        except NotFound:
            raise JobFatal(f"the destination registry {policy.dest_registry_id} no longer exists") from None
        artifacts = await self._selected(policy)
        ctx.log(f"policy {policy.name}: {len(artifacts)} artifact(s) selected")
        problems, tasks = 0, []
        for (repository, digest), tags in artifacts.items():
            try:
                tasks.append(copy_task(policy_id, policy, repository, digest, tags))
            except PolicyInvalid as exc:
                ctx.log(f"{repository}@{digest}: {exc}")
                problems += 1
        try:
            skipped = await self._prepare_destination(ctx, registry, [(p["repository"], p["target"]) for p, _ in tasks])
        except PingFailed as exc:
            ctx.log(f"preparing the destination failed: {exc.reason}")
            raise JobFailed(f"preparing the destination failed: {exc.reason}") from None
        tasks = [(p, attrs) for p, attrs in tasks if str(p["target"]).split("/", 1)[0] not in skipped]
        async with self._db.write() as conn:
            for parameters, attrs in tasks:
                await self._jobs.create_task(conn, ctx.execution_id, REPLICATION, parameters,
                                             max_attempts=ATTEMPTS, extra_attrs=attrs)
        self._jobs.notify()
        if problems:
            raise JobFatal(f"{problems} artifact(s) cannot be placed on the destination (see the log)")
        return f"{len(tasks)} artifact(s) queued"

    async def _selected(self, policy: Policy) -> dict[tuple[str, str], list[str]]:
        """(repository, digest) -> the tags to replicate, of the local artifacts the policy's filters
        take, as Harbor's filters decide: a tagged artifact with the tags the tag filter takes (cosign
        accessory tags go with their subject), an untagged one (copied by digest) when the tag filter
        takes the empty tag; an index's children and referrers travel with their parent or subject."""
        untagged = policy.selected_tags(()) is not None
        async with self._db.read() as conn:
            rows = (await conn.execute(
                select(Repository.name, Manifest.digest, Tag.name.label("tag"), Manifest.id, Manifest.type)
                .join(Tag, Tag.repository_id == Repository.id).join(Manifest, Manifest.id == Tag.manifest_id)
                .order_by(Repository.name, Manifest.digest, Tag.name))).all()
            if untagged:
                rows += (await conn.execute(_untagged_roots())).all()
        found: dict[tuple[str, str], tuple[int, list[str]]] = {}
        for row in rows:
            if (row.tag and ACCESSORY_TAG.fullmatch(row.tag)) or not policy.takes_repository(row.name) \
                    or not policy.takes_kind(row.type):
                continue
            _, tags = found.setdefault((row.name, row.digest), (row.id, []))
            if row.tag:
                tags.append(row.tag)
        if policy.label_filter:  # Harbor's label filter: the artifact's labels (berth's labels service)
            labels = await LabelService(self._db).of_artifacts(list({manifest_id for manifest_id, _ in found.values()}))
            found = {key: (manifest_id, tags) for key, (manifest_id, tags) in found.items()
                     if policy.takes_labels({label.name for label in labels[manifest_id]})}
        return {key: taken for key, (_, tags) in found.items() if (taken := policy.selected_tags(tags)) is not None}

    async def _prepare_destination(
        self, ctx: JobContext, registry: RegistryEndpoint, placements: list[tuple[str, str]],
    ) -> set[str]:
        """For a `harbor` destination, Harbor's PrepareForPush: the destination projects that are missing
        are created through its API, public when every local project landing in one is; returns the
        destination projects nothing is pushed into (proxy caches there). Other registry types have
        no projects: nothing to do."""
        if registry.type != "harbor" or not placements:
            return set()
        async with self._db.read() as conn:
            public = {name: value == "true" for name, value in await conn.execute(
                select(Project.name, ProjectMetadata.value).join(ProjectMetadata, ProjectMetadata.project_id == Project.id)
                .where(ProjectMetadata.name == "public",
                       Project.name.in_({repository.split("/", 1)[0] for repository, _ in placements})))}
        wanted = destination_projects(placements, public)
        async with self._registries.adapter(registry) as adapter:
            if not isinstance(adapter, HarborAdapter):
                return set()
            created, proxies = await adapter.prepare_for_push(wanted)
        for name in created:
            ctx.log(f"project {name} created on the destination ({'public' if wanted[name] else 'private'})")
        for name in sorted(proxies):
            ctx.log(f"project {name} is a proxy cache on the destination: nothing is replicated into it")
        return proxies

    async def copy(self, ctx: JobContext) -> str:
        """REPLICATION: copy one artifact with its children, blobs, tags and accessories."""
        if "source_registry_id" in ctx.parameters:
            return await self._puller().copy(ctx)
        try:
            p = ctx.parameters
            repository, digest, target = str(p["repository"]), str(p["digest"]), str(p["target"])
            tags, override, speed = [str(t) for t in p["tags"]], bool(p["override"]), int(p["speed"])
            chunk_size = self.chunk_size if p.get("chunk") else 0
            registry = await self._registries.get(int(p["registry_id"]))
        except (KeyError, TypeError, ValueError, NotFound) as exc:
            raise JobFatal(f"cannot run: {exc}") from None
        ctx.log(f"copying {repository}@{digest} to {registry.url}/{target}")
        if p.get("prepare"):  # an event's task: no launch prepared the destination
            try:
                if await self._prepare_destination(ctx, registry, [(repository, target)]):
                    return "the destination project is a proxy cache: skipped"
            except PingFailed as exc:
                ctx.log(f"failed: preparing the destination: {exc.reason}")
                raise JobFailed(f"preparing the destination failed: {exc.reason}") from None
        copied = _Copied()
        try:
            async with PushClient(self._registries.endpoint(registry), speed, mounts=self._mounts) as client:
                if not tags:  # an untagged artifact: by digest
                    await self._copy_manifest(ctx, client, repository, digest, target, copied, chunk_size)
                    ctx.log(f"untagged {digest} copied by digest")
                for tag in tags:
                    existing = await client.has_manifest(target, tag)
                    if existing and existing != digest and not override:
                        ctx.log(f"tag {tag}: the destination has {existing} and override is off, skipped")
                        continue
                    if digest in copied.done:  # a second tag of the artifact: the manifest under it too
                        record = await self._manifests.get(repository, digest)
                        await client.put_manifest(target, tag, record.media_type, record.content)
                    else:  # its children and blobs, then the manifest under the tag (one PUT, not two)
                        await self._copy_manifest(ctx, client, repository, digest, target, copied, chunk_size,
                                                  reference=tag)
                    ctx.log(f"tag {tag} -> {digest}")
                for accessory_digest, accessory_tag in await self._accessories(repository, digest):
                    await self._copy_manifest(ctx, client, repository, accessory_digest, target, copied, chunk_size)
                    if accessory_tag:
                        record = await self._manifests.get(repository, accessory_digest)
                        await client.put_manifest(target, accessory_tag, record.media_type, record.content)
                    ctx.log(f"accessory {accessory_tag or accessory_digest} copied")
        except PushFailed as exc:
            ctx.log(f"failed: {exc}")
            raise JobFailed(str(exc)) from None
        except RegistryError as exc:
            raise JobFatal(f"the source changed: {exc}") from None
        ctx.log(f"done: {copied.blobs} blob(s) pushed, {copied.skipped} the destination had, "
                f"{copied.manifests} manifest(s)")
        return f"{copied.blobs} blobs pushed, {copied.skipped} skipped"

    async def _copy_manifest(
        self, ctx: JobContext, client: PushClient, repository: str, digest: str, target: str, copied: _Copied,
        chunk_size: int = 0, reference: str | None = None,
    ) -> None:
        """The manifest by digest (or under `reference`, a tag), after its children (an index) or blobs
        (an image) are there."""
        if digest in copied.done:
            return
        record = await self._manifests.get(repository, digest)
        document = json.loads(record.content)
        for child in document.get("manifests") or []:
            await self._copy_manifest(ctx, client, repository, str(child["digest"]), target, copied, chunk_size)
        for blob in [document["config"]] if isinstance(document.get("config"), dict) else []:
            await self._copy_blob(ctx, client, target, blob, copied, chunk_size)
        for blob in document.get("layers") or []:
            await self._copy_blob(ctx, client, target, blob, copied, chunk_size)
        await client.put_manifest(target, reference or digest, record.media_type, record.content)
        copied.manifests += 1
        copied.done.add(digest)

    async def _copy_blob(
        self, ctx: JobContext, client: PushClient, target: str, blob: dict[str, Any], copied: _Copied,
        chunk_size: int = 0,
    ) -> None:
        digest, size = str(blob["digest"]), int(blob["size"])
        if digest in copied.done:
            return
        if await client.has_blob(target, digest):
            copied.skipped += 1
            ctx.log(f"blob {digest}: the destination has it, skipped")
        elif chunk_size:
            parsed = parse_digest(digest)
            requests = await client.push_blob_in_chunks(
                target, digest, size, lambda offset, length: self._blobs.read(parsed, offset, length), chunk_size)
            copied.blobs += 1
            ctx.log(f"blob {digest}: pushed ({size} bytes in {requests} request(s) of at most {chunk_size} bytes)")
        else:
            how = await client.push_blob(target, digest, size, self._blobs.read(parse_digest(digest)))
            copied.blobs += 1
            ctx.log(f"blob {digest}: {how} ({size} bytes)")
        copied.done.add(digest)

    async def _accessories(self, repository: str, digest: str) -> list[tuple[str, str]]:
        """(digest, tag) of the artifact's cosign tags, then (digest, "") of its referrers."""
        found: list[tuple[str, str]] = []
        prefix = digest.replace(":", "-")
        async with self._db.read() as conn:
            for tag, tagged in await conn.execute(
                    select(Tag.name, Manifest.digest).join(Manifest, Manifest.id == Tag.manifest_id)
                    .join(Repository, Repository.id == Tag.repository_id)
                    .where(Repository.name == repository, Tag.name.like(f"{prefix}.%")).order_by(Tag.name)):
                found.append((tagged, tag))
        page = await self._manifests.referrers(repository, parse_digest(digest), None)
        found.extend((str(d["digest"]), "") for d in page.items if all(str(d["digest"]) != f for f, _ in found))
        return found

    async def _check(self, conn: AsyncConnection, policy: Policy, policy_id: int | None) -> None:
        query = select(ReplicationPolicyRow.id).where(ReplicationPolicyRow.name == policy.name)
        if policy_id is not None:
            query = query.where(ReplicationPolicyRow.id != policy_id)
        if await conn.scalar(query) is not None:
            raise _taken(policy.name)
        if await conn.scalar(select(RemoteRegistry.id).where(RemoteRegistry.id == policy.registry_id)) is None:
            raise BadRequest(f"registry {policy.registry_id} not found")

    async def _check_source(self, policy: Policy) -> None:
        """A pull policy's filters against what its source offers (400 when it does not)."""
        if policy.pull and self.pull is not None:
            try:
                await self.pull.check(policy)
            except PolicyInvalid as exc:
                raise BadRequest(str(exc)) from None

    def _puller(self) -> PullReplication:
        if self.pull is None:
            raise JobFatal("pull-based replication is not set up in this process")
        return self.pull

    async def _audit(self, conn: AsyncConnection, operation: str, name: str) -> None:
        await self._events.record(conn, ResourceChanged(
            resource_type="replication_policy", operation=operation, resource=name))


def copy_task(
    policy_id: int, policy: Policy, repository: str, digest: str, tags: list[str], operation: str = "copy",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters, extra attributes) of the REPLICATION task that copies (or, with operation
    "deletion" / "tag deletion", deletes on the destination) one artifact; PolicyInvalid when the
    repository cannot be placed on the destination (pure)."""
    target = replace_namespace(repository, policy.dest_namespace, policy.dest_namespace_replace_count)
    parameters = {
        "policy_id": policy_id, "registry_id": policy.dest_registry_id, "repository": repository,
        "digest": digest, "tags": tags, "target": target, "override": policy.override, "speed": policy.speed,
        "chunk": policy.copy_by_chunk,
    }
    attrs = {"src_resource": f"{repository}:[{','.join(tags)}]", "dst_resource": f"{target}:[{','.join(tags)}]"}
    if operation != "copy":
        parameters["operation"] = attrs["operation"] = operation
    return parameters, attrs


def _untagged_roots() -> Select:
    """(name, digest, id, type, tag "") of the local artifacts without a tag that Harbor lists on their
    own: neither a child of an index in their repository nor an accessory (a referrer)."""
    parent = aliased(Manifest)
    child = exists().where(ManifestChild.child_digest == Manifest.digest, ManifestChild.manifest_id == parent.id,
                           parent.repository_id == Manifest.repository_id)
    return (select(Repository.name, Manifest.digest, literal_column("''").label("tag"), Manifest.id, Manifest.type)
            .join(Manifest, Manifest.repository_id == Repository.id)
            .where(~exists().where(Tag.manifest_id == Manifest.id), Manifest.subject_digest.is_(None), ~child)
            .order_by(Repository.name, Manifest.digest))


def _taken(name: str) -> Conflict:
    return Conflict(f"policy {name[:300]} already exists")


def _record(row: Any) -> PolicyRecord:
    return PolicyRecord(row.id, load_policy(json.loads(row.data)), row.created_at, row.updated_at)


def replication_job_kinds() -> list[JobKind]:
    async def launch(ctx: JobContext) -> str:
        return await ctx.services.replication.launch(ctx)

    async def copy(ctx: JobContext) -> str:
        if ctx.parameters.get("operation", "copy") != "copy":  # an event-based policy's deletion
            return await ctx.services.replication_events.delete(ctx)
        return await ctx.services.replication.copy(ctx)

    return [JobKind(LAUNCH, launch, 1), JobKind(REPLICATION, copy, ATTEMPTS)]
