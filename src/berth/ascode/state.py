"""The registry's live state in registry.yaml's format, read through the Harbor API, and the calls
that create, change and delete each kind of object (docs/registry-as-code.md).

Every kind is a `Kind`: it reads the registry's objects as {key: Live} (the object in the file's
format, and the handle the API knows it by: an id, a uuid, a name), and turns a wanted object into
the API's create, update and delete requests. Children of a project (members, labels, immutability
rules, retention, webhooks, trust policy) are kinds of their own, keyed by (project, key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from berth.client.paths import segment
from berth.client.core import HarborClient, HarborError

Key = str | tuple[str, str]
Obj = dict[str, Any]
#: what the server sets and the file never says
SERVER_SET = frozenset({"id", "creation_time", "update_time", "status", "creator", "project_id", "priority",
                        "next_scheduled_time", "retention_id", "uuid", "create_time", "owner_id", "owner_name"})
#: a robot's key is its name without the registry's robot_name_prefix (this one when it can't be read)
ROBOT_PREFIX = "robot$"


@dataclass
class Live:
    obj: Obj
    handle: Any = None


@dataclass
class Context:
    """What one apply learns as it goes: ids by name, and where new robot secrets go."""

    client: HarborClient
    registry_ids: dict[str, int] = field(default_factory=dict)
    project_ids: dict[str, int] = field(default_factory=dict)
    #: (robot key, full name, secret) of robots created in this run
    secrets: list[tuple[str, str, str]] = field(default_factory=list)
    #: project name -> its retention policy's id, as the project list said (None: no policy)
    retention_ids: dict[str, str | None] = field(default_factory=dict)
    _registry_names: dict[int, str] | None = None
    _robot_prefix: str | None = None

    def project_id(self, name: str) -> int:
        if name not in self.project_ids:
            self.project_ids[name] = int(self.client.get(f"/projects/{segment(name)}")["project_id"])
        return self.project_ids[name]

    def robot_prefix(self) -> str:
        """The registry's robot_name_prefix (a system setting: `robot$` unless changed)."""
        if self._robot_prefix is None:
            try:
                setting = (self.client.get("/configurations") or {}).get("robot_name_prefix") or {}
                self._robot_prefix = str(setting.get("value") or ROBOT_PREFIX)
            except HarborError:  # not an administrator: the default
                self._robot_prefix = ROBOT_PREFIX
        return self._robot_prefix

    def registry_names(self) -> dict[int, str]:
        """Every registry endpoint's name by id, read once (Registries.read fills it too)."""
        if self._registry_names is None:
            self.remember_registries(list(self.client.paginate("/registries")))
        assert self._registry_names is not None
        return self._registry_names

    def remember_registries(self, registries: list[Obj]) -> None:
        self._registry_names = {int(r["id"]): r["name"] for r in registries}
        self.registry_ids.update({name: id_ for id_, name in self._registry_names.items()})

    def registry_id(self, name: str | None) -> int | None:
        if name is None:
            return None
        if name not in self.registry_ids:
            for registry in self.client.paginate("/registries", params={"q": f"name={name}"}):
                self.registry_ids[registry["name"]] = int(registry["id"])
            if name not in self.registry_ids:
                raise HarborError(404, "NOT_FOUND", f"registry {name} not found")
        return self.registry_ids[name]


class Kind(Protocol):
    name: str
    #: where the file holds it: a top-level key, a project's key, or a key of `system`
    section: str
    #: a child of a project, keyed by (project, key)
    child: bool
    #: fields never read back (write-only secrets, file-only fields): never compared
    secret: frozenset[str]

    def wanted(self, data: Obj) -> dict[Key, Obj]: ...
    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]: ...
    def create(self, ctx: Context, key: Key, want: Obj) -> None: ...
    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None: ...
    def delete(self, ctx: Context, key: Key, live: Live) -> None: ...



def strip(obj: Any, drop: frozenset[str] = SERVER_SET) -> Any:
    """The object without what the server sets, without empty values, recursively."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key in drop:
                continue
            value = strip(value, drop)
            if value is None or value == {} or value == "" or value == []:
                continue
            out[key] = value
        return out
    if isinstance(obj, list):
        return [strip(v, drop) for v in obj]
    return obj


def _sorted(items: dict[Key, Live]) -> dict[Key, Live]:
    return dict(sorted(items.items(), key=lambda kv: str(kv[0])))


# -- top-level kinds keyed by name -------------------------------------------------------------


class Registries:
    name, section, secret = "registry", "registries", frozenset({"access_secret"})
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        registries = list(ctx.client.paginate("/registries"))
        ctx.remember_registries(registries)
        for item in registries:
            obj = strip(item)
            obj.pop("name", None)
            credential = obj.get("credential") or {}
            credential.pop("access_secret", None)
            if credential.get("type") in (None, "", "basic") and not credential.get("access_key"):
                obj.pop("credential", None)
            obj.setdefault("insecure", False)
            out[item["name"]] = Live(obj, int(item["id"]))
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        response = ctx.client.post("/registries", json={"name": key, **want})
        ctx.registry_ids[str(key)] = int(ctx.client.created_id(response))

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        body: Obj = {k: want[k] for k in ("description", "url", "insecure") if k in want}
        credential = want.get("credential") or {}
        if "type" in credential:
            body["credential_type"] = credential["type"]
        for field_ in ("access_key", "access_secret"):
            if field_ in credential:
                body[field_] = credential[field_]
        ctx.client.put(f"/registries/{live.handle}", json=body)

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/registries/{live.handle}")


class UserGroups:
    name, section, secret = "usergroup", "usergroups", frozenset()
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        return {g["group_name"]: Live({k: v for k, v in strip(g).items() if k != "group_name"}, int(g["id"]))
                for g in ctx.client.paginate("/usergroups")}

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post("/usergroups", json={"group_name": key, **want})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/usergroups/{live.handle}", json={"group_name": key, **want})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/usergroups/{live.handle}")


def _label_read(ctx: Context, params: Obj) -> Iterator[tuple[str, Live]]:
    for label in ctx.client.paginate("/labels", params=params):
        obj = {k: v for k, v in strip(label).items() if k not in ("name", "scope", "deleted")}
        yield label["name"], Live(obj, int(label["id"]))


class Labels:
    name, section, secret = "label", "labels", frozenset()
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        return dict(_label_read(ctx, {"scope": "g"}))

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post("/labels", json={"name": key, "scope": "g", **want})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/labels/{live.handle}", json={**live.obj, **want, "name": key, "scope": "g"})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/labels/{live.handle}")


#: a project's own fields (its children are kinds of their own)
PROJECT_CHILDREN = ("members", "labels", "immutable_rules", "retention", "webhooks", "trust_policy")


class Projects:
    name, section, secret = "project", "projects", frozenset()
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {name: {k: v for k, v in (body or {}).items() if k not in PROJECT_CHILDREN}
                for name, body in (data.get(self.section) or {}).items()}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        quotas = {str(q.get("ref", {}).get("id", q.get("reference_id"))): q
                  for q in ctx.client.paginate("/quotas", params={"reference": "project"})}
        for project in ctx.client.paginate("/projects"):
            pid = int(project["project_id"])
            ctx.project_ids[project["name"]] = pid
            metadata = dict(project.get("metadata") or {})
            obj: Obj = {"public": metadata.pop("public", "false") == "true"}
            ctx.retention_ids[project["name"]] = metadata.pop("retention_id", None)
            if metadata:
                obj["metadata"] = metadata
            if project.get("registry_id"):
                names = ctx.registry_names()
                obj["registry"] = names.get(int(project["registry_id"]), str(project["registry_id"]))
            allowlist = strip(project.get("cve_allowlist") or {})
            if allowlist.get("items"):
                obj["cve_allowlist"] = allowlist
            quota = quotas.get(str(pid))
            if quota is not None:
                obj["storage_limit"] = int((quota.get("hard") or {}).get("storage", -1))
            out[project["name"]] = Live(obj, {"id": pid, "quota": quota and quota.get("id")})
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        body = {k: v for k, v in want.items() if k != "registry"}
        if "registry" in want:
            body["registry_id"] = ctx.registry_id(want["registry"])
        response = ctx.client.post("/projects", json={"project_name": key, **body})
        created = ctx.client.created_id(response)
        if isinstance(created, int):
            ctx.project_ids[str(key)] = created

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        body = {k: v for k, v in want.items() if k in ("public", "metadata", "cve_allowlist")}
        if body:
            ctx.client.put(f"/projects/{segment(str(key))}", json=body)
        if "storage_limit" in want and want["storage_limit"] != live.obj.get("storage_limit"):
            if not live.handle.get("quota"):
                raise HarborError(404, "NOT_FOUND", f"project {key} has no quota to set")
            ctx.client.put(f"/quotas/{live.handle['quota']}", json={"hard": {"storage": want["storage_limit"]}})
        if "registry" in want and want["registry"] != live.obj.get("registry"):
            raise HarborError(400, "BAD_REQUEST", "a project's proxy-cache registry cannot change (Harbor's rule): "
                              "delete and create the project")

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/projects/{segment(str(key))}")


class Robots:
    name, section, secret = "robot", "robots", frozenset({"secret_file"})
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for robot in ctx.client.paginate("/robots"):
            full = str(robot["name"])
            prefix = ctx.robot_prefix()
            key = full.removeprefix(prefix) if full.startswith(prefix) else full
            obj = strip(robot, SERVER_SET | {"name", "expires_at", "editable", "secret",
                                                          "creator_type", "creator_ref"})
            obj.setdefault("disable", False)
            for permission in obj.get("permissions") or []:
                for access in permission.get("access") or []:
                    if access.get("effect") in ("allow", None):
                        access.pop("effect", None)
            out[key] = Live(obj, {"id": int(robot["id"]), "name": full})
        return out

    def _short(self, key: Key, want: Obj) -> str:
        key = str(key)
        if want.get("level", "system") == "project" and "+" in key:
            return key.split("+", 1)[1]
        return key

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        body = {k: v for k, v in want.items() if k != "secret_file"}
        created = ctx.client.post("/robots", json={"name": self._short(key, want), **body}).json()
        ctx.secrets.append((str(key), str(created.get("name", "")), str(created.get("secret", ""))))

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        body = {**live.obj, **{k: v for k, v in want.items() if k != "secret_file"}, "name": live.handle["name"]}
        ctx.client.put(f"/robots/{live.handle['id']}", json=body)

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/robots/{live.handle['id']}")


class ReplicationPolicies:
    name, section, secret = "replication policy", "replication_policies", frozenset()
    child = False

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for policy in ctx.client.paginate("/replication/policies"):
            obj = strip(policy, SERVER_SET | {"name"})
            for end in ("src_registry", "dest_registry"):
                registry = policy.get(end) or {}
                obj[end] = registry.get("name") if registry.get("id") else None
            out[policy["name"]] = Live(obj, int(policy["id"]))
        return out

    def _body(self, ctx: Context, key: Key, want: Obj) -> Obj:
        body: Obj = {"name": key, **want}
        for end in ("src_registry", "dest_registry"):
            if end in want:
                body[end] = {"id": ctx.registry_id(want[end])} if want[end] else None
        return body

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post("/replication/policies", json=self._body(ctx, key, want))

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        merged = {**live.obj, **want}
        ctx.client.put(f"/replication/policies/{live.handle}", json=self._body(ctx, key, merged))

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/replication/policies/{live.handle}")


class Scanners:
    name, section, secret = "scanner", "scanners", frozenset({"access_credential"})
    child = False
    _SHOWN = ("description", "url", "auth", "skip_certVerify", "use_internal_addr", "disabled", "is_default")

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return dict(data.get(self.section) or {})

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for scanner in ctx.client.paginate("/scanners"):
            obj = {k: scanner[k] for k in self._SHOWN if scanner.get(k) not in (None, "")}
            out[scanner["name"]] = Live(obj, scanner["uuid"])
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        body = {k: v for k, v in want.items() if k != "is_default"}
        uuid = ctx.client.created_id(ctx.client.post("/scanners", json={"name": key, **body}))
        if want.get("is_default"):
            ctx.client.patch(f"/scanners/{uuid}", json={"is_default": True})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        body = {k: v for k, v in {**live.obj, **want}.items() if k != "is_default"}
        ctx.client.put(f"/scanners/{live.handle}", json={"name": key, **body})
        if want.get("is_default") and not live.obj.get("is_default"):
            ctx.client.patch(f"/scanners/{live.handle}", json={"is_default": True})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/scanners/{live.handle}")


# -- a project's children, keyed by (project, key) ---------------------------------------------


def _children(data: Obj, field_: str) -> Iterator[tuple[str, Any]]:
    for project, body in (data.get("projects") or {}).items():
        if body and field_ in body:
            yield project, body[field_]


def _member_key(member: Obj) -> str:
    if member.get("member_user"):
        return "user:" + str(member["member_user"]["username"])
    return "group:" + str((member.get("member_group") or {}).get("group_name"))


class Members:
    name, section, secret = "member", "members", frozenset()
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, _member_key(m)): m for p, members in _children(data, "members") for m in members or []}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for project in projects:
            for member in ctx.client.paginate(f"/projects/{segment(project)}/members"):
                if member.get("entity_type") == "g":
                    obj: Obj = {"role_id": member["role_id"], "member_group": {"group_name": member["entity_name"]}}
                else:
                    obj = {"role_id": member["role_id"], "member_user": {"username": member["entity_name"]}}
                out[(project, _member_key(obj))] = Live(obj, int(member["id"]))
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        group = want.get("member_group") or {}
        if group and not group.get("ldap_group_dn"):  # a group by name: the API takes its id
            name = group.get("group_name")
            found = [g for g in ctx.client.paginate("/usergroups", params={"group_name": name})
                     if g.get("group_name") == name]
            if not found:
                raise HarborError(404, "NOT_FOUND", f"user group {name} not found")
            want = {**want, "member_group": {"id": int(found[0]["id"])}}
        try:
            ctx.client.post(f"/projects/{segment(key[0])}/members", json=want)
        except HarborError as exc:
            if exc.status != 409:
                raise
            # a project created in this run has its creator as a member already: set the role
            existing = self.read(ctx, [key[0]]).get(key)
            if existing is None:
                raise
            self.update(ctx, key, want, existing)

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/members/{live.handle}", json={"role_id": want["role_id"]})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/projects/{segment(key[0])}/members/{live.handle}")


class ProjectLabels:
    name, section, secret = "project label", "labels", frozenset()
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, name): body or {} for p, labels in _children(data, "labels") for name, body in (labels or {}).items()}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        return {(p, name): live for p in projects
                for name, live in _label_read(ctx, {"scope": "p", "project_id": ctx.project_id(p)})}

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post("/labels", json={"name": key[1], "scope": "p", "project_id": ctx.project_id(key[0]), **want})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/labels/{live.handle}", json={**live.obj, **want, "name": key[1], "scope": "p",
                                                       "project_id": ctx.project_id(key[0])})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/labels/{live.handle}")


def _rule_key(rule: Obj) -> str:
    """An immutability rule is its selectors (it has no name)."""
    selectors = {"tag_selectors": strip(rule.get("tag_selectors") or []),
                 "scope_selectors": strip(rule.get("scope_selectors") or {})}
    return json.dumps(selectors, sort_keys=True, separators=(",", ":"))


def rule_label(rule: Obj) -> str:
    """`v*.*.* in **`: how a plan names an immutability rule."""
    tags = ",".join(str(s.get("pattern")) for s in rule.get("tag_selectors") or [])
    repos = ",".join(str(s.get("pattern")) for s in ((rule.get("scope_selectors") or {}).get("repository") or []))
    return f"tags {tags or '**'} in {repos or '**'}"


_RULE_DEFAULTS = {"action": "immutable", "template": "immutable_template"}


class ImmutableRules:
    name, section, secret = "immutability rule", "immutable_rules", frozenset()
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, _rule_key(r)): r for p, rules in _children(data, "immutable_rules") for r in rules or []}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for project in projects:
            for rule in ctx.client.paginate(f"/projects/{segment(project)}/immutabletagrules"):
                obj = strip(rule)
                obj.setdefault("disabled", False)
                out[(project, _rule_key(obj))] = Live(obj, int(rule["id"]))
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post(f"/projects/{segment(key[0])}/immutabletagrules", json={**_RULE_DEFAULTS, **want})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/immutabletagrules/{live.handle}",
                       json={**_RULE_DEFAULTS, **live.obj, **want, "id": live.handle})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/projects/{segment(key[0])}/immutabletagrules/{live.handle}")


class Retention:
    name, section, secret = "retention policy", "retention", frozenset()
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, "retention"): body for p, body in _children(data, "retention") if body is not None}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for project in projects:
            if project not in ctx.retention_ids:  # not in the project list this context read
                metadata = ctx.client.get(f"/projects/{segment(project)}").get("metadata") or {}
                ctx.retention_ids[project] = metadata.get("retention_id")
            if not ctx.retention_ids[project]:
                continue
            policy = ctx.client.get(f"/retentions/{ctx.retention_ids[project]}")
            obj = strip(policy, SERVER_SET | {"scope", "references"})
            if not obj.get("rules"):
                continue  # Harbor keeps an emptied policy: the same as none
            out[(project, "retention")] = Live(obj, int(policy["id"]))
        return out

    def _body(self, ctx: Context, key: Key, want: Obj) -> Obj:
        return {"algorithm": "or", **want, "scope": {"level": "project", "ref": ctx.project_id(key[0])}}

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        metadata = ctx.client.get(f"/projects/{segment(key[0])}").get("metadata") or {}
        if metadata.get("retention_id"):  # an emptied policy Harbor kept: fill it again
            ctx.client.put(f"/retentions/{metadata['retention_id']}", json=self._body(ctx, key, want))
        else:
            ctx.client.post("/retentions", json=self._body(ctx, key, want))

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/retentions/{live.handle}", json=self._body(ctx, key, {**live.obj, **want}))

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.put(f"/retentions/{live.handle}", json=self._body(ctx, key, {**live.obj, "rules": []}))


class Webhooks:
    name, section, secret = "webhook", "webhooks", frozenset({"auth_header"})
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, name): body or {} for p, hooks in _children(data, "webhooks") for name, body in (hooks or {}).items()}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for project in projects:
            for policy in ctx.client.paginate(f"/projects/{segment(project)}/webhook/policies"):
                obj = strip(policy, SERVER_SET | {"name"})
                for target in obj.get("targets") or []:
                    target.pop("auth_header", None)
                    target.setdefault("skip_cert_verify", False)
                out[(project, policy["name"])] = Live(obj, int(policy["id"]))
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.post(f"/projects/{segment(key[0])}/webhook/policies", json={"name": key[1], **want})

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/webhook/policies/{live.handle}",
                       json={**live.obj, **want, "name": key[1], "id": live.handle})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.delete(f"/projects/{segment(key[0])}/webhook/policies/{live.handle}")


class TrustPolicies:
    """berth's per-project trust policy; a registry without the operation (Harbor) has none."""

    name, section, secret = "trust policy", "trust_policy", frozenset()
    child = True

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        return {(p, "trust_policy"): body for p, body in _children(data, "trust_policy") if body is not None}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        out: dict[Key, Live] = {}
        for project in projects:
            try:
                policy = ctx.client.get(f"/projects/{segment(project)}/trust-policy")
            except HarborError as exc:
                if exc.status == 404 and "project" not in exc.message.lower():
                    return {}  # the registry is a Harbor: no trust policies
                raise
            if policy and policy.get("mode", "off") != "off":
                out[(project, "trust_policy")] = Live(strip(policy), None)
        return out

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/trust-policy", json=want)

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/trust-policy", json={**live.obj, **want})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        ctx.client.put(f"/projects/{segment(key[0])}/trust-policy", json={"mode": "off"})


# -- the system's single objects ---------------------------------------------------------------


class SystemItem:
    """`system.cve_allowlist`, `system.gc_schedule`, `system.scan_all_schedule`: one each."""

    secret = frozenset()
    section, child = "system", False

    def __init__(self, field_: str, path: str, label: str) -> None:
        self.field, self.path, self.name = field_, path, label

    def wanted(self, data: Obj) -> dict[Key, Obj]:
        system = data.get("system") or {}
        return {self.field: system[self.field]} if self.field in system else {}

    def read(self, ctx: Context, projects: list[str]) -> dict[Key, Live]:
        current = ctx.client.get(self.path) or {}
        obj = strip(current, SERVER_SET | {"job_kind", "job_name", "job_status", "job_parameters", "deleted"})
        if isinstance(current.get("job_parameters"), str):  # GC's schedule is an ExecHistory: parameters as text
            try:
                obj["parameters"] = json.loads(current["job_parameters"])
            except ValueError:
                pass
        if self.field == "cve_allowlist":
            return {self.field: Live(obj, None)} if obj.get("items") else {}
        schedule = obj.get("schedule") or {}
        if schedule.get("type") in (None, "", "None"):
            return {}
        if not obj.get("parameters"):
            obj.pop("parameters", None)
        return {self.field: Live(obj, True)}

    def create(self, ctx: Context, key: Key, want: Obj) -> None:
        if self.field == "cve_allowlist":
            ctx.client.put(self.path, json=want)
        else:
            ctx.client.post(self.path, json=want)

    def update(self, ctx: Context, key: Key, want: Obj, live: Live) -> None:
        ctx.client.put(self.path, json={**live.obj, **want})

    def delete(self, ctx: Context, key: Key, live: Live) -> None:
        if self.field == "cve_allowlist":
            ctx.client.put(self.path, json={"items": []})
        else:
            ctx.client.put(self.path, json={"schedule": {"type": "None"}})


#: the kinds in the order they are created (deleted in the reverse order)
KINDS: list[Kind] = [
    Registries(), UserGroups(), Labels(), Projects(), Members(), ProjectLabels(), ImmutableRules(),
    Retention(), Webhooks(), TrustPolicies(), Robots(), ReplicationPolicies(), Scanners(),
    SystemItem("cve_allowlist", "/system/CVEAllowlist", "system CVE allowlist"),
    SystemItem("gc_schedule", "/system/gc/schedule", "GC schedule"),
    SystemItem("scan_all_schedule", "/system/scanAll/schedule", "scan-all schedule"),
]


def read_state(client: HarborClient) -> dict[str, dict[Key, Live]]:
    """Every kind's live objects; the children of every project (the projects come first in KINDS)."""
    ctx = Context(client)
    state: dict[str, dict[Key, Live]] = {}
    projects: list[str] = []
    for kind in KINDS:
        state[kind.name] = _sorted(kind.read(ctx, projects))
        if isinstance(kind, Projects):
            projects = [str(k) for k in state[kind.name]]
    return state


def to_document(state: dict[str, dict[Key, Live]]) -> Obj:
    """The live state as a registry.yaml document."""
    doc: Obj = {"version": 1}
    by_name = {kind.name: kind for kind in KINDS}
    projects: Obj = {}
    for name, items in state.items():
        kind = by_name[name]
        if isinstance(kind, SystemItem):
            for key, live in items.items():
                doc.setdefault("system", {})[str(key)] = live.obj
        elif isinstance(kind, Projects):
            for key, live in items.items():
                projects.setdefault(str(key), {}).update(live.obj)
        elif kind.child:
            for (project, child), live in items.items():  # type: ignore[misc]
                body = projects.setdefault(project, {})
                if isinstance(kind, Members | ImmutableRules):
                    body.setdefault(kind.section, []).append(live.obj)
                elif isinstance(kind, Retention | TrustPolicies):
                    body[kind.section] = live.obj
                else:
                    body.setdefault(kind.section, {})[child] = live.obj
        elif items:
            doc[kind.section] = {str(k): live.obj for k, live in items.items()}
    if projects:
        doc["projects"] = dict(sorted(projects.items()))
    order = ["version", "registries", "usergroups", "labels", "projects", "robots", "replication_policies",
             "scanners", "system"]
    return {k: doc[k] for k in order if k in doc}


def export_document(client: HarborClient) -> Obj:
    """The registry's live state in registry.yaml's format (what `berth export` writes)."""
    return to_document(read_state(client))

