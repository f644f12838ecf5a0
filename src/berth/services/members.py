"""Who a new project member is: a user (by id or name) or a user group (by id, or by name or LDAP DN,
created when new), as Harbor's member API and the web UI's members page take them."""

from __future__ import annotations

from berth.services.errors import BadRequest
from berth.services.usergroups import LDAP_GROUP, UserGroupService
from berth.services.users import UserService


async def user_entity(users: UserService, user_id: int | None, username: str | None) -> tuple[str, int]:
    """("u", id) of an existing user, by id or by name."""
    if user_id:
        return "u", (await users.get(user_id)).id
    user = await users.find_by_name(username or "")
    if user is None:
        raise BadRequest(f"User {username} not found")
    return "u", user.id


async def group_entity(
    groups: UserGroupService, group_id: int | None, group_type: int | None, group_name: str | None,
    ldap_group_dn: str | None,
) -> tuple[str, int]:
    """("g", id) of a group by id, or by name / LDAP DN (created when berth does not know it yet)."""
    if group_id:
        return "g", (await groups.get(group_id)).id
    name = group_name or (ldap_group_dn or "").split(",", 1)[0].partition("=")[2]
    group = await groups.ensure(group_type or LDAP_GROUP, name, ldap_group_dn or "")
    return "g", group.id
