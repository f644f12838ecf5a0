"""The PyPI `harborapi` client (written against Harbor by others) drives berth's identity endpoints.
Where harborapi's models reject an answer, berth is wrong."""

from __future__ import annotations

import uuid

import pytest
from harborapi import HarborAsyncClient
from harborapi.exceptions import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed, Unauthorized
from harborapi.models import (
    Access,
    Configurations,
    ProjectMetadata,
    ProjectReq,
    Robot,
    RobotCreate,
    RobotPermission,
    UserCreationReq,
    UserGroup,
    UserProfile,
)

PASSWORD = "Passw0rd-harborapi"


def _client(berth, username: str = "admin", secret: str | None = None) -> HarborAsyncClient:  # type: ignore[no-untyped-def]
    return HarborAsyncClient(url=f"{berth.url}/api/v2.0", username=username, secret=secret or berth.admin_password,
                             timeout=30, retry=None)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_projects_and_their_metadata(berth):
    client = _client(berth)
    name = _name("hapi")
    location = await client.create_project(ProjectReq(project_name=name, metadata=ProjectMetadata(public="true", auto_scan="true"),
                                                      storage_limit=1024**3))
    assert location.endswith("/projects/" + location.rsplit("/", 1)[1])
    assert await client.project_exists(name) and not await client.project_exists(_name("absent"))
    project = await client.get_project(name)
    assert project.name == name and project.metadata.public == "true" and project.metadata.auto_scan == "true"
    assert project.owner_name == "admin" and project.current_user_role_id == 1
    assert (await client.get_project(project.project_id)).name == name
    listed = await client.get_projects(name=name)
    assert [p.name for p in listed] == [name]
    await client.update_project(name, ProjectReq(metadata=ProjectMetadata(severity="high", prevent_vul="true")))
    assert (await client.get_project_metadata(name)).severity == "high"
    await client.update_project_metadata_entry(name, "severity", {"severity": "critical"})
    assert (await client.get_project_metadata_entry(name, "severity")) == {"severity": "critical"}
    await client.delete_project_metadata_entry(name, "severity")
    with pytest.raises(NotFound):
        await client.get_project_metadata_entry(name, "severity")
    summary = await client.get_project_summary(name)
    assert summary.repo_count == 0 and summary.project_admin_count == 1
    assert summary.quota.hard.root == {"storage": 1024**3} and summary.quota.used.root == {"storage": 0}
    assert (await client.get_project_deletable(name)).deletable is True
    await client.delete_project(name)
    assert not await client.project_exists(name)
    with pytest.raises(Conflict):
        await client.create_project(ProjectReq(project_name="library"))
    with pytest.raises(BadRequest):
        await client.create_project(ProjectReq(project_name="Upper_Case!"))


async def test_users_passwords_and_the_current_user(berth):
    admin = _client(berth)
    name = _name("hapi-user")
    await admin.create_user(UserCreationReq(username=name, email=f"{name}@example.test", password=PASSWORD,
                                            realname="Harbor API", comment="from harborapi"))
    user = await admin.get_user_by_username(name)
    assert user.email == f"{name}@example.test" and user.realname == "Harbor API" and not user.sysadmin_flag
    assert any(u.username == name for u in await admin.get_users(query=f"username=~{name[:12]}", page_size=100))
    assert [u.username for u in await admin.search_users_by_username(name)] == [name]
    await admin.update_user(user.user_id, UserProfile(email=f"new-{name}@example.test", realname="Renamed", comment="c"))
    assert (await admin.get_user(user.user_id)).realname == "Renamed"
    me = _client(berth, name, PASSWORD)
    assert (await me.get_current_user()).username == name
    with pytest.raises(Forbidden):
        await me.get_users()
    with pytest.raises(Forbidden):
        await me.set_user_password(user.user_id, "Next-passw0rd", old_password="Not-the-passw0rd")
    await me.set_user_password(user.user_id, "Next-passw0rd", old_password=PASSWORD)
    with pytest.raises(Unauthorized):
        await _client(berth, name, PASSWORD).get_current_user()
    again = _client(berth, name, "Next-passw0rd")
    assert (await again.get_current_user()).username == name
    await admin.set_user_admin(user.user_id, True)
    assert (await again.get_current_user()).sysadmin_flag is True
    await admin.set_user_admin(user.user_id, False)
    with pytest.raises(PreconditionFailed):  # a CLI secret needs OIDC
        await admin.set_user_cli_secret(user.user_id, "Cli-secret-1")
    await admin.delete_user(user.user_id)
    with pytest.raises(NotFound):
        await admin.get_user(user.user_id)
    with pytest.raises(Forbidden):
        await admin.delete_user(1)


async def test_members_with_every_role_and_user_groups(berth):
    admin = _client(berth)
    project, username = _name("hapi-members"), _name("member")
    await admin.create_project(ProjectReq(project_name=project))
    await admin.create_user(UserCreationReq(username=username, email=f"{username}@example.test", password=PASSWORD))
    location = await admin.add_project_member_user(project, username, 2)
    member_id = int(location.rsplit("/", 1)[1])
    member = await admin.get_project_member(project, member_id)
    assert member.entity_name == username and member.role_name == "developer" and member.entity_type == "u"
    for role_id, role_name in ((1, "projectAdmin"), (3, "guest"), (4, "maintainer"), (5, "limitedGuest")):
        await admin.update_project_member_role(project, member_id, role_id)
        assert (await admin.get_project_member(project, member_id)).role_name == role_name
    with pytest.raises(Conflict):
        await admin.add_project_member_user(project, username, 3)
    with pytest.raises(BadRequest):
        await admin.update_project_member_role(project, member_id, 9)
    group_name = _name("http-group")
    group_location = await admin.create_usergroup(UserGroup(group_name=group_name, group_type=2))
    group_id = int(group_location.rsplit("/", 1)[1])
    assert (await admin.get_usergroup(group_id)).group_name == group_name
    assert [g.id for g in await admin.search_usergroups(group_name)] == [group_id]
    assert any(g.id == group_id for g in await admin.get_usergroups(group_name=group_name))
    await admin.update_usergroup(group_id, UserGroup(group_name=group_name + "-renamed"))
    assert (await admin.get_usergroup(group_id)).group_name == group_name + "-renamed"
    await admin.add_project_member_group(project, group_id, 3)
    members = await admin.get_project_members(project, page_size=100)
    assert {m.entity_type for m in members} == {"u", "g"} and len(members) == 3  # admin, the user, the group
    await admin.remove_project_member(project, member_id)
    assert len(await admin.get_project_members(project)) == 2
    await admin.delete_usergroup(group_id)
    assert len(await admin.get_project_members(project)) == 1


async def test_robots_from_creation_to_deletion(berth):
    admin = _client(berth)
    project = _name("hapi-robots")
    await admin.create_project(ProjectReq(project_name=project))
    created = await admin.create_robot(RobotCreate(
        name="builder", description="CI", level="project", duration=30, disable=False,
        permissions=[RobotPermission(kind="project", namespace=project,
                                     access=[Access(resource="repository", action="push")])]))
    assert created.name == f"robot${project}+builder" and len(created.secret) == 32
    robot = await admin.get_robot(created.id)
    actions = {(a.resource, a.action) for a in robot.permissions[0].access}
    assert actions == {("repository", "push"), ("repository", "pull")}  # push implies pull, as in Harbor
    assert robot.level == "project" and robot.duration == 30 and robot.expires_at > 0 and robot.editable
    pid = (await admin.get_project(project)).project_id
    listed = await admin.get_robots(query=f"Level=project,ProjectID={pid}")
    assert [r.id for r in listed] == [created.id]
    await admin.update_robot(created.id, Robot(
        name=robot.name, level="project", duration=-1, disable=True, description="paused",
        permissions=[RobotPermission(kind="project", namespace=project,
                                     access=[Access(resource="repository", action="pull")])]))
    robot = await admin.get_robot(created.id)
    assert robot.disable is True and robot.expires_at == -1 and robot.description == "paused"
    refreshed = await admin.refresh_robot_secret(created.id, "Fresh-secret-123")
    assert not refreshed.secret  # a secret the caller chose is not echoed
    system = await admin.create_robot(RobotCreate(
        name=_name("sys"), level="system", duration=-1,
        permissions=[RobotPermission(kind="system", namespace="/", access=[Access(resource="project", action="create")]),
                     RobotPermission(kind="project", namespace="*", access=[Access(resource="repository", action="pull")])]))
    assert system.name.startswith("robot$sys-")
    with pytest.raises(Conflict):
        await admin.create_robot(RobotCreate(name="builder", level="project", duration=-1, permissions=[
            RobotPermission(kind="project", namespace=project, access=[Access(resource="repository", action="pull")])]))
    permissions = await admin.get_permissions()
    assert any(p.resource == "repository" and p.action == "push" for p in permissions.project)
    await admin.delete_robot(created.id)
    await admin.delete_robot(system.id)
    with pytest.raises(NotFound):
        await admin.get_robot(created.id)


async def test_system_info_permissions_and_configurations(berth):
    admin = _client(berth)
    info = await admin.get_system_info()
    assert info.auth_mode == "db_auth" and info.registry_url and info.harbor_version
    config = await admin.get_config()
    assert config.auth_mode.value == "db_auth" and config.token_expiration.value == 30
    await admin.update_config(Configurations(banner_message="hello from harborapi"))
    assert (await admin.get_config()).banner_message.value == "hello from harborapi"
    await admin.update_config(Configurations(banner_message=""))
    permissions = await admin.get_current_user_permissions(scope="/project/1", relative=True)
    assert any(p.resource == "repository" and p.action == "push" for p in permissions)
