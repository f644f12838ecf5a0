"""Replication policies as Harbor validates them (src/pkg/reg/model/policy.go), and the pure decisions a
run makes from one: which repositories and tags its filters take (doublestar, wcmatch), and where a
repository lands on the destination (`replace_namespace`, Harbor's flattening)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wcmatch import glob

from berth.schedules import ScheduleInvalid, validate_cron

FILTER_TYPES = ("name", "tag", "label", "resource")
DECORATIONS = ("matches", "excludes")
TRIGGER_TYPES = ("manual", "scheduled", "event_based")
#: what berth runs today; the rest of Harbor's is refused with a 400 that says so
SUPPORTED_TRIGGERS = ("manual", "scheduled", "event_based")
SUPPORTED_FILTERS = ("name", "tag")
_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.FORCEUNIX


class PolicyInvalid(ValueError):
    """The message is the 400's."""


@dataclass(frozen=True, slots=True)
class Filter:
    type: str
    value: str
    decoration: str = ""

    def takes(self, value: str) -> bool:
        matched = _match(self.value, value)
        return not matched if self.decoration == "excludes" else matched

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "value": self.value}
        if self.decoration:
            body["decoration"] = self.decoration
        return body


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    dest_registry_id: int
    description: str = ""
    dest_namespace: str = ""
    #: -1: Harbor's legacy mode (the namespace replaces everything but the last component)
    dest_namespace_replace_count: int = -1
    trigger: str = "manual"
    cron: str = ""
    filters: tuple[Filter, ...] = field(default_factory=tuple)
    override: bool = False
    enabled: bool = True
    #: KB/s per task; 0 or less: no limit
    speed: int = 0
    #: with an event-based trigger, local deletions (artifacts, tags) are deleted on the destination too
    replicate_deletion: bool = False
    #: who created the policy (Harbor's creator; the REPLICATION webhook's policy_creator)
    creator: str = ""

    def takes_repository(self, repository: str) -> bool:
        return all(f.takes(repository) for f in self.filters if f.type == "name")

    def takes_tag(self, tag: str) -> bool:
        return all(f.takes(tag) for f in self.filters if f.type == "tag")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "dest_registry_id": self.dest_registry_id,
            "dest_namespace": self.dest_namespace, "dest_namespace_replace_count": self.dest_namespace_replace_count,
            "trigger": self.trigger, "cron": self.cron, "filters": [f.as_json() for f in self.filters],
            "override": self.override, "enabled": self.enabled, "speed": self.speed,
            "replicate_deletion": self.replicate_deletion, "creator": self.creator,
        }


def load_policy(data: dict[str, Any]) -> Policy:
    """A stored policy (as_json), already valid."""
    return Policy(
        name=data["name"], description=data.get("description", ""), dest_registry_id=int(data["dest_registry_id"]),
        dest_namespace=data.get("dest_namespace", ""),
        dest_namespace_replace_count=int(data.get("dest_namespace_replace_count", -1)),
        trigger=data.get("trigger", "manual"), cron=data.get("cron", ""),
        filters=tuple(Filter(f["type"], f["value"], f.get("decoration", "")) for f in data.get("filters", [])),
        override=bool(data.get("override")), enabled=bool(data.get("enabled", True)), speed=int(data.get("speed", 0)),
        replicate_deletion=bool(data.get("replicate_deletion")), creator=str(data.get("creator") or ""),
    )


def parse_filters(raw: list[dict[str, Any]] | None) -> tuple[Filter, ...]:
    """Harbor's Policy.Validate for filters: known types, one of each, string values that compile,
    `matches`/`excludes` decorations (none on name filters: Harbor ignores it there)."""
    filters, seen = [], set()
    for item in raw or []:
        kind = item.get("type")
        if kind not in FILTER_TYPES:
            raise PolicyInvalid(f"invalid filter type {str(kind)[:50]!r}")
        if kind not in SUPPORTED_FILTERS:
            raise PolicyInvalid(f"not supported yet: the {kind} filter (berth replicates with name and tag filters)")
        if kind in seen:
            raise PolicyInvalid(f"only one {kind} filter is supported")
        seen.add(kind)
        value = item.get("value")
        if not isinstance(value, str):
            raise PolicyInvalid(f"{kind} filters must be strings")
        decoration = item.get("decoration") or ""
        if decoration not in ("", *DECORATIONS):
            raise PolicyInvalid(f"invalid filter decoration {str(decoration)[:50]!r}: matches or excludes")
        if kind == "name":
            decoration = ""
        if value and not _compiles(value):
            raise PolicyInvalid(f"invalid {kind} filter pattern {value[:100]!r}")
        if value:
            filters.append(Filter(kind, value, decoration))
    return tuple(filters)


def parse_trigger(raw: dict[str, Any] | None) -> tuple[str, str]:
    """(type, cron) from Harbor's ReplicationTrigger; no trigger is manual."""
    kind = (raw or {}).get("type") or "manual"
    if kind not in TRIGGER_TYPES:
        raise PolicyInvalid(f"invalid trigger type {str(kind)[:50]!r}")
    if kind not in SUPPORTED_TRIGGERS:
        raise PolicyInvalid(f"not supported yet: {kind} triggers")
    cron = ((raw or {}).get("trigger_settings") or {}).get("cron") or ""
    if kind == "scheduled":  # Harbor's rules
        try:
            validate_cron(cron)
        except ScheduleInvalid as exc:
            raise PolicyInvalid(f"invalid cron string for scheduled trigger: {exc}") from None
        if cron.split(" ")[1] == "*":
            raise PolicyInvalid("the 2nd field (indicating Minutes of time) of the cron setting must not be *")
    return kind, cron if kind == "scheduled" else ""


def replace_namespace(repository: str, namespace: str, replace_count: int) -> str:
    """Harbor's replaceNamespace (controller/replication/flow/stage.go): for `a/b/c/image` and `n`,
    -1 -> n/image, 0 -> n/a/b/c/image, 1 -> n/b/c/image, 3 -> n/image, 4 -> PolicyInvalid; no namespace
    leaves the repository as it is."""
    if not namespace:
        return repository
    components = repository.split("/")
    if replace_count < 0:
        prefix = namespace
    elif replace_count > len(components) - 1:
        raise PolicyInvalid(
            f"the source repository {repository!r} contains only {len(components) - 1} path components "
            f"{components[:-1]} excepting the last one, but the destination namespace flattening level is {replace_count}")
    else:
        prefix = "/".join([namespace, *components[replace_count:-1]])
    return f"{prefix}/{components[-1]}"


def _compiles(pattern: str) -> bool:
    try:
        glob.globmatch("x", pattern, flags=_FLAGS)
    except Exception:  # wcmatch's limit on brace expansions, bad ranges
        return False
    return True


def _match(pattern: str, value: str) -> bool:
    try:
        return bool(glob.globmatch(value, pattern, flags=_FLAGS))
    except Exception:
        return False
