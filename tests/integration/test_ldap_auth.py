"""LDAP authentication end to end, against a real slapd the tests start and seed (tests/ldap_server.py)."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.conftest import start_berth
from tests.ldap_server import LdapServer, ldap_server  # noqa: F401  (fixture)

from .helpers import unique


def ldap_settings(ldap: LdapServer) -> dict[str, object]:
    return {
        "auth_mode": "ldap_auth",
        "ldap_url": ldap.url,
        "ldap_search_dn": ldap.bind_dn,
        "ldap_search_password": ldap.bind_password,
        "ldap_base_dn": ldap.base_dn,
        "ldap_filter": "(objectClass=inetOrgPerson)",
        "ldap_uid": "uid",
        "ldap_scope": 2,
        "ldap_group_base_dn": ldap.groups_dn,
        "ldap_group_search_filter": "(objectClass=groupOfNames)",
        "ldap_group_attribute_name": "cn",
        "ldap_group_admin_dn": ldap.admin_group_dn,
        "ldap_group_membership_attribute": "memberof",
    }


@pytest.fixture
def ldap_berth(ldap_server, tmp_path):  # noqa: F811
    server = start_berth(tmp_path / "data", projects=())
    with server.client() as api:
        response = api.put("/api/v2.0/configurations", json=ldap_settings(ldap_server))
        assert response.status_code == 200, response.text
    yield server
    server.stop()


def _token(server, user: str, password: str, scope: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(f"{server.url}/service/token", auth=(user, password),
                     params={"service": "harbor-registry", "scope": scope})


def test_ldap_users_log_in_through_the_token_service_and_get_their_groups_roles(ldap_berth, ldap_server):  # noqa: F811
    server = ldap_berth
    project = unique("ldap")
    with server.client() as api:
        assert api.get("/api/v2.0/configurations").json()["auth_mode"]["value"] == "ldap_auth"
        assert "ldap_search_password" not in api.get("/api/v2.0/configurations").json()
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        group = api.post("/api/v2.0/usergroups", json={"group_type": 1, "ldap_group_dn": ldap_server.group_dn("developers")})
        assert group.status_code == 201, group.text
        group_id = int(group.headers["location"].rsplit("/", 1)[1])
        assert api.get(f"/api/v2.0/usergroups/{group_id}").json()["group_name"] == "developers"
        member = api.post(f"/api/v2.0/projects/{project}/members", json={"role_id": 2, "member_group": {"id": group_id}})
        assert member.status_code == 201, member.text

    # alice is in "developers": the token lets her push there, though she was never added by name
    token = _token(server, "alice", ldap_server.passwords["alice"], f"repository:{project}/app:pull,push")
    assert token.status_code == 200
    pushed = httpx.post(f"{server.url}/v2/{project}/app/blobs/uploads/",
                        headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert pushed.status_code == 202
    with httpx.Client(base_url=server.url, auth=("alice", ldap_server.passwords["alice"])) as alice:
        me = alice.get("/api/v2.0/users/current").json()
        assert me["username"] == "alice" and me["email"] == "alice@berth.test" and me["realname"] == "Alice Liddell"
        assert me["sysadmin_flag"] is False
        assert alice.get("/api/v2.0/users").status_code == 403
        assert alice.get(f"/api/v2.0/projects/{project}").json()["current_user_role_ids"] == [2]

    # carol is in the admin group: a system admin while LDAP says so
    with httpx.Client(base_url=server.url, auth=("carol", ldap_server.passwords["carol"])) as carol:
        assert carol.get("/api/v2.0/users/current").json()["sysadmin_flag"] is True
        assert carol.get("/api/v2.0/users").status_code == 200

    assert _token(server, "alice", "Wrong-passw0rd", f"repository:{project}/app:pull").status_code == 401
    assert _token(server, "mallory", "Any-passw0rd1", f"repository:{project}/app:pull").status_code == 401
    # the local admin still logs in with its own password
    assert httpx.get(f"{server.url}/v2/", auth=server.auth).status_code == 200
    with server.client() as api:
        refused = api.put("/api/v2.0/configurations", json={"auth_mode": "db_auth"})
        assert refused.status_code == 400 and "users other than admin" in refused.json()["errors"][0]["message"]
        assert api.post("/api/v2.0/users", json={"username": "local", "email": "l@example.test",
                                                 "password": "Passw0rd-x"}).status_code == 403


def test_ldap_ping_search_and_import(ldap_berth, ldap_server):  # noqa: F811
    with ldap_berth.client() as api:
        assert api.post("/api/v2.0/ldap/ping").json() == {"success": True}  # empty message left out, as in Harbor
        wrong = api.post("/api/v2.0/ldap/ping", json={"ldap_url": ldap_server.url, "ldap_search_dn": ldap_server.bind_dn,
                                                       "ldap_search_password": "Wrong-1", "ldap_base_dn": ldap_server.base_dn})
        # false is left out, as Harbor's omitempty does
        assert wrong.status_code == 200 and "success" not in wrong.json() and wrong.json()["message"]
        users = api.get("/api/v2.0/ldap/users/search", params={"username": "alice"}).json()
        assert users == [{"username": "alice", "realname": "Alice Liddell", "email": "alice@berth.test"}]
        everyone = api.get("/api/v2.0/ldap/users/search").json()
        assert {u["username"] for u in everyone} == {"alice", "bob", "carol"}
        groups = api.get("/api/v2.0/ldap/groups/search", params={"groupname": "developers"}).json()
        assert groups == [{"group_name": "developers", "ldap_group_dn": ldap_server.group_dn("developers"), "group_type": 1}]
        imported = api.post("/api/v2.0/ldap/users/import", json={"ldap_uid_list": ["bob", "nobody"]})
        assert imported.status_code == 404 and imported.json() == [{"uid": "nobody", "error": "404"}]
        bob = api.get("/api/v2.0/users/search", params={"username": "bob"}).json()
        assert [u["username"] for u in bob] == ["bob"]
        again = api.post("/api/v2.0/ldap/users/import", json={"ldap_uid_list": ["bob"]})
        assert again.status_code == 404 and again.json() == [{"uid": "bob", "error": "409"}]
        missing_group = api.post("/api/v2.0/usergroups", json={"group_type": 1, "ldap_group_dn": f"cn=ghosts,{ldap_server.groups_dn}"})
        assert missing_group.status_code == 400 and "not found" in missing_group.json()["errors"][0]["message"]
    with httpx.Client(base_url=ldap_berth.url, auth=("alice", ldap_server.passwords["alice"])) as alice:
        assert alice.get("/api/v2.0/ldap/users/search").status_code == 403


def test_ldap_settings_can_come_from_the_config_file(ldap_server, tmp_path):  # noqa: F811
    config = tmp_path / "berth.yaml"
    config.write_text(yaml.safe_dump({"configurations": ldap_settings(ldap_server)}))
    server = start_berth(tmp_path / "data", env={"BERTH_CONFIG_FILE": str(config)}, projects=())
    try:
        assert httpx.get(f"{server.url}/api/v2.0/systeminfo").json()["auth_mode"] == "ldap_auth"
        assert _token(server, "bob", ldap_server.passwords["bob"], "repository:library/a:pull").status_code == 200
        with server.client() as api:
            items = api.get("/api/v2.0/configurations").json()
            assert items["ldap_url"] == {"value": ldap_server.url, "editable": False}
            assert items["banner_message"]["editable"] is True
            assert items["uaa_endpoint"] == {"value": "", "editable": False}
            refused = api.put("/api/v2.0/configurations", json={"ldap_url": "ldap://elsewhere"})
            assert refused.status_code == 400 and "config file" in refused.json()["errors"][0]["message"]
    finally:
        server.stop()
    assert ldap_server.bind_password not in server.log()


def test_a_directory_entry_named_admin_never_becomes_the_local_admin(ldap_berth, ldap_server):  # noqa: F811
    import ldap3

    connection = ldap3.Connection(ldap_server.url, ldap_server.bind_dn, ldap_server.bind_password, auto_bind=True)
    password = "Mallory-Passw0rd"
    connection.add(f"uid=admin,{ldap_server.people_dn}", ["inetOrgPerson"],
                   {"cn": "Mallory", "sn": "M", "mail": "mallory@berth.test", "userPassword": password})
    connection.add(f"uid=mallory,{ldap_server.people_dn}", ["inetOrgPerson"],
                   {"uid": ["mallory", "admin"], "cn": "Mallory2", "sn": "M", "userPassword": password})
    connection.unbind()
    for spelling in ("admin", "Admin", "ADMIN", " admin", "admin "):
        refused = httpx.get(f"{ldap_berth.url}/api/v2.0/users/current", auth=(spelling, password))
        assert refused.status_code == 401, spelling
    # an entry with uids mallory and admin logs in as mallory, the name it was found by
    mallory = httpx.get(f"{ldap_berth.url}/api/v2.0/users/current", auth=("mallory", password)).json()
    assert mallory["username"] == "mallory" and mallory["user_id"] != 1 and not mallory["sysadmin_flag"]
    with ldap_berth.client() as api:
        me = api.get("/api/v2.0/users/current").json()
        assert me["user_id"] == 1 and me["sysadmin_flag"] is True


def test_ldap_ping_never_sends_the_stored_password_to_another_target(ldap_berth, ldap_server):  # noqa: F811
    with ldap_berth.client() as api:
        same = api.post("/api/v2.0/ldap/ping", json={"ldap_url": ldap_server.url, "ldap_search_dn": ldap_server.bind_dn})
        assert same.json()["success"] is True
        other_dn = api.post("/api/v2.0/ldap/ping", json={"ldap_url": ldap_server.url,
                                                          "ldap_search_dn": ldap_server.user_dn("alice")})
        assert "success" not in other_dn.json()  # failed: the stored password was not tried for alice's DN
