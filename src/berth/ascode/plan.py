"""plan and apply: what the registry must do to match a registry.yaml, field by field, and doing
it in dependency order, stopping at the first refusal (docs/registry-as-code.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.ascode.state import KINDS, Context, Key, Kind, Live, Obj, Projects, SystemItem, rule_label
from berth.client.core import HarborClient, HarborError

FieldChange = tuple[str, Any, Any]


class PlanError(ValueError):
    """The file cannot be applied as it is (an unknown reference, a robot secret with nowhere to go)."""


@dataclass
class Change:
    action: str  # create, update, delete
    kind: Kind
    key: Key
    want: Obj | None = None
    live: Live | None = None
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def label(self) -> str:
        key = self.key
        if isinstance(self.kind, SystemItem):
            return self.kind.name
        if isinstance(key, tuple):
            child = key[1]
            if self.kind.name == "immutability rule":
                child = rule_label(self.want or (self.live.obj if self.live else {}))
            return f"{self.kind.name} {key[0]}/{child}" if child not in ("retention", "trust_policy") else \
                f"{self.kind.name} of {key[0]}"
        return f"{self.kind.name} {key}"


@dataclass
class Plan:
    changes: list[Change]
    ctx: Context

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for c in self.changes if c.action == a) for a in ("create", "update", "delete")}


# -- comparing ---------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or value is False or value == 0


def diff(want: Any, have: Any, secret: frozenset[str] = frozenset(), path: str = "") -> list[FieldChange]:
    """The fields `want` names whose value `have` does not have. Only what `want` says is compared;
    Go's omitempty is honoured (a false, zero or empty field the server leaves out is equal); a
    list is equal when its elements match in some order."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [] if not want and _empty(have) else [(path, have, want)]
        changes: list[FieldChange] = []
        for key, value in want.items():
            if key in secret:
                continue
            changes += diff(value, have.get(key), secret, f"{path}.{key}" if path else str(key))
        return changes
    if isinstance(want, list):
        if not isinstance(have, list):
            return [] if not want and _empty(have) else [(path, have, want)]
        if len(want) != len(have):
            return [(path, have, want)]
        pairwise = [c for i, (w, h) in enumerate(zip(want, have)) for c in diff(w, h, secret, f"{path}[{i}]")]
        if not pairwise or _matches_in_some_order(want, have, secret):
            return []
        return pairwise if len(pairwise) <= 3 else [(path, have, want)]
    if want == have or (_empty(want) and _empty(have)):
        return []
    return [(path, have, want)]


def _matches_in_some_order(want: list[Any], have: list[Any], secret: frozenset[str]) -> bool:
    left = list(have)
    for item in want:
        match = next((i for i, other in enumerate(left) if not diff(item, other, secret)), None)
        if match is None:
            return False
        left.pop(match)
    return True


# -- planning ----------------------------------------------------------------------------------


def _present(data: Obj, kind: Kind) -> Callable[[Key], bool]:
    """Whether the file manages `key`'s place: prune only where the file has the section."""
    if isinstance(kind, SystemItem):
        return lambda key: False
    if kind.child:
        projects = data.get("projects") or {}
        return lambda key: kind.section in (projects.get(key[0]) or {})  # type: ignore[index]
    return lambda key: kind.section in data


def check_references(data: Obj, live_projects: set[str], live_registries: set[str]) -> None:
    """Refuse a file that names what exists neither in it nor in the registry."""
    projects = set(data.get("projects") or {}) | live_projects
    registries = set(data.get("registries") or {}) | live_registries
    problems: list[str] = []
    for name, body in (data.get("projects") or {}).items():
        registry = (body or {}).get("registry")
        if registry is not None and registry not in registries:
            problems.append(f"project {name}: registry {registry} is neither in the file nor in the registry")
    for name, robot in (data.get("robots") or {}).items():
        for permission in (robot or {}).get("permissions") or []:
            namespace = permission.get("namespace")
            if permission.get("kind") == "project" and namespace not in ("*", None) and namespace not in projects:
                problems.append(f"robot {name}: project {namespace} is neither in the file nor in the registry")
        if (robot or {}).get("level") == "project":
            scopes = {p.get("namespace") for p in robot.get("permissions") or [] if p.get("kind") == "project"}
            if "+" not in name or name.split("+", 1)[0] not in scopes:
                problems.append(f"robot {name}: a project robot's key is <project>+<name>, its project in permissions")
    for name, policy in (data.get("replication_policies") or {}).items():
        for end in ("src_registry", "dest_registry"):
            registry = (policy or {}).get(end)
            if registry is not None and registry not in registries:
                problems.append(f"replication policy {name}: {end} {registry} is neither in the file nor in the registry")
    if problems:
        raise PlanError("; ".join(problems))


def make_plan(data: Obj, client: HarborClient, prune: bool = False, secrets_out: bool = False) -> Plan:
    """Compare the file's objects (with `${VAR}` already replaced) with the registry's."""
    ctx = Context(client)
    registries_kind = KINDS[0]  # read first: the projects' proxy-cache registries are named from it
    live_registries = registries_kind.read(ctx, []) if (
        "registries" in data or _names_registries(data)) else {}
    projects_kind = next(k for k in KINDS if isinstance(k, Projects))
    live_projects = projects_kind.read(ctx, [])
    check_references(data, set(map(str, live_projects)), set(map(str, live_registries)))
    file_projects = [str(p) for p in (data.get("projects") or {}) if p in live_projects]
    changes: list[Change] = []
    for kind in KINDS:
        wanted = kind.wanted(data)
        present = _present(data, kind)
        managed = bool(wanted) or (prune and not isinstance(kind, SystemItem) and (
            kind.child or kind.section in data))
        if not managed:
            continue
        if isinstance(kind, Projects):
            live = live_projects
        elif kind is registries_kind:
            live = live_registries
        else:
            live = kind.read(ctx, file_projects)
        for key, want in wanted.items():
            have = live.get(key)
            if have is None:
                changes.append(Change("create", kind, key, want=want))
            else:
                fields = diff(want, have.obj, kind.secret)
                if fields:
                    changes.append(Change("update", kind, key, want=want, live=have, fields=fields))
        if prune:
            for key, have in live.items():
                if key not in wanted and present(key) and not _kept(kind, key, have):
                    changes.append(Change("delete", kind, key, live=have))
    robots_created = [c for c in changes if c.kind.name == "robot" and c.action == "create"]
    for change in robots_created:
        if not (change.want or {}).get("secret_file") and not secrets_out:
            raise PlanError(f"robot {change.key}: its secret would be lost: give it a secret_file "
                            "or pass --secrets-out FILE (or - for standard output)")
    # changes came kind by kind in KINDS order: deletions go kind by kind the other way
    order = {kind.name: i for i, kind in enumerate(KINDS)}
    creates = [c for c in changes if c.action != "delete"]
    deletes = sorted((c for c in changes if c.action == "delete"), key=lambda c: -order[c.kind.name])
    return Plan(creates + deletes, ctx)


def _names_registries(data: Obj) -> bool:
    return any((b or {}).get("registry") for b in (data.get("projects") or {}).values()) or any(
        (p or {}).get(end) for p in (data.get("replication_policies") or {}).values()
        for end in ("src_registry", "dest_registry"))


def _kept(kind: Kind, key: Key, live: Live) -> bool:
    """What prune leaves alone: a scanner registration the registry itself provides (berth's
    built-in adapter, Harbor's Trivy), which it would refuse to delete anyway."""
    return kind.name == "scanner" and bool(live.obj.get("use_internal_addr"))


# -- showing -----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = "(none)" if value is None else json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def render(plan: Plan) -> str:
    lines: list[str] = []
    for change in plan.changes:
        sign = {"create": "+", "update": "~", "delete": "-"}[change.action]
        lines.append(f"{sign} {change.label}")
        for path, old, new in change.fields:
            lines.append(f"    {path}: {_show(old)} -> {_show(new)}")
    counts = plan.counts()
    if not plan.changes:
        lines.append("No changes: the registry matches the file.")
    else:
        lines.append(f"Plan: {counts['create']} to create, {counts['update']} to change, {counts['delete']} to delete.")
    return "\n".join(lines)


# -- applying ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    done: list[Change]
    failed: Change | None = None
    error: str = ""
    not_done: list[Change] = field(default_factory=list)


def apply_plan(plan: Plan, progress: Callable[[str], None] = lambda line: None,
               secret_sink: Callable[[str, str, str, Obj], None] | None = None) -> Outcome:
    """Carry the plan out in order; stop at the first refusal (the rest is reported not done)."""
    ctx = plan.ctx
    done: list[Change] = []
    for index, change in enumerate(plan.changes):
        try:
            if change.action == "create":
                change.kind.create(ctx, change.key, change.want or {})
            elif change.action == "update":
                change.kind.update(ctx, change.key, change.want or {}, change.live)  # type: ignore[arg-type]
            else:
                change.kind.delete(ctx, change.key, change.live)  # type: ignore[arg-type]
        except HarborError as exc:
            return Outcome(done, change, exc.message or str(exc), plan.changes[index + 1:])
        while ctx.secrets and secret_sink is not None:
            key, name, secret = ctx.secrets.pop(0)
            secret_sink(key, name, secret, change.want or {})
        done.append(change)
        progress({"create": "created", "update": "changed", "delete": "deleted"}[change.action] + " " + change.label)
    return Outcome(done)


def write_secret_file(path: Path, name: str, secret: str) -> None:
    """The robot's secret alone in a new 0600 file (replacing an older secret there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode())
    finally:
        os.close(fd)
