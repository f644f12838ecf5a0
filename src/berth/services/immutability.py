"""Tag immutability: each project's rules (Harbor's ImmutableRule, stored with Harbor's shape), the
pure decision which tags they make immutable, and the refusals that protect those tags.

A rule holds a tag when it is enabled, its first repository selector selects the repository (its
name without the project) and its first tag selector selects the tag, as Harbor's rule matcher does.
Patterns are doublestar globs (`*`, `**`, `?`, `[...]`, `{a,b}`; berth.patterns).

The enabled rules of a project are kept in memory: this process forgets a project's rules when it
changes them; other nodes' changes arrive within RULE_CACHE_SECONDS.

Other services ask `immutable_tags(project_id, repository, tags)` (retention never deletes what it
answers) or `rules_of_repository(repository)` for the pure `ImmutableRules`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth import patterns
from berth.db.models import ImmutableTagRule, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.services.cache import LruCache
from berth.services.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from berth.services.projects import ProjectService
from berth.services.querying import conditions, orderings

#: how long this process trusts the rules it read (another node may have changed them)
RULE_CACHE_SECONDS = 5.0
#: the most rules a project has (Harbor's portal stops at 15; its retention API refuses a 16th rule)
MAX_RULES = 15
ACTION = "immutable"
TEMPLATE = "immutable_template"
KIND = "doublestar"
REPOSITORY_SCOPE = "repository"
#: tag selector decorations -> whether the selector excludes what its pattern matches
TAG_DECORATIONS = {"matches": False, "excludes": True}
#: repository selector decorations (Harbor's portal sends repoMatches/repoExcludes) -> excludes
REPOSITORY_DECORATIONS = {"repoMatches": False, "repoExcludes": True, "matches": False, "excludes": True}
_AUDIT_RESOURCE = "immutable_tag_rule"


# --- the rules and the decision (pure) -------------------------------------------------------------


class RuleInvalid(BadRequest):
    pass


class TagImmutable(PreconditionFailed):
    """Harbor's 412 PRECONDITION for a change to an immutable tag."""


def push_refused(repository: str, tag: str) -> TagImmutable:
    """Harbor's words for a push over an immutable tag (the repository without its project)."""
    return TagImmutable(f"Failed to process request due to '{repository_path(repository)}:{tag}' configured as immutable.")


def delete_refused(tag: str) -> TagImmutable:
    return TagImmutable(f"the tag {tag} configured as immutable, cannot be deleted")


def update_refused(tag: str) -> TagImmutable:
    return TagImmutable(f"the tag {tag} configured as immutable, cannot be updated")


def repository_path(repository: str) -> str:
    """`project/a/b` -> `a/b`: what repository selectors match against, as Harbor."""
    return repository.partition("/")[2]


@dataclass(frozen=True, slots=True)
class Selector:
    kind: str
    decoration: str
    pattern: str
    extras: str = ""

    def selects(self, value: str, excludes: bool) -> bool:
        return patterns.matches(self.pattern, value) != excludes

    def as_json(self) -> dict[str, str]:
        out = {"kind": self.kind, "decoration": self.decoration, "pattern": self.pattern}
        if self.extras:
            out["extras"] = self.extras
        return out


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as a request gives it, validated."""

    priority: int
    disabled: bool
    action: str
    template: str
    tag_selectors: tuple[Selector, ...]
    scope_selectors: tuple[tuple[str, tuple[Selector, ...]], ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """What the rule matches, as a digest: equal for duplicates whatever their priority or switch."""
        body = json.dumps([self.action, self.template, [s.as_json() for s in self.tag_selectors],
                           [[k, [s.as_json() for s in v]] for k, v in self.scope_selectors]], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def matches(self, repository_path: str, tag: str) -> bool:
        """Whether the rule holds `tag` of the repository named without its project (Harbor's matcher)."""
        if self.disabled or not self.tag_selectors:
            return False
        repositories = dict(self.scope_selectors).get(REPOSITORY_SCOPE)
        if not repositories:
            return False
        repository, selector = repositories[0], self.tag_selectors[0]
        return (repository.selects(repository_path, REPOSITORY_DECORATIONS.get(repository.decoration, False))
                and selector.selects(tag, TAG_DECORATIONS.get(selector.decoration, False)))


@dataclass(frozen=True, slots=True)
class RuleRecord:
    id: int
    project_id: int
    spec: RuleSpec
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class ImmutableRules:
    """A project's rules; `immutable` is the decision. No rules (the common case) decides nothing."""

    rules: tuple[RuleSpec, ...] = ()

    def __bool__(self) -> bool:
        return any(not rule.disabled for rule in self.rules)

    def immutable(self, repository: str, tag: str) -> bool:
        """Whether `tag` of `repository` (its full name, with the project) is immutable."""
        path = repository_path(repository)
        return any(rule.matches(path, tag) for rule in self.rules)

    def immutable_tags(self, repository: str, tags: Iterable[str]) -> set[str]:
        return {tag for tag in tags if self.immutable(repository, tag)} if self else set()


NO_RULES = ImmutableRules()


def _selector(value: object, where: str, decorations: Mapping[str, bool]) -> Selector:
    if not isinstance(value, Mapping):
        raise RuleInvalid(f"{where} must be an object with kind, decoration and pattern")
    kind, decoration, pattern = value.get("kind"), value.get("decoration"), value.get("pattern")
    extras = value.get("extras") or ""
    if kind != KIND:
        raise RuleInvalid(f"{where}.kind must be {KIND!r}, got {str(kind)[:100]!r}")
    if decoration not in decorations:
        raise RuleInvalid(f"{where}.decoration must be one of {', '.join(decorations)}, got {str(decoration)[:100]!r}")
    if not isinstance(pattern, str) or not pattern.strip():
        raise RuleInvalid(f"{where}.pattern can not be empty")
    if not isinstance(extras, str):
        raise RuleInvalid(f"{where}.extras must be a string")
    try:
        patterns.check(pattern)
    except patterns.PatternInvalid as exc:
        raise RuleInvalid(f"{where}.pattern {pattern[:100]!r} is not a valid doublestar pattern: {exc}") from None
    return Selector(KIND, str(decoration), pattern, extras)


def parse_rule(body: Mapping[str, Any]) -> RuleSpec:
    """A rule from Harbor's ImmutableRule JSON, or RuleInvalid. `action` and `template` may be left out
    (they have one value each); one tag selector and one repository selector at least (the first of
    each decides, as in Harbor)."""
    action = body.get("action") or ACTION
    template = body.get("template") or TEMPLATE
    if action != ACTION:
        raise RuleInvalid(f"the action of an immutable rule must be {ACTION!r}, got {str(action)[:100]!r}")
    if template != TEMPLATE:
        raise RuleInvalid(f"the template of an immutable rule must be {TEMPLATE!r}, got {str(template)[:100]!r}")
    priority = body.get("priority") or 0
    if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**31) <= priority < 2**31:
        raise RuleInvalid("priority must be a 32-bit integer")
    disabled = body.get("disabled") or False
    if not isinstance(disabled, bool):
        raise RuleInvalid("disabled must be a boolean")
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise RuleInvalid("params must be an object")
    tags = body.get("tag_selectors")
    if not isinstance(tags, Sequence) or isinstance(tags, str) or not tags:
        raise RuleInvalid("tag_selectors can not be empty")
    tag_selectors = tuple(_selector(s, f"tag_selectors[{i}]", TAG_DECORATIONS) for i, s in enumerate(tags[:16]))
    if len(tags) > 16:
        raise RuleInvalid("tag_selectors has more than 16 selectors")
    scopes = body.get("scope_selectors")
    if not isinstance(scopes, Mapping) or not scopes:
        raise RuleInvalid("scope_selectors can not be empty: it needs a repository selector")
    unknown = [str(key)[:100] for key in scopes if key != REPOSITORY_SCOPE]
    if unknown:
        raise RuleInvalid(f"scope_selectors supports only {REPOSITORY_SCOPE!r}, got {unknown[0]!r}")
    repositories = scopes.get(REPOSITORY_SCOPE)
    if not isinstance(repositories, Sequence) or isinstance(repositories, str) or not repositories:
        raise RuleInvalid("scope_selectors.repository can not be empty")
    if len(repositories) > 16:
        raise RuleInvalid("scope_selectors.repository has more than 16 selectors")
    repository_selectors = tuple(_selector(s, f"scope_selectors.repository[{i}]", REPOSITORY_DECORATIONS)
                                 for i, s in enumerate(repositories))
    try:
        params_json = json.dumps(params)
    except (TypeError, ValueError):
        raise RuleInvalid("params must be a JSON object") from None
    if len(params_json) > 65_535:
        raise RuleInvalid("params is longer than 65,535 characters")
    return RuleSpec(int(priority), disabled, ACTION, TEMPLATE, tag_selectors,
                    ((REPOSITORY_SCOPE, repository_selectors),), dict(params))


# --- the stored rules ------------------------------------------------------------------------------


_KEYS = {"id": ImmutableTagRule.id, "priority": ImmutableTagRule.priority, "disabled": ImmutableTagRule.disabled,
         "action": ImmutableTagRule.action, "template": ImmutableTagRule.template,
         "creation_time": ImmutableTagRule.creation_time, "update_time": ImmutableTagRule.update_time}


class ImmutabilityService:
    def __init__(self, db: Database, projects: ProjectService, events: EventBus | None = None,
                 ttl: float = RULE_CACHE_SECONDS) -> None:
        self._db = db
        self._projects = projects
        self._events = events or EventBus()
        #: project id -> its enabled rules
        self._rules: LruCache[int, ImmutableRules] = LruCache(20_000, ttl=ttl)

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"immutable_rules": self._rules}

    # --- the decision, for other services -----------------------------------------------------------

    async def rules(self, project_id: int) -> ImmutableRules:
        """The project's enabled rules, from memory for up to RULE_CACHE_SECONDS."""
        cached = self._rules.get(project_id)
        if cached is not None:
            return cached
        version = self._rules.version
        async with self._db.read() as conn:
            rows = (await conn.execute(select(ImmutableTagRule).where(
                ImmutableTagRule.project_id == project_id, ImmutableTagRule.disabled.is_(False))
                .order_by(ImmutableTagRule.id))).all()
        rules = ImmutableRules(tuple(_record(row).spec for row in rows)) if rows else NO_RULES
        self._rules.put(project_id, rules, if_version=version)
        return rules

    async def rules_of_repository(self, repository: str) -> ImmutableRules:
        """The rules of the project `repository` (its full name) is in; none for a project not found."""
        project = await self._projects.ref(repository.partition("/")[0])
        return NO_RULES if project is None else await self.rules(project.id)

    async def immutable_tags(self, project_id: int, repository: str, tags: Iterable[str]) -> set[str]:
        """Which of `tags` of `repository` are immutable. `repository` is the full name, with the
        project (`library/app`); the rules match it without the project, as Harbor's do."""
        return (await self.rules(project_id)).immutable_tags(repository, tags)

    def forget(self, project_id: int) -> None:
        self._rules.discard(project_id)

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, project_id: int, rule_id: int) -> RuleRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ImmutableTagRule).where(ImmutableTagRule.id == rule_id))).first()
        if row is None or row.project_id != project_id:
            raise NotFound(f"immutable rule {rule_id} not found")
        return _record(row)

    async def list(
        self, project_id: int, *, q: str | None = None, sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[RuleRecord], int]:
        query: Select = select(ImmutableTagRule).where(
            ImmutableTagRule.project_id == project_id, *conditions(q, _KEYS))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(*orderings(sort, _KEYS, [ImmutableTagRule.id]))
                                       .offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    # --- writing ------------------------------------------------------------------------------------

    async def create(self, project_id: int, project_name: str, spec: RuleSpec) -> int:
        now = utcnow()
        try:
            async with self._db.write() as conn:
                count = int(await conn.scalar(select(func.count()).select_from(ImmutableTagRule).where(
                    ImmutableTagRule.project_id == project_id)) or 0)
                if count >= MAX_RULES:
                    raise RuleInvalid(f"only {MAX_RULES} rules are allowed at most")
                await self._refuse_duplicate(conn, project_id, spec, None)
                rule_id = await conn.scalar(self._db.insert(ImmutableTagRule).values(
                    project_id=project_id, creation_time=now, update_time=now, **_columns(spec),
                ).returning(ImmutableTagRule.id))
                await self._record(conn, "create", project_name, int(rule_id), spec)
        except IntegrityError:
            raise Conflict("immutable rule already exists") from None
        self.forget(project_id)
        return int(rule_id)

    async def update(self, current: RuleRecord, project_name: str, spec: RuleSpec) -> None:
        """Replace the rule (selectors, priority and the disabled switch alike)."""
        try:
            async with self._db.write() as conn:
                await self._refuse_duplicate(conn, current.project_id, spec, current.id)
                result = await conn.execute(update(ImmutableTagRule).where(ImmutableTagRule.id == current.id).values(
                    update_time=utcnow(), **_columns(spec)))
                if result.rowcount == 0:
                    raise NotFound(f"immutable {current.id} not found")
                await self._record(conn, "update", project_name, current.id, spec)
        except IntegrityError:
            raise Conflict("immutable rule already exists") from None
        self.forget(current.project_id)

    async def delete(self, rule: RuleRecord, project_name: str) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(delete(ImmutableTagRule).where(ImmutableTagRule.id == rule.id))
            if result.rowcount == 0:
                raise NotFound(f"immutable rule {rule.id} not found")
            await self._record(conn, "delete", project_name, rule.id, rule.spec)
        self.forget(rule.project_id)

    async def _refuse_duplicate(self, conn: Any, project_id: int, spec: RuleSpec, rule_id: int | None) -> None:
        query = select(ImmutableTagRule.id).where(ImmutableTagRule.project_id == project_id,
                                                  ImmutableTagRule.fingerprint == spec.fingerprint)
        if rule_id is not None:
            query = query.where(ImmutableTagRule.id != rule_id)
        if await conn.scalar(query) is not None:
            raise Conflict("immutable rule already exists")

    async def _record(self, conn: Any, operation: str, project_name: str, rule_id: int, spec: RuleSpec) -> None:
        repositories = dict(spec.scope_selectors).get(REPOSITORY_SCOPE, ())
        described = (f"repositories {_describe(repositories[:1])} tags {_describe(spec.tag_selectors[:1])}"
                     f"{' (disabled)' if spec.disabled else ''}")
        await self._events.record(conn, ResourceChanged(
            resource_type=_AUDIT_RESOURCE, operation=operation, resource=f"{project_name}/{rule_id}",
            project=project_name,
            description=f"{operation} immutable tag rule {rule_id} of project {project_name}: {described}"[:1000]))


def _describe(selectors: Sequence[Selector]) -> str:
    return ", ".join(f"{s.decoration} {s.pattern!r}" for s in selectors)


def _columns(spec: RuleSpec) -> dict[str, Any]:
    return {
        "priority": spec.priority, "disabled": spec.disabled, "action": spec.action, "template": spec.template,
        "tag_selectors": json.dumps([s.as_json() for s in spec.tag_selectors]),
        "scope_selectors": json.dumps({k: [s.as_json() for s in v] for k, v in spec.scope_selectors}),
        "params": json.dumps(dict(spec.params)), "fingerprint": spec.fingerprint,
    }


def _stored_selector(raw: Mapping[str, Any]) -> Selector:
    return Selector(str(raw.get("kind", "")), str(raw.get("decoration", "")), str(raw.get("pattern", "")),
                    str(raw.get("extras") or ""))


def _record(row: Any) -> RuleRecord:
    scopes = json.loads(row.scope_selectors or "{}")
    spec = RuleSpec(
        priority=row.priority, disabled=bool(row.disabled), action=row.action, template=row.template,
        tag_selectors=tuple(_stored_selector(s) for s in json.loads(row.tag_selectors or "[]")),
        scope_selectors=tuple((k, tuple(_stored_selector(s) for s in v)) for k, v in scopes.items()),
        params=json.loads(row.params or "{}"),
    )
    return RuleRecord(row.id, row.project_id, spec, row.creation_time, row.update_time)
