"""The one authorization decision: who is asking (`Subject`) and what they may do.

Every front asks `is_allowed(subject, permission, project)` or `is_allowed_system(subject,
permission)`; nothing else decides access. The tables the decisions read (Harbor's roles, the
permissions each grants, what robots may hold) are data in security/roles.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from berth.security.roles import (
    ALL_PROJECTS,
    PUBLIC_PROJECT_PERMISSIONS,
    PULL,
    ROLE_PERMISSIONS,
    Permission,
    ProjectRef,
    Role,
)


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking: anonymous (name None), a user (with roles per project id, groups included),
    a system administrator, a robot (with explicit grants per project id), or the holder of a
    registry bearer token (with the token's repository access)."""

    name: str | None = None
    sysadmin: bool = False
    roles: Mapping[int, frozenset[Role]] = field(default_factory=dict)
    #: robots: project id (or ALL_PROJECTS) -> permissions granted; None for users
    grants: Mapping[int, frozenset[Permission]] | None = None
    #: robots: system-level permissions granted
    system_grants: frozenset[Permission] = frozenset()
    #: "anonymous", "user", "robot" or "token"
    kind: str = "anonymous"
    user_id: int | None = None
    robot_id: int | None = None
    #: bearer tokens: repository name -> actions, and when the token was issued
    access: Mapping[str, frozenset[str]] | None = None
    issued_at: float | None = None
    #: bearer tokens: whether the token was issued for the catalog (registry:catalog:*)
    catalog: bool = False
    #: unix time the credentials stop working (expiring robots)
    expires_at: float | None = None

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
        granted |= subject.grants.get(project.id, frozenset()) | subject.grants.get(ALL_PROJECTS, frozenset())
    else:
        for role in subject.roles.get(project.id, ()):
            granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def is_allowed(subject: Subject, permission: Permission, project: ProjectRef) -> bool:
    """The one authorization decision for anything inside a project."""
    return subject.sysadmin or permission in permissions_in(subject, project)


# --- Harbor's resource paths (GET /users/current/permissions) ------------------------------------

_PROJECT_SCOPE = re.compile(r"^/project/([^/]*)")


def scope_project(scope: str) -> str | None:
    """The project (id, or name in berth) a permission scope names, from its first segments as
    Harbor's project namespace reads it (`/project/1`, `/project/1/repository` -> "1"); None when the
    scope is not a project's."""
    match = _PROJECT_SCOPE.match(scope)
    return match.group(1) if match else None


def resource_paths(
    granted: frozenset[Permission], namespace: str, scope: str, relative: bool,
) -> list[tuple[str, str]]:
    """(resource, action) as Harbor lists a namespace's permissions: each resource as a path in
    `namespace` (`/project/1/repository`, `/system/user`; the project itself is `/project/1`) or, with
    `relative`, as that path relative to `scope` ("." for the scope itself), leaving out the paths
    outside `scope` (Harbor's Resource.RelativeTo: a string prefix)."""
    out = []
    for permission in sorted(granted, key=lambda p: (p.resource, p.action)):
        own = namespace.startswith("/project/") and permission.resource == "project"  # Harbor's "self"
        path = namespace if own else f"{namespace}/{permission.resource}"
        if relative:
            if not path.startswith(scope):
                continue
            path = path.removeprefix(scope).lstrip("/") or "."
        out.append((path, permission.action))
    return out


def is_allowed_system(subject: Subject, permission: Permission) -> bool:
    """The one decision for system-level resources (users, groups, robots, configuration ...)."""
    return subject.sysadmin or permission in subject.system_grants


def repository_actions(subject: Subject, project: ProjectRef, repository: str) -> frozenset[str]:
    """The /v2 actions (pull, push, delete, scanner-pull) `subject` holds on `repository`.

    A bearer-token subject holds what its token lists for that repository, and nothing in a
    project created after the token was issued (a deleted and re-created project is another project).
    """
    if subject.access is not None:
        # `iat` has whole seconds: a token from the second the project was created still counts
        if subject.issued_at is not None and subject.issued_at < int(project.created_at):
            return frozenset()
        return subject.access.get(repository, frozenset())
    permissions = permissions_in(subject, project)
    return frozenset(
        action for action in ("pull", "push", "delete", "scanner-pull")
        if subject.sysadmin or Permission("repository", action) in permissions
    )


_LIST_REPOSITORIES = Permission("repository", "list")


def member_project_ids(subject: Subject) -> set[int] | None:
    """The projects `subject` belongs to, which a project list shows besides the public ones (None:
    every project, for system administrators and robots of all projects)."""
    if subject.sysadmin:
        return None
    if subject.grants is not None:
        return None if ALL_PROJECTS in subject.grants else set(subject.grants)
    return set(subject.roles)


def visible_project_ids(subject: Subject, public_ids: set[int]) -> set[int] | None:
    """Projects whose repositories `subject` may list or pull (None: every project)."""
    if subject.sysadmin:
        return None
    ids = set(public_ids)
    if subject.grants is not None:
        # a robot that may pull a project's repositories may also see their names
        def sees(granted: frozenset[Permission]) -> bool:
            return _LIST_REPOSITORIES in granted or PULL in granted

        if sees(subject.grants.get(ALL_PROJECTS, frozenset())):
            return None
        ids |= {pid for pid, granted in subject.grants.items() if sees(granted)}
    else:
        ids |= {pid for pid, roles in subject.roles.items() if any(_LIST_REPOSITORIES in ROLE_PERMISSIONS[r] for r in roles)}
    return ids


_LIST_AUDIT = Permission("audit-log", "list")
_LIST_PROJECT_LOG = Permission("log", "list")


def audit_project_ids(subject: Subject) -> set[int] | None:
    """The projects whose audit rows `subject` may read (None: every row), as Harbor's audit API
    decides: the system permission reads all; otherwise the projects where a role grants log:list
    (project admins). Robots read only through the system permission."""
    if is_allowed_system(subject, _LIST_AUDIT):
        return None
    if subject.grants is not None:
        return set()
    return {pid for pid, roles in subject.roles.items() if any(_LIST_PROJECT_LOG in ROLE_PERMISSIONS[r] for r in roles)}
