"""Harbor's project roles, the permissions each one grants, and what robots may be granted (data only).

The role table is Harbor's (src/common/rbac/project/rbac_role.go), with Harbor's
resource and action names; Harbor's "self" resource (the project itself) is called
"project" here; berth adds its own `trust-policy` resource (read by members, updated by project
admins). Services read these tables; the decisions built on them are
auth/rbac.py's (`is_allowed`, `is_allowed_system`), the only place that decides access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType


class Role(IntEnum):
    """Harbor's project role ids, as the API carries them (`role_id`)."""

    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5


ROLE_NAMES = {
    Role.PROJECT_ADMIN: "projectAdmin",
    Role.DEVELOPER: "developer",
    Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer",
    Role.LIMITED_GUEST: "limitedGuest",
}


@dataclass(frozen=True, slots=True)
class Permission:
    resource: str
    action: str

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"


def _permissions(spec: Mapping[str, str]) -> frozenset[Permission]:
    return frozenset(Permission(resource, action) for resource, actions in spec.items() for action in actions.split())


# resource -> space-separated actions, per role
_ROLE_TABLE: dict[str, dict[str, str]] = {
    "projectAdmin": {
        "project": "read update delete",
        "member": "create read update delete list",
        "metadata": "create read update delete",
        "log": "list",
        "label": "create read update delete list",
        "quota": "read",
        "repository": "create read update delete list pull push",
        "tag-retention": "create read update delete list operate",
        "immutable-tag": "create update delete list",
        "configuration": "read update",
        "robot": "create read update delete list",
        "notification-policy": "create update delete list read",
        "scan": "create read stop",
        "sbom": "create stop read",
        "scanner": "read create",
        "artifact": "create read delete list",
        "artifact-addition": "read",
        "tag": "list create delete",
        "accessory": "list",
        "artifact-label": "create delete",
        "preheat-policy": "create read update delete list",
        "export-cve": "create read list",
    },
    "maintainer": {
        "project": "read",
        "member": "read list",
        "metadata": "read",
        "quota": "read",
        "label": "create read update delete list",
        "repository": "create read update delete list push pull",
        "tag-retention": "create read update delete list operate",
        "accessory": "list",
        "immutable-tag": "create update delete list",
        "configuration": "read",
        "robot": "read list",
        "notification-policy": "read list",
        "scan": "create read stop",
        "sbom": "create stop read",
        "scanner": "read",
        "artifact": "create read delete list",
        "artifact-addition": "read",
        "tag": "list create delete",
        "artifact-label": "create delete",
        "export-cve": "create read list",
    },
    "developer": {
        "project": "read",
        "member": "read list",
        "label": "read list",
        "quota": "read",
        "repository": "create read update list push pull",
        "tag-retention": "create read update delete list operate",
        "configuration": "read",
        "robot": "read list",
        "scan": "read",
        "sbom": "read",
        "scanner": "read",
        "artifact": "create read list",
        "artifact-addition": "read",
        "tag": "list create",
        "accessory": "list",
        "artifact-label": "create delete",
        "export-cve": "create read list",
    },
    "guest": {
        "project": "read",
        "member": "read list",
        "label": "read list",
        "quota": "read",
        "repository": "read list pull",
        "configuration": "read",
        "robot": "read list",
        "scan": "read",
        "sbom": "read",
        "scanner": "read",
        "tag": "list",
        "accessory": "list",
        "artifact": "read list",
        "artifact-addition": "read",
    },
    "limitedGuest": {
        "project": "read",
        "quota": "read",
        "repository": "list read pull",
        "configuration": "read",
        "scan": "read",
        "sbom": "read",
        "scanner": "read",
        "tag": "list",
        "accessory": "list",
        "artifact": "read list",
        "artifact-addition": "read",
    },
}

# berth's resources, per role: a project's trust policy is read by its members, changed by its admins
_BERTH_ROLE_TABLE: dict[str, dict[str, str]] = {
    "projectAdmin": {"trust-policy": "read update"},
    "maintainer": {"trust-policy": "read"},
    "developer": {"trust-policy": "read"},
    "guest": {"trust-policy": "read"},
    "limitedGuest": {"trust-policy": "read"},
}
#: what berth adds to Harbor's role table, per role
BERTH_ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {role: _permissions(_BERTH_ROLE_TABLE[name]) for role, name in ROLE_NAMES.items()}
)
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {role: _permissions(_ROLE_TABLE[name]) | BERTH_ROLE_PERMISSIONS[role] for role, name in ROLE_NAMES.items()}
)

#: what everyone, anonymous included, may do in a public project
PUBLIC_PROJECT_PERMISSIONS = _permissions(
    {
        "project": "read",
        "label": "read list",
        "repository": "list pull",
        "scan": "read",
        "scanner": "read",
        "tag": "list",
        "artifact": "read list",
        "artifact-addition": "read",
        "accessory": "list",
    }
)

PULL = Permission("repository", "pull")
PUSH = Permission("repository", "push")


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: int
    public: bool
    #: unix time the project was created (tokens issued before it do not open it)
    created_at: float = 0.0
    #: the upstream registry endpoint of a proxy-cache project (0: an ordinary project)
    registry_id: int = 0


# --- system level and robots ---------------------------------------------------------------------

#: what may be granted to a robot, per scope (Harbor's PoliciesMap in src/common/rbac/const.go)
ROBOT_SYSTEM_PERMISSIONS = _permissions(
    {
        "audit-log": "list",
        "preheat-instance": "read create delete list update",
        "project": "list create",
        "replication-policy": "read create delete list update",
        "replication": "read create list",
        "replication-adapter": "list",
        "registry": "read create delete list update",
        "scan-all": "read update stop create",
        "system-volumes": "read",
        "garbage-collection": "read create list update stop",
        "purge-audit": "read create list update stop",
        "jobservice-monitor": "list stop",
        "scanner": "read create delete list update",
        "label": "read create delete update",
        "security-hub": "read list",
        "catalog": "read",
        "quota": "read list",
    }
)
ROBOT_PROJECT_PERMISSIONS = _permissions(
    {
        "log": "list",
        "project": "read delete update",
        "metadata": "read create delete list update",
        "repository": "read update delete list pull push",
        "artifact": "read create list delete",
        "scan": "create read stop",
        "sbom": "create stop read",
        "tag": "create list delete",
        "accessory": "list",
        "artifact-addition": "read",
        "artifact-label": "create delete",
        "scanner": "create read",
        "preheat-policy": "read create delete list update",
        "immutable-tag": "create delete list update",
        "notification-policy": "read create delete list update",
        "tag-retention": "read create delete list update",
        "label": "read create delete list update",
        "quota": "read",
    }
)
#: what only a system administrator may hand out (Harbor's NolimitProvider extras)
ADMIN_ONLY_SYSTEM_PERMISSIONS = _permissions(
    {"robot": "create read list delete", "user": "create read update list delete", "ldap-user": "create list",
     "quota": "update", "user-group": "create read update list delete"}
)
ADMIN_ONLY_PROJECT_PERMISSIONS = _permissions(
    {"robot": "create read list delete", "export-cve": "create read", "member": "create read update list delete"}
)

#: grants keyed by this project id apply to every project ("/project/*")
ALL_PROJECTS = 0


def grantable(kind: str, sysadmin: bool) -> frozenset[Permission]:
    """What a robot of `kind` ("system" or "project") may be given by a creator (admins get more)."""
    if kind == "system":
        return ROBOT_SYSTEM_PERMISSIONS | (ADMIN_ONLY_SYSTEM_PERMISSIONS if sysadmin else frozenset())
    return ROBOT_PROJECT_PERMISSIONS | (ADMIN_ONLY_PROJECT_PERMISSIONS if sysadmin else frozenset())
