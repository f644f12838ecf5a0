"""Replication policies as Harbor validates them (src/pkg/reg/model/policy.go), and the pure decisions a
run makes from one: which repositories, tags, labels and kinds of artifact its filters take (doublestar,
berth.patterns), and where a repository lands on the destination (`replace_namespace`, Harbor's flattening).
A policy is push-based (`dest_registry_id`: this berth to an endpoint) or pull-based (`src_registry_id`:
an endpoint to this berth)."""

from __future__ import annotations

import re

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth import patterns

from berth.schedules import ScheduleInvalid, validate_cron

FILTER_TYPES = ("name", "tag", "label", "resource")
DECORATIONS = ("matches", "excludes")
TRIGGER_TYPES = ("manual", "scheduled", "event_based")
#: what berth runs today; the rest of Harbor's is refused with a 400 that says so
SUPPORTED_TRIGGERS = ("manual", "scheduled", "event_based")
#: copy_by_chunk's chunk size: Harbor's default REPLICATION_CHUNK_SIZE (10 MiB)
CHUNK_SIZE = 10 * 1024 * 1024
#: Harbor's resource filter values: `image` takes container images (and their indexes) only, `artifact` any
RESOURCE_TYPES = ("image", "artifact")


class PolicyInvalid(ValueError):
    """The message is the 400's."""


@dataclass(frozen=True, slots=True)
class Filter:
    type: str
    #: a pattern (name, tag), a resource type, or the label names (a label filter)
    value: str | tuple[str, ...]
    decoration: str = ""

    def takes(self, value: str) -> bool:
        matched = _match(str(self.value), value)
        return not matched if self.decoration == "excludes" else matched

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "value": list(self.value) if self.type == "label" else self.value}
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
    #: a pull-based policy's source endpoint (0: push-based, the source is this berth)
    src_registry_id: int = 0
    #: blobs copied in chunks (PATCH ... PUT to a destination, HTTP Range from a source)
    copy_by_chunk: bool = False

    @property
    def pull(self) -> bool:
        return self.src_registry_id > 0

    @property
    def registry_id(self) -> int:
        """The endpoint the policy replicates with: its source (pull) or its destination (push)."""
        return self.src_registry_id or self.dest_registry_id

    @property
    def label_filter(self) -> Filter | None:
        return next((f for f in self.filters if f.type == "label" and f.value), None)

    def takes_labels(self, labels: set[str]) -> bool:
        """Harbor's label filter: `matches` takes an artifact that has every label named, `excludes` one
        that lacks at least one of them."""
        wanted = self.label_filter
        if wanted is None:
            return True
        has_all = all(label in labels for label in wanted.value)
        return not has_all if wanted.decoration == "excludes" else has_all

    def takes_kind(self, kind: str) -> bool:
        """The resource filter: `image` takes Harbor's IMAGE artifacts only; `artifact` (or none) any."""
        return all(f.value != "image" or kind == "IMAGE" for f in self.filters if f.type == "resource")

    @property
    def wants_kind(self) -> bool:
        """Whether the filters look at an artifact's kind (a listing that lacks it must look)."""
        return any(f.type == "resource" and f.value == "image" for f in self.filters)

    @property
    def named_repositories(self) -> list[str] | None:
        """The repositories a name filter names outright (`a/b`, `a/{b,c}`): a run asks for those
        instead of listing the catalog, as Harbor does (a registry may refuse its catalog); else None."""
        return specific_paths(self.name_pattern)
    #: with an event-based trigger, local deletions (artifacts, tags) are deleted on the destination too
    replicate_deletion: bool = False
    #: who created the policy (Harbor's creator; the REPLICATION webhook's policy_creator)
    creator: str = ""

    def takes_repository(self, repository: str) -> bool:
        return all(f.takes(repository) for f in self.filters if f.type == "name")

    def takes_tag(self, tag: str) -> bool:
        return all(f.takes(tag) for f in self.filters if f.type == "tag")

    def selected_tags(self, tags: Sequence[str]) -> list[str] | None:
        """Harbor's tag filter (artifactTagFilter) on one artifact: the tags to replicate, or None when
        the artifact is left out. An untagged artifact (no tags) is taken, to be copied by digest, when
        the pattern matches the empty string as doublestar does (no tag filter, `**`, `*`), or, with
        `excludes`, when it does not."""
        if not tags:
            wanted = next((f for f in self.filters if f.type == "tag"), None)
            if wanted is None:
                return []
            matched = patterns.matches_empty(str(wanted.value))
            return [] if matched != (wanted.decoration == "excludes") else None
        taken = [tag for tag in tags if self.takes_tag(tag)]
        return taken or None

    @property
    def name_pattern(self) -> str:
        return next((str(f.value) for f in self.filters if f.type == "name"), "")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "dest_registry_id": self.dest_registry_id,
            "dest_namespace": self.dest_namespace, "dest_namespace_replace_count": self.dest_namespace_replace_count,
            "trigger": self.trigger, "cron": self.cron, "filters": [f.as_json() for f in self.filters],
            "override": self.override, "enabled": self.enabled, "speed": self.speed,
            "src_registry_id": self.src_registry_id, "copy_by_chunk": self.copy_by_chunk,
            "replicate_deletion": self.replicate_deletion, "creator": self.creator,
        }


#: Harbor's dest_namespace_replace_count is an int8
MAX_REPLACE_COUNT = 127
MAX_SPEED = 2**31 - 1
#: a destination namespace: one or more repository path components
_NAMESPACE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*")


def policy_from(body: Mapping[str, Any]) -> Policy:
    """A policy from Harbor's ReplicationPolicy fields (the API's body, or a form's values in its
    shape): Harbor's Policy.Validate, then berth's limits; PolicyInvalid with the reason (pure)."""
    name = body.get("name") or ""
    if not name.strip():
        raise PolicyInvalid("empty name")
    if len(name) > 255:
        raise PolicyInvalid("the name is longer than 255 characters")
    source = (body.get("src_registry") or {}).get("id") or 0
    destination = (body.get("dest_registry") or {}).get("id") or 0
    if source and destination:
        raise PolicyInvalid("either src_registry or dest_registry should be empty")
    if not source and not destination:
        raise PolicyInvalid("src_registry and dest_registry cannot be both empty")
    if not 0 < (source or destination) < 2**31:
        raise PolicyInvalid(f"registry {source or destination} not found")
    namespace = body.get("dest_namespace") or ""
    if namespace and (len(namespace) > 255 or not _NAMESPACE.fullmatch(namespace)):
        raise PolicyInvalid(f"invalid destination namespace {namespace[:100]!r}")
    replace_count = body.get("dest_namespace_replace_count")
    replace_count = -1 if replace_count is None else replace_count
    if not -1 <= replace_count <= MAX_REPLACE_COUNT:
        raise PolicyInvalid(f"invalid dest_namespace_replace_count {replace_count}: -1 to {MAX_REPLACE_COUNT}")
    speed = body.get("speed") or 0
    if not -1 <= speed <= MAX_SPEED:
        raise PolicyInvalid(f"invalid speed {speed}: KB/s, -1 or 0 for no limit")
    if body.get("single_active_replication"):
        raise PolicyInvalid("not supported yet: single_active_replication")
    filters = parse_filters(list(body.get("filters") or []))
    kind, cron = parse_trigger(body.get("trigger"))
    if kind == "event_based" and source:  # events are this berth's: Harbor offers them to push policies only
        raise PolicyInvalid("the event-based trigger is for push-based policies (the source must be this registry)")
    return Policy(
        name=name, description=body.get("description") or "", dest_registry_id=destination, dest_namespace=namespace,
        dest_namespace_replace_count=replace_count, trigger=kind, cron=cron, filters=filters,
        override=bool(body.get("override")), enabled=bool(body.get("enabled")), speed=speed, src_registry_id=source,
        copy_by_chunk=bool(body.get("copy_by_chunk")),
        replicate_deletion=bool(body.get("replicate_deletion") or body.get("deletion")),
    )


def load_policy(data: dict[str, Any]) -> Policy:
    """A stored policy (as_json), already valid."""
    return Policy(
        name=data["name"], description=data.get("description", ""),
        dest_registry_id=int(data.get("dest_registry_id") or 0),
        dest_namespace=data.get("dest_namespace", ""),
        dest_namespace_replace_count=int(data.get("dest_namespace_replace_count", -1)),
        trigger=data.get("trigger", "manual"), cron=data.get("cron", ""),
        filters=tuple(Filter(f["type"], tuple(f["value"]) if f["type"] == "label" else f["value"],
                             f.get("decoration", "")) for f in data.get("filters", [])),
        override=bool(data.get("override")), enabled=bool(data.get("enabled", True)), speed=int(data.get("speed", 0)),
        src_registry_id=int(data.get("src_registry_id") or 0), copy_by_chunk=bool(data.get("copy_by_chunk")),
        replicate_deletion=bool(data.get("replicate_deletion")), creator=str(data.get("creator") or ""),
    )


def parse_filters(raw: list[dict[str, Any]] | None) -> tuple[Filter, ...]:
    """Harbor's Policy.Validate for filters: known types, one of each, string values that compile (a
    label filter's: a list of label names; a resource filter's: image or artifact), `matches`/`excludes`
    decorations (none on name filters: Harbor ignores it there; none on resource filters)."""
    filters, seen = [], set()
    for item in raw or []:
        kind = item.get("type")
        if kind not in FILTER_TYPES:
            raise PolicyInvalid(f"invalid filter type {str(kind)[:50]!r}")
        if kind in seen:
            raise PolicyInvalid(f"only one {kind} filter is supported")
        seen.add(kind)
        value = item.get("value")
        if kind == "label":
            filters.extend(_label_filter(item))
            continue
        if not isinstance(value, str):
            raise PolicyInvalid(f"{kind} filters must be strings")
        decoration = item.get("decoration") or ""
        if decoration not in ("", *DECORATIONS):
            raise PolicyInvalid(f"invalid filter decoration {str(decoration)[:50]!r}: matches or excludes")
        if kind == "name":
            decoration = ""
        if kind == "resource":
            if decoration:
                raise PolicyInvalid("only tag and label filter support decoration")
            if value not in RESOURCE_TYPES:
                raise PolicyInvalid(f"invalid resource filter: {value[:50]!r} (image or artifact)")
            filters.append(Filter(kind, value))
            continue
        if value and not _compiles(value):
            raise PolicyInvalid(f"invalid {kind} filter pattern {value[:100]!r}")
        if value:
            filters.append(Filter(kind, value, decoration))
    return tuple(filters)


def _label_filter(item: dict[str, Any]) -> list[Filter]:
    value, decoration = item.get("value"), item.get("decoration") or ""
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise PolicyInvalid("the type of label filter value isn't string slice")
    if decoration not in ("", *DECORATIONS):
        raise PolicyInvalid(f"invalid filter decoration {str(decoration)[:50]!r}: matches or excludes")
    if len(value) > 100 or any(len(label) > 128 for label in value):
        raise PolicyInvalid("a label filter names at most 100 labels of at most 128 characters")
    labels = tuple(dict.fromkeys(label for label in value if label))
    return [Filter("label", labels, decoration)] if labels else []


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
        patterns.check(pattern)
    except patterns.PatternInvalid:
        return False
    return True


def _match(pattern: str, value: str) -> bool:
    return patterns.matches(pattern, value)


def specific_paths(pattern: str) -> list[str] | None:
    """Harbor's IsSpecificPath (src/pkg/reg/util/pattern.go): the names a pattern without wildcards
    stands for, each component a literal or one `{x,y}` alternation; None when it is a real pattern."""
    if not pattern:
        return None
    paths = [""]
    for component in pattern.split("/"):
        choices = _specific_component(component)
        if choices is None:
            return None
        paths = [f"{path}/{choice}" if path else choice for path in paths for choice in choices]
        if len(paths) > 1000:
            return None
    return paths


def named_projects(pattern: str) -> list[str] | None:
    """The projects a name filter's first path component names outright (`team/**`, `{a,b}/*`), as
    Harbor's adapter reads it (IsSpecificPathComponent, names trimmed); None when it is a pattern."""
    names = _specific_component(pattern.split("/", 1)[0]) if pattern else None
    return [name.strip() for name in names] if names is not None else None


def _specific_component(component: str) -> list[str] | None:
    if not component or any(c in component for c in "*?[\\]^"):
        return None
    if not any(c in component for c in "{},"):
        return [component]
    start, end = component.find("{"), component.rfind("}")
    if component.count("{") != 1 or start == -1 or end < start:
        return None
    return [component[:start] + choice + component[end + 1:] for choice in component[start + 1:end].split(",")]


def pull_target(repository: str, namespace: str, replace_count: int) -> str:
    """Where a pulled repository lands in this berth: Harbor's flattening, then its rule for a Harbor
    destination (RepositoryPathComponentTypeAtLeastTwo): a project and a name at least."""
    target = replace_namespace(repository, namespace, replace_count)
    components = target.split("/")
    if len(components) < 2:
        raise PolicyInvalid(f"the destination repository {target!r} contains only {len(components)} path components "
                            f"{components}, but the destination registry requires at least 2")
    return target


def destination_projects(placements: Iterable[tuple[str, str]], public: Mapping[str, bool]) -> dict[str, bool]:
    """Harbor's PrepareForPush on (source repository, destination repository) pairs: each destination
    project, public when every source project landing in it is public (`public`: source project ->
    public; one it does not name counts as private), as Harbor merges the `public` metadata (pure)."""
    wanted: dict[str, bool] = {}
    for repository, target in placements:
        project = target.split("/", 1)[0]
        wanted[project] = wanted.get(project, True) and public.get(repository.split("/", 1)[0], False)
    return wanted
