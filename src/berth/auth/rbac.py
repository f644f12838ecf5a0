"""Harbor's project roles, the permissions each one grants, and the one authorization decision.

Every front asks `is_allowed(subject, permission, project)`; nothing else decides
access. The role table is Harbor's (src/common/rbac/project/rbac_role.go), with
Harbor's resource and action names; Harbor's "self" resource (the project
itself) is called "project" here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {role: _permissions(_ROLE_TABLE[name]) for role, name in ROLE_NAMES.items()}
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


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking: anonymous (name None), a user (with roles per project id, groups included),
    a system administrator, or a robot (with explicit grants per project id)."""

    name: str | None = None
    sysadmin: bool = False
    roles: Mapping[int, frozenset[Role]] = field(default_factory=dict)
    #: robots: project id -> permissions granted; None for users
    grants: Mapping[int, frozenset[Permission]] | None = None

    @property
    def anonymous(self) -> bool:
        return self.name is None


ANONYMOUS = Subject()


def permissions_in(subject: Subject, project: ProjectRef) -> frozenset[Permission]:
    """Everything `subject` may do in `project` (a system administrator: every project permission)."""
    if subject.sysadmin:
        return ROLE_PERMISSIONS[Role.PROJECT_ADMIN]
    granted: set[Permission] = set(PUBLIC_PROJECT_PERMISSIONS) if project.public else set()
    if subject.grants is not None:
        granted |= subject.grants.get(project.id, frozenset())
    else:
        for role in subject.roles.get(project.id, ()):
            granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def is_allowed(subject: Subject, permission: Permission, project: ProjectRef) -> bool:
    """The one authorization decision for anything inside a project."""
    return subject.sysadmin or permission in permissions_in(subject, project)
