"""Bad input to the identity endpoints: a clear 4xx in Harbor's error shape, and nothing created."""

from __future__ import annotations

import uuid

import httpx
import pytest

from .helpers import unique

PASSWORD = "Passw0rd-bad"


def _counts(api: httpx.Client) -> tuple[int, int, int, int]:
    def total(path: str, **params: str) -> int:
        response = api.get(path, params={"page_size": 1, **params})
        assert response.status_code == 200, response.text
        return int(response.headers["x-total-count"])

    return total("/api/v2.0/projects"), total("/api/v2.0/users"), total("/api/v2.0/robots"), total("/api/v2.0/usergroups")


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    errors = response.json()["errors"]
    assert len(errors) == 1 and set(errors[0]) == {"code", "message"} and errors[0]["message"]
    return errors[0]["code"]


@pytest.fixture
def api(berth):
    with berth.client() as client:
        yield client


def _robot(namespace: str, name: str, level: str = "project", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"name": name, "level": level, "duration": -1, **extra,
            "permissions": [{"kind": "project", "namespace": namespace,
                             "access": [{"resource": "repository", "action": "pull"}]}]}


@pytest.mark.parametrize("body,status", [
    ({"project_name": "x" * 256}, 400),
    ({"project_name": "UPPER"}, 400),
    ({"project_name": "-dash"}, 400),
    ({"project_name": "a..b"}, 400),
    ({"project_name": ""}, 400),
    ({}, 400),
    ({"project_name": "ok-name", "metadata": {"public": "yes"}}, 400),
    ({"project_name": "ok-name", "metadata": {"severity": "apocalyptic"}}, 400),
    ({"project_name": "ok-name", "metadata": {"no_such_key": "1"}}, 400),
    ({"project_name": "ok-name", "metadata": {"retention_id": "7"}}, 400),
    ({"project_name": "ok-name", "cve_allowlist": {"items": [{"cve_id": "bad id with spaces"}]}}, 400),
    ({"project_name": "ok-name", "registry_id": 3}, 400),
    ({"project_name": "library"}, 409),
])
def test_bad_project_requests_create_nothing(api, body, status):
    before = _counts(api)
    code = _error(api.post("/api/v2.0/projects", json=body), status)
    assert code == ("CONFLICT" if status == 409 else "BAD_REQUEST")
    assert _counts(api) == before


@pytest.mark.parametrize("body", [
    {"username": "u" * 256, "email": "a@example.test", "password": PASSWORD},
    {"username": "bad$name", "email": "b@example.test", "password": PASSWORD},
    {"username": "", "email": "c@example.test", "password": PASSWORD},
    {"username": "fine-user", "email": "not-an-email", "password": PASSWORD},
    {"username": "fine-user", "email": "", "password": PASSWORD},
    {"username": "fine-user", "email": "d@example.test", "password": "short1A"},
    {"username": "fine-user", "email": "d@example.test", "password": "nouppercase1"},
    {"username": "fine-user", "email": "d@example.test", "password": PASSWORD, "comment": "c" * 31},
    {"username": "fine-user", "email": "d@example.test", "password": PASSWORD, "realname": "r#al"},
    {"username": "admin", "email": "e@example.test", "password": PASSWORD},
    {"username": "fine-user", "email": "admin@berth.invalid", "password": PASSWORD},
])
def test_bad_user_requests_create_nothing(api, body):
    before = _counts(api)
    response = api.post("/api/v2.0/users", json=body)
    assert _error(response, 409 if "admin" in (body["username"], body["email"].split("@")[0]) else 400) in ("BAD_REQUEST", "CONFLICT")
    assert _counts(api) == before


def test_bad_robot_requests_create_nothing(api, berth):
    project = unique("robots-bad")
    assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    assert api.post("/api/v2.0/robots", json=_robot(project, "taken")).status_code == 201
    cases = [
        (_robot(project, "with$dollar"), 400),
        (_robot(project, "with+plus"), 400),
        (_robot(project, "UPPER"), 400),
        (_robot(project, "x" * 256), 400),
        (_robot(project, "taken"), 409),
        (_robot(project, "ok", level="galaxy"), 400),
        (_robot(project, "ok", duration=0), 400),
        (_robot(project, "ok", duration=-5), 400),
        (_robot(project, "ok", secret="weak"), 400),
        (_robot(f"absent-{uuid.uuid4().hex[:6]}", "ok"), 404),
        ({**_robot(project, "ok"), "permissions": [{"kind": "project", "namespace": project,
                                                    "access": [{"resource": "repository", "action": "fly"}]}]}, 400),
        ({**_robot(project, "ok"), "permissions": [{"kind": "galaxy", "namespace": project,
                                                    "access": [{"resource": "repository", "action": "pull"}]}]}, 400),
        ({**_robot(project, "ok"), "permissions": []}, 400),
        ({**_robot(project, "ok"), "permissions": [{"kind": "project", "namespace": project, "access": []}]}, 400),
    ]
    before = _counts(api)
    for body, status in cases:
        _error(api.post("/api/v2.0/robots", json=body), status)
    assert _counts(api) == before


def test_bad_member_and_group_requests_change_nothing(api):
    project = unique("members-bad")
    assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    members = api.get(f"/api/v2.0/projects/{project}/members").json()
    cases = [
        ({"role_id": 9, "member_user": {"username": "admin"}}, 400),
        ({"role_id": 0, "member_user": {"username": "admin"}}, 400),
        ({"member_user": {"username": "admin"}}, 400),
        ({"role_id": 2}, 400),
        ({"role_id": 2, "member_user": {"username": f"ghost-{uuid.uuid4().hex[:6]}"}}, 400),
        ({"role_id": 2, "member_user": {"user_id": 987654}}, 404),
        ({"role_id": 2, "member_group": {"id": 987654}}, 404),
        ({"role_id": 1, "member_user": {"username": "admin"}}, 409),
    ]
    for body, status in cases:
        _error(api.post(f"/api/v2.0/projects/{project}/members", json=body), status)
    assert api.get(f"/api/v2.0/projects/{project}/members").json() == members
    before = _counts(api)
    for body in ({"group_name": "g", "group_type": 7}, {"group_name": "", "group_type": 2},
                 {"group_name": "x" * 256, "group_type": 2}, {"group_name": "ldap", "group_type": 1, "ldap_group_dn": "cn=x"}):
        _error(api.post("/api/v2.0/usergroups", json=body), 400)
    assert _counts(api) == before


@pytest.mark.parametrize("body", [
    {"auth_mode": "uaa_auth"}, {"auth_mode": 3}, {"token_expiration": 0}, {"token_expiration": "soon"},
    {"self_registration": "maybe"}, {"no_such_item": 1}, {"uaa_endpoint": "https://uaa"},
    {"oidc_extra_redirect_parms": "[1,2]"}, {"banner_message": "ok", "ldap_scope": 7},
])
def test_bad_configuration_changes_store_nothing(api, body):
    before = api.get("/api/v2.0/configurations").json()
    _error(api.put("/api/v2.0/configurations", json=body), 400)
    assert api.get("/api/v2.0/configurations").json() == before


def test_page_sizes_over_the_limit_are_refused(api):
    assert _error(api.get("/api/v2.0/projects", params={"page_size": 101}), 422) == "UNPROCESSABLE_ENTITY"
    assert api.get("/api/v2.0/projects", params={"page_size": 100}).status_code == 200


def test_projects_list_pages_with_harbors_headers(api):
    prefix = unique("paging")
    for i in range(3):
        assert api.post("/api/v2.0/projects", json={"project_name": f"{prefix}-{i}"}).status_code == 201
    first = api.get("/api/v2.0/projects", params={"name": prefix, "page": 1, "page_size": 2})
    assert first.headers["x-total-count"] == "3" and [p["name"] for p in first.json()] == [f"{prefix}-0", f"{prefix}-1"]
    assert first.headers["link"] == f'</api/v2.0/projects?name={prefix}&page=2&page_size=2>; rel="next"'
    second = api.get("/api/v2.0/projects", params={"name": prefix, "page": 2, "page_size": 2})
    assert [p["name"] for p in second.json()] == [f"{prefix}-2"]
    assert second.headers["link"] == f'</api/v2.0/projects?name={prefix}&page=1&page_size=2>; rel="prev"'


def test_deleting_a_project_that_holds_repositories_is_refused(api, berth):
    project = unique("holds")
    assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    assert api.post(f"/v2/{project}/app/blobs/uploads/").status_code == 202  # the repository now exists
    assert _error(api.delete(f"/api/v2.0/projects/{project}"), 412) == "PRECONDITION"
    assert api.get(f"/api/v2.0/projects/{project}/_deletable").json() == {  # false is left out, as in Harbor
        "message": "the project contains repositories, can not be deleted"}
    assert api.get(f"/api/v2.0/projects/{project}").status_code == 200


def test_lists_take_harbors_q_and_sort(api):
    prefix = unique("query")
    ids = []
    for suffix in ("b", "a", "c"):
        created = api.post("/api/v2.0/projects", json={"project_name": f"{prefix}-{suffix}"})
        ids.append(int(created.headers["location"].rsplit("/", 1)[1]))

    def names(**params: str) -> list[str]:
        response = api.get("/api/v2.0/projects", params={"page_size": 100, **params})
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()]

    assert names(q=f"name=~{prefix}", sort="-name") == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]
    assert names(q=f"name={prefix}-a") == [f"{prefix}-a"]
    assert names(q=f"project_id={{{ids[0]} {ids[2]}}}", sort="name") == [f"{prefix}-b", f"{prefix}-c"]
    assert names(q=f"project_id=[{ids[1]}~],name=~{prefix}", sort="project_id") == [f"{prefix}-a", f"{prefix}-c"]
    users = api.get("/api/v2.0/users", params={"q": "username=admin"}).json()
    assert [u["username"] for u in users] == ["admin"]
    for q in ("name", "name=", "name=[1~2~3]", "colour=[1~"):
        assert _error(api.get("/api/v2.0/projects", params={"q": q}), 400) == "BAD_REQUEST"
    assert "the query string must contain" in api.get("/api/v2.0/projects", params={"q": "name"}).json()["errors"][0]["message"]
    # keys a list cannot filter or sort on are ignored, as in Harbor
    assert names(q=f"colour=red,name=~{prefix}", sort="colour,-name") == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]
    assert names(q=f"name=~{prefix}", sort="colour") == names(q=f"name=~{prefix}")
    every = api.get("/api/v2.0/users", params={"page_size": 100}).json()
    assert api.get("/api/v2.0/users", params={"q": "password=x", "page_size": 100}).json() == every  # never a filter
