"""Harbor's role table and the authorization decision, without a server."""

from __future__ import annotations

import pytest

from berth.auth.rbac import ANONYMOUS, Subject, is_allowed, permissions_in
from berth.security.roles import BERTH_ROLE_PERMISSIONS, PULL, PUSH, ROLE_PERMISSIONS, Permission, ProjectRef, Role

PRIVATE = ProjectRef(id=7, public=False)
PUBLIC = ProjectRef(id=8, public=True)

#: the issue's action families and the roles Harbor lets do them
FAMILIES = {
    "pull": (PULL, {Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER, Role.GUEST, Role.LIMITED_GUEST}),
    "push": (PUSH, {Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER}),
    "delete artifact": (Permission("artifact", "delete"), {Role.PROJECT_ADMIN, Role.MAINTAINER}),
    "delete repository": (Permission("repository", "delete"), {Role.PROJECT_ADMIN, Role.MAINTAINER}),
    "create tag": (Permission("tag", "create"), {Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER}),
    "manage members": (Permission("member", "create"), {Role.PROJECT_ADMIN}),
    "manage robots": (Permission("robot", "create"), {Role.PROJECT_ADMIN}),
    "change project metadata": (Permission("metadata", "update"), {Role.PROJECT_ADMIN}),
    "read the project's audit log": (Permission("log", "list"), {Role.PROJECT_ADMIN}),
}


def member(role: Role, project: ProjectRef = PRIVATE) -> Subject:
    return Subject(name=f"user-{role.name.lower()}", roles={project.id: frozenset({role})})


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_what_harbor_allows_it_and_nothing_more(role: Role, family: str) -> None:
    permission, allowed_roles = FAMILIES[family]
    assert is_allowed(member(role), permission, PRIVATE) == (role in allowed_roles)


@pytest.mark.parametrize("family", FAMILIES)
def test_anonymous_may_only_pull_and_only_from_public_projects(family: str) -> None:
    permission, _ = FAMILIES[family]
    assert not is_allowed(ANONYMOUS, permission, PRIVATE)
    assert is_allowed(ANONYMOUS, permission, PUBLIC) == (family == "pull")


@pytest.mark.parametrize("family", FAMILIES)
def test_system_administrators_may_do_everything(family: str) -> None:
    assert is_allowed(Subject(name="admin", sysadmin=True), FAMILIES[family][0], PRIVATE)


def test_a_role_in_one_project_grants_nothing_in_another() -> None:
    admin_elsewhere = member(Role.PROJECT_ADMIN, ProjectRef(id=99, public=False))
    assert not is_allowed(admin_elsewhere, PULL, PRIVATE)
    assert is_allowed(admin_elsewhere, PULL, PUBLIC) and not is_allowed(admin_elsewhere, PUSH, PUBLIC)


def test_roles_from_groups_add_up() -> None:
    both = Subject(name="u", roles={PRIVATE.id: frozenset({Role.GUEST, Role.DEVELOPER})})
    assert is_allowed(both, PUSH, PRIVATE)


def test_robots_get_exactly_their_grants() -> None:
    robot = Subject(name="robot$ci", grants={PRIVATE.id: frozenset({PULL, PUSH})})
    assert is_allowed(robot, PUSH, PRIVATE)
    assert not is_allowed(robot, Permission("artifact", "delete"), PRIVATE)
    assert not is_allowed(robot, PULL, ProjectRef(id=1, public=False))


def test_the_table_has_harbors_shape() -> None:
    sizes = {role: len(perms - BERTH_ROLE_PERMISSIONS[role]) for role, perms in ROLE_PERMISSIONS.items()}
    assert sizes == {
        Role.PROJECT_ADMIN: 75,
        Role.MAINTAINER: 53,
        Role.DEVELOPER: 36,
        Role.GUEST: 20,
        Role.LIMITED_GUEST: 14,
    }
    admin = ROLE_PERMISSIONS[Role.PROJECT_ADMIN]
    assert all(perms <= admin for perms in ROLE_PERMISSIONS.values())
    # limitedGuest is guest without member/label/robot visibility
    assert ROLE_PERMISSIONS[Role.LIMITED_GUEST] < ROLE_PERMISSIONS[Role.GUEST]
    assert Permission("member", "list") not in ROLE_PERMISSIONS[Role.LIMITED_GUEST]


def test_public_projects_grant_a_subset_of_guest() -> None:
    assert permissions_in(ANONYMOUS, PUBLIC) <= ROLE_PERMISSIONS[Role.GUEST]
    assert permissions_in(ANONYMOUS, PRIVATE) == frozenset()
