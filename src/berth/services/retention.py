"""Tag retention: policies (one per project, its `retention_id` metadata pointing at it), their cron
schedule, and their runs on the durable job system.

A run is an execution of vendor RETENTION (vendor id: the policy). Its first task (RETENTION_LAUNCH,
hidden from Harbor's task list) takes a snapshot of the policy and adds one RETENTION task per
repository that an enabled rule's scope takes, as Harbor's launcher does; each of those decides
(berth.retention.evaluate) and then, unless it is a dry run, deletes through the registry's normal
artifact delete path, so events, audit rows, quotas and accessories go as for a user's delete.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import (
    ArtifactLabel,
    Execution,
    Label,
    Manifest,
    ManifestChild,
    Project,
    ProjectMetadata,
    Repository,
    RetentionPolicyRow,
    Tag,
    Task,
    TaskLog,
    utcnow,
)
from berth.db.session import Database
from berth.events.actor import SYSTEM
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged, TagRetentionFinished
from berth.jobs.kinds import JobContext, JobFatal, JobKind
from berth.jobs.store import JobStore
from berth.retention.evaluate import ERROR, Candidate, Decision, Outcome, evaluate_retention, log_table, rules_for
from berth.retention.policy import Policy, PolicyInvalid, Rule, RulesConflict, load_policy, parse_policy, parse_rule
from berth.services.artifacts import ArtifactService
from berth.services.errors import BadRequest, Conflict, NotFound, RegistryError, ServiceError
from berth.services.immutability import ImmutabilityService
from berth.services.schedules import ScheduleService

log = structlog.get_logger("berth.retention")

RETENTION = "RETENTION"
LAUNCH = "RETENTION_LAUNCH"
METADATA_KEY = "retention_id"
#: Harbor's retention job: MaxFails 3, but ShouldRetry false (one attempt)
ATTEMPTS = 1

#: (project id, repository, [(digest, tags)]) -> the digests an immutability rule protects
ImmutableCheck = Callable[[int, str, Sequence[tuple[str, Sequence[str]]]], Awaitable[Collection[str]]]


async def no_immutable_rules(project_id: int, repository: str, artifacts: Sequence[tuple[str, Sequence[str]]]) -> set[str]:
    """Nothing is protected (a registry without immutability rules, unit tests)."""
    return set()


def immutable_by_rules(immutability: ImmutabilityService) -> ImmutableCheck:
    """The project's tag immutability rules decide: an artifact with an immutable tag is immutable
    (Harbor's performer asks its rule matcher with all the candidate's tags)."""

    async def check(project_id: int, repository: str, artifacts: Sequence[tuple[str, Sequence[str]]]) -> set[str]:
        rules = await immutability.rules(project_id)
        if not rules:
            return set()
        return {digest for digest, tags in artifacts if rules.immutable_tags(repository, tags)}

    return check


@dataclass(frozen=True, slots=True)
class RetentionExecution:
    id: int
    policy_id: int
    status: str
    trigger: str
    dry_run: bool
    operator: str
    start_time: datetime
    end_time: datetime | None


@dataclass(frozen=True, slots=True)
class RetentionTask:
    id: int
    execution_id: int
    repository: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    total: int
    retained: int


def checked(check: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> Any:
    """`check(body)` with retention/policy.py's refusals as Harbor's errors: two equal rules are a
    conflict (409), anything else wrong a 400 saying what."""
    try:
        return check(body)
    except RulesConflict as exc:
        raise Conflict(str(exc)) from None
    except PolicyInvalid as exc:
        raise BadRequest(str(exc)) from None


class RetentionService:
    def __init__(
        self, db: Database, jobs: JobStore, schedules: ScheduleService, artifacts: ArtifactService, events: EventBus,
        immutable: ImmutableCheck = no_immutable_rules,
    ) -> None:
        self._db = db
        self._jobs = jobs
        self._schedules = schedules
        self._artifacts = artifacts
        self._events = events
        #: wired to the immutability rules by the registry
        self.immutable = immutable

    # --- policies ----------------------------------------------------------------------------------

    async def get(self, policy_id: int) -> Policy:
        async with self._db.read() as conn:
            data = await conn.scalar(select(RetentionPolicyRow.data).where(RetentionPolicyRow.id == policy_id))
        if data is None:
            raise NotFound(f"no such Retention policy with id {policy_id}")
        return load_policy(policy_id, data)

    async def project_policy_id(self, project_id: int) -> str | None:
        """The project's `retention_id` metadata, as Harbor keeps it."""
        async with self._db.read() as conn:
            return await conn.scalar(select(ProjectMetadata.value).where(
                ProjectMetadata.project_id == project_id, ProjectMetadata.name == METADATA_KEY))

    async def create(self, body: dict[str, Any], project_name: str) -> int:
        """Store a validated policy, point the project's `retention_id` at it and schedule it, in one
        transaction: a refused policy stores nothing."""
        policy = parse_policy(body)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(ProjectMetadata.value).where(
                        ProjectMetadata.project_id == policy.project_id, ProjectMetadata.name == METADATA_KEY)):
                    raise _already(policy.project_id)
                policy_id = int(await conn.scalar(self._db.insert(RetentionPolicyRow).values(
                    project_id=policy.project_id, data="{}", created_at=now, updated_at=now,
                ).returning(RetentionPolicyRow.id)))
                policy = policy.with_id(policy_id)
                await conn.execute(update(RetentionPolicyRow).where(RetentionPolicyRow.id == policy_id)
                                   .values(data=json.dumps(policy.as_json())))
                await conn.execute(self._db.insert(ProjectMetadata).values(
                    project_id=policy.project_id, name=METADATA_KEY, value=str(policy_id)))
                await self._schedule(conn, policy)
                await self._events.record(conn, _changed("create", policy, project_name))
        except IntegrityError:  # a concurrent create for the same project won
            raise _already(policy.project_id) from None
        log.info("retention policy created", policy=policy_id, project=project_name)
        return policy_id

    async def update(self, policy_id: int, body: dict[str, Any], project_name: str) -> None:
        """Replace the policy (its scope stays its project's) and its schedule."""
        current = await self.get(policy_id)
        policy = parse_policy(body, policy_id)
        if policy.project_id != current.project_id:
            raise BadRequest("the scope of a retention policy cannot move to another project")
        async with self._db.write() as conn:
            changed = await conn.execute(update(RetentionPolicyRow).where(RetentionPolicyRow.id == policy_id)
                                         .values(data=json.dumps(policy.as_json()), updated_at=utcnow()))
            if changed.rowcount != 1:
                raise NotFound(f"no such Retention policy with id {policy_id}")
            await self._schedule(conn, policy)
            await self._events.record(conn, _changed("update", policy, project_name))

    async def delete(self, policy_id: int, project_name: str) -> None:
        """Delete the policy with its schedule and executions, and clear the project's `retention_id`."""
        policy = await self.get(policy_id)
        async with self._db.write() as conn:
            await conn.execute(delete(RetentionPolicyRow).where(RetentionPolicyRow.id == policy_id))
            await conn.execute(delete(ProjectMetadata).where(
                ProjectMetadata.project_id == policy.project_id, ProjectMetadata.name == METADATA_KEY,
                ProjectMetadata.value == str(policy_id)))
            await self._schedules.put(conn, RETENTION, policy_id, "Custom", None, LAUNCH, {})
            await conn.execute(delete(Execution).where(
                Execution.vendor_type == RETENTION, Execution.vendor_id == policy_id))
            await self._events.record(conn, _changed("delete", policy, project_name))

    async def _schedule(self, conn: Any, policy: Policy) -> None:
        await self._schedules.put(conn, RETENTION, policy.id, "Custom", policy.cron or None, LAUNCH,
                                  {"policy_id": policy.id, "dry_run": False})

    # --- executions ----------------------------------------------------------------------------------

    async def trigger(self, policy_id: int, dry_run: bool, operator: str, trigger: str = "MANUAL") -> int:
        """Start a run now; returns its execution id."""
        await self.get(policy_id)
        async with self._db.write() as conn:
            execution_id = await self._jobs.create_execution(
                conn, RETENTION, policy_id, trigger, {"dry_run": dry_run, "operator": operator})
            await self._jobs.create_task(conn, execution_id, LAUNCH, {"policy_id": policy_id, "dry_run": dry_run},
                                         max_attempts=ATTEMPTS)
        self._jobs.notify()
        log.info("retention run queued", policy=policy_id, execution=execution_id, dry_run=dry_run)
        return execution_id

    async def executions(self, policy_id: int, offset: int, limit: int) -> tuple[list[RetentionExecution], int]:
        query = select(Execution).where(Execution.vendor_type == RETENTION, Execution.vendor_id == policy_id)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(Execution.id.desc()).offset(offset).limit(limit))).all()
        return [_execution(row) for row in rows], total

    async def execution(self, policy: Policy, execution_id: int) -> RetentionExecution:
        """The policy's execution (Harbor's requireExecutionInProject: another's is a 404)."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Execution).where(Execution.id == execution_id))).first()
        if row is None or row.vendor_type != RETENTION or row.vendor_id != policy.id:
            raise NotFound(f"project: {policy.project_id}, execution id {execution_id} not found")
        return _execution(row)

    async def stop(self, policy: Policy, execution_id: int) -> None:
        await self.execution(policy, execution_id)
        await self._jobs.stop_execution(execution_id)

    async def tasks(self, execution_id: int, offset: int, limit: int) -> tuple[list[RetentionTask], int]:
        query = select(Task).where(Task.execution_id == execution_id, Task.kind == RETENTION)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(Task.id).offset(offset).limit(limit))).all()
        return [_task(row) for row in rows], total

    async def task_log(self, policy: Policy, execution_id: int, task_id: int) -> str:
        await self.execution(policy, execution_id)
        async with self._db.read() as conn:
            found = await conn.scalar(select(Task.id).where(
                Task.id == task_id, Task.execution_id == execution_id, Task.kind == RETENTION))
            if found is None:
                raise NotFound(f"project: {policy.project_id}, execution id {execution_id} not found")
            lines = (await conn.execute(
                select(TaskLog.line).where(TaskLog.task_id == task_id).order_by(TaskLog.id))).scalars().all()
        return "".join(line + "\n" for line in lines)

    # --- the jobs -------------------------------------------------------------------------------------

    async def launch(self, ctx: JobContext) -> str:
        """RETENTION_LAUNCH: one RETENTION task per repository an enabled rule takes, each with the
        rules that take it (a snapshot: editing the policy meanwhile changes nothing in this run)."""
        policy_id, dry_run = _int(ctx.parameters.get("policy_id")), ctx.parameters.get("dry_run") is True
        async with self._db.read() as conn:
            data = await conn.scalar(select(RetentionPolicyRow.data).where(RetentionPolicyRow.id == policy_id))
            extra = await conn.scalar(select(Execution.extra_attrs).where(Execution.id == ctx.execution_id))
        if data is None:
            # the policy went (its project was deleted): its schedule goes too
            async with self._db.write() as conn:
                await self._schedules.put(conn, RETENTION, policy_id, "Custom", None, LAUNCH, {})
            raise JobFatal(f"retention policy {policy_id} no longer exists")
        policy = load_policy(policy_id, data)
        attrs = json.loads(extra or "{}")
        if "dry_run" not in attrs:  # a scheduled run: the scheduler knows nothing of retention
            async with self._db.write() as conn:
                await conn.execute(update(Execution).where(Execution.id == ctx.execution_id).values(
                    extra_attrs=json.dumps({**attrs, "dry_run": dry_run, "operator": SYSTEM.name})))
        async with self._db.read() as conn:
            namespace = await conn.scalar(select(Project.name).where(Project.id == policy.project_id))
            repositories = (await conn.execute(select(Repository.name).where(
                Repository.project_id == policy.project_id).order_by(Repository.name))).scalars().all()
        ctx.log(f"policy {policy_id} of project {namespace}: {len(policy.rules)} rule(s), dry run: {dry_run}")
        queued = 0
        async with self._db.write() as conn:
            for full in repositories:
                name = full.partition("/")[2]
                rules = rules_for(policy, name, namespace or "")
                if not rules:
                    continue
                await self._jobs.create_task(conn, ctx.execution_id, RETENTION, {
                    "policy_id": policy_id, "repository": full, "dry_run": dry_run,
                    "rules": [rule.as_json() for rule in rules],
                }, max_attempts=ATTEMPTS, extra_attrs={"repository": name, "dry_run": dry_run})
                queued += 1
        self._jobs.notify()
        ctx.log(f"{queued} of {len(repositories)} repositories queued")
        return "no resources for retention" if not queued else f"{queued} repositories queued"

    async def run_repository(self, ctx: JobContext) -> str:
        """RETENTION: decide what one repository keeps, then (unless a dry run) delete the rest."""
        try:
            repository = str(ctx.parameters["repository"])
            dry_run = ctx.parameters.get("dry_run") is True
            policy_id = _int(ctx.parameters.get("policy_id"))
            rules = [parse_rule(n, raw) for n, raw in enumerate(ctx.parameters.get("rules") or [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise JobFatal(f"malformed retention parameters: {exc}") from None
        namespace, _, name = repository.partition("/")
        ctx.log(f"Run retention process. Repository: {repository}, Rule Algorithm: or, Dry Run: {dry_run}")
        candidates, listed_elsewhere, project_id = await self.candidates(repository)
        ctx.log(f"Load {len(candidates)} candidates from repository {repository}")
        immutable = await self.immutable(project_id, repository, [(c.digest, c.tags) for c in candidates]) \
            if candidates and project_id is not None else set()
        outcome = evaluate_retention(rules, candidates, datetime.now(UTC), immutable, listed_elsewhere)
        if not dry_run:
            outcome = await self._apply(repository, outcome)
        for line in log_table(outcome):
            ctx.log(line)
        for decision in outcome.decisions:
            if decision.action == ERROR:
                ctx.log(f"Retention error for artifact image:{namespace}/{name}:{decision.candidate.digest} : "
                        f"{decision.reason}")
        ctx.extra_attrs.update(total=outcome.total, retained=outcome.retained)
        if not dry_run and outcome.deleted:
            await self._tell(ctx.execution_id, policy_id, namespace, outcome)
        verb = "would delete" if dry_run else "deleted"
        return f"{outcome.total} candidates, {outcome.retained} retained, {len(outcome.deleted)} {verb}"

    async def _apply(self, repository: str, outcome: Outcome) -> Outcome:
        """Delete what the outcome says goes, in its order; a delete that fails keeps its artifact (ERR)."""
        failed: dict[int, str] = {}
        for candidate in outcome.deleted:
            try:
                await self._artifacts.delete(repository, candidate.digest)
            except (ServiceError, RegistryError) as exc:
                failed[candidate.id] = str(exc) or type(exc).__name__
        if not failed:
            return outcome
        return Outcome([Decision(d.candidate, ERROR, failed[d.candidate.id]) if d.candidate.id in failed else d
                        for d in outcome.decisions])

    async def _tell(self, execution_id: int, policy_id: int, namespace: str, outcome: Outcome) -> None:
        """TAG_RETENTION, with Harbor's payload (handler/webhook/artifact/retention.go)."""
        async with self._db.read() as conn:
            extra = json.loads(await conn.scalar(
                select(Execution.extra_attrs).where(Execution.id == execution_id)) or "{}")
            data = await conn.scalar(select(RetentionPolicyRow.data).where(RetentionPolicyRow.id == policy_id))
        rules = load_policy(policy_id, data).rules if data else ()
        retention = {
            "total": outcome.total, "retained": outcome.retained, "project_name": namespace,
            "retention_policy_id": policy_id, "retention_rule": [_rule_payload(rule) for rule in rules],
            "result": "SUCCESS",
            "deleted_artifact": [{
                "type": c.kind, "status": "SUCCESS",
                "name_tag": f"{c.repository}:{c.tags[0]}" if c.tags else f"{c.repository}@{c.digest}",
                "references": None,
            } for c in outcome.deleted],
        }
        await self._events.record_alone(self._db, TagRetentionFinished(
            project=namespace, retention=retention, operator=str(extra.get("operator") or SYSTEM.name)))

    async def candidates(self, repository: str) -> tuple[list[Candidate], set[str], int | None]:
        """The repository's artifacts as Harbor lists them (accessories and untagged index children
        left out), each with its tags, labels and times; the digests other manifests list; its project."""
        namespace, _, name = repository.partition("/")
        async with self._db.read() as conn:
            repo = (await conn.execute(select(Repository.id, Repository.project_id).where(
                Repository.name == repository))).first()
            if repo is None:
                return [], set(), None
            ids = set((await conn.execute(self._artifacts.list_query(repo.id, None, None))).scalars())
            manifests = (await conn.execute(select(Manifest.id, Manifest.digest, Manifest.created_at, Manifest.pull_time)
                                            .where(Manifest.repository_id == repo.id))).all()
            tags: dict[int, list[Any]] = {}
            for row in await conn.execute(select(Tag.manifest_id, Tag.name, Tag.updated_at, Tag.pull_time)
                                          .where(Tag.repository_id == repo.id).order_by(Tag.updated_at, Tag.id)):
                tags.setdefault(row.manifest_id, []).append(row)
            labels: dict[int, list[str]] = {}
            for manifest_id, label in await conn.execute(
                    select(ArtifactLabel.manifest_id, Label.name).join(Label, Label.id == ArtifactLabel.label_id)
                    .join(Manifest, Manifest.id == ArtifactLabel.manifest_id)
                    .where(Manifest.repository_id == repo.id).order_by(Label.name)):
                labels.setdefault(manifest_id, []).append(label)
            children: dict[int, list[str]] = {}
            for parent, child in await conn.execute(
                    select(ManifestChild.manifest_id, ManifestChild.child_digest)
                    .join(Manifest, Manifest.id == ManifestChild.manifest_id).where(Manifest.repository_id == repo.id)):
                children.setdefault(parent, []).append(child)
        candidates, listed_elsewhere = [], set()
        for row in manifests:
            if row.id not in ids:
                listed_elsewhere.update(children.get(row.id, ()))
                continue
            own = tags.get(row.id, [])
            pushed = max([_unix(row.created_at), *(_unix(t.updated_at) for t in own)])
            pulled = max([_unix(row.pull_time), *(_unix(t.pull_time) for t in own)])
            candidates.append(Candidate(
                row.id, row.digest, name, namespace, tuple(t.name for t in own), tuple(labels.get(row.id, ())),
                pushed, pulled, _unix(row.created_at), children=tuple(children.get(row.id, ())),
            ))
        return sorted(candidates, key=lambda c: c.id), listed_elsewhere, repo.project_id


def _rule_payload(rule: Rule) -> dict[str, Any]:
    """Harbor's RetentionRule of the webhook payload (empty fields left out)."""
    body = rule.as_json()
    out: dict[str, Any] = {"template": body["template"]}
    for key in ("params", "tag_selectors", "scope_selectors"):
        if body[key]:
            out[key] = body[key]
    return out


def _changed(operation: str, policy: Policy, project_name: str) -> ResourceChanged:
    return ResourceChanged(
        resource_type="tag_retention", operation=operation, resource=f"{project_name}/{policy.id}", project=project_name,
        description=f"{operation} tag retention policy {policy.id} of project {project_name}"
                    + (f": {len(policy.rules)} rule(s)" + (f", schedule {policy.cron}" if policy.cron else "")
                       if operation != "delete" else ""))


def _already(project_id: int) -> BadRequest:
    return BadRequest(f"project {project_id} already has a retention policy")


def _execution(row: Any) -> RetentionExecution:
    extra = json.loads(row.extra_attrs or "{}")
    return RetentionExecution(row.id, row.vendor_id, row.status, row.trigger, extra.get("dry_run") is True,
                              str(extra.get("operator") or ""), row.start_time, row.end_time)


def _task(row: Any) -> RetentionTask:
    extra = json.loads(row.extra_attrs or "{}")
    return RetentionTask(row.id, row.execution_id, str(extra.get("repository") or ""), row.status, row.start_time,
                         row.end_time, _int(extra.get("total")), _int(extra.get("retained")))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _unix(value: datetime | None) -> int:
    if value is None:
        return 0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def retention_job_kinds() -> list[JobKind]:
    async def launch(ctx: JobContext) -> str:
        return await ctx.services.retention.launch(ctx)

    async def run(ctx: JobContext) -> str:
        return await ctx.services.retention.run_repository(ctx)

    return [JobKind(LAUNCH, launch, ATTEMPTS), JobKind(RETENTION, run, ATTEMPTS)]
