"""Values a database column cannot hold, in a path, a query or a body: integers beyond the column's
range and text with NUL characters or lone surrogates. Harbor's 400, or 404 where nothing can be
found, never a 500, on SQLite and PostgreSQL (whose int4 columns stop at 2^31-1 and whose text has no NUL)."""

from __future__ import annotations

import httpx
import pytest

from .helpers import V2, build_image, unique

BEYOND_INT64 = "339050073359174074368"  # what schemathesis sent first
BEYOND_INT32 = 2**31  # within Harbor's int64, beyond an Integer column on PostgreSQL
INT64_MAX = 2**63 - 1


@pytest.fixture
def api(berth):
    with berth.client() as client:
        yield client


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    (error,) = response.json()["errors"]
    assert error["message"]
    return error["code"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/robots/{}"), ("DELETE", "/robots/{}"), ("GET", "/users/{}"), ("DELETE", "/users/{}"),
    ("GET", "/usergroups/{}"), ("GET", "/labels/{}"), ("GET", "/quotas/{}"), ("GET", "/projects/library/members/{}"),
    ("GET", "/system/purgeaudit/{}"), ("GET", "/projects/library/webhook/policies/{}"),
])
def test_a_path_id_beyond_int64_is_a_bad_request_and_beyond_its_column_not_found(api, method, path):
    assert _error(api.request(method, "/api/v2.0" + path.format(BEYOND_INT64)), 400) == "BAD_REQUEST"
    assert _error(api.request(method, "/api/v2.0" + path.format(BEYOND_INT32)), 404) == "NOT_FOUND"
    assert _error(api.request(method, "/api/v2.0" + path.format(INT64_MAX)), 404) == "NOT_FOUND"


def test_a_user_update_beyond_int64_is_a_bad_request(api):
    response = api.put(f"/api/v2.0/users/{BEYOND_INT64}", json={"email": "x@example.com"})
    assert _error(response, 400) == "BAD_REQUEST"
    assert _error(api.put(f"/api/v2.0/users/{BEYOND_INT32}", json={"email": "x@example.com"}), 404) == "NOT_FOUND"


def test_a_project_id_beyond_its_column_is_not_found(api):
    for project in (BEYOND_INT32, BEYOND_INT64):
        assert _error(api.get(f"/api/v2.0/projects/{project}"), 404) == "NOT_FOUND"
        assert _error(api.get(f"/api/v2.0/projects/{project}/summary"), 404) == "NOT_FOUND"


@pytest.mark.parametrize("path,body", [
    ("/projects", {"project_name": "n", "storage_limit": 2**63}),
    ("/projects", {"project_name": "n", "registry_id": BEYOND_INT32}),
    ("/projects", {"project_name": "n", "cve_allowlist": {"project_id": BEYOND_INT32}}),
    ("/robots", {"name": "r", "level": "system", "duration": BEYOND_INT32, "permissions": []}),
    ("/projects/library/members", {"role_id": BEYOND_INT32, "member_user": {"username": "admin"}}),
    ("/projects/library/members", {"role_id": 1, "member_user": {"user_id": BEYOND_INT32}}),
    ("/projects/library/members", {"role_id": 1, "member_group": {"id": BEYOND_INT32}}),
    ("/labels", {"name": "l", "scope": "p", "project_id": BEYOND_INT32}),
    ("/usergroups", {"group_name": "g", "group_type": BEYOND_INT32}),
])
def test_a_body_integer_beyond_its_column_is_a_bad_request(api, path, body):
    assert _error(api.post("/api/v2.0" + path, json=body), 400) == "BAD_REQUEST"


def test_a_page_beyond_the_last_is_empty(api):
    for page in (BEYOND_INT32, INT64_MAX):
        response = api.get("/api/v2.0/projects", params={"page": page, "page_size": 100})
        assert response.status_code == 200 and response.json() == [], response.text
    assert _error(api.get("/api/v2.0/projects", params={"page": BEYOND_INT64}), 400) == "BAD_REQUEST"


def test_a_query_value_beyond_its_column_matches_nothing_or_everything(api):
    def total(q: str | None) -> int:
        response = api.get("/api/v2.0/projects", params={"page_size": 1, **({"q": q} if q else {})})
        assert response.status_code == 200, response.text
        return int(response.headers["x-total-count"])

    everything = total(None)
    assert everything > 0
    assert total(f"project_id={BEYOND_INT32}") == 0
    assert total(f"project_id={{1 {BEYOND_INT32}}}") == 1
    assert total(f"project_id=[{BEYOND_INT32}~]") == 0
    assert total(f"project_id=[~{BEYOND_INT32}]") == everything
    assert total(f"project_id=[-{BEYOND_INT32}~{BEYOND_INT32}]") == everything
    assert _error(api.get("/api/v2.0/projects", params={"q": "project_id=~1"}), 400) == "BAD_REQUEST"
    assert _error(api.get("/api/v2.0/projects", params={"q": "project_id=abc"}), 400) == "BAD_REQUEST"


def test_a_quota_reference_beyond_its_column_matches_nothing(api):
    for reference_id in (BEYOND_INT32, BEYOND_INT64):
        response = api.get("/api/v2.0/quotas", params={"reference": "project", "reference_id": reference_id})
        assert response.status_code == 200 and response.json() == [], response.text


def test_a_number_compared_with_a_text_column_is_text(api):
    name = unique("num")
    assert api.post("/api/v2.0/users", json={"username": "12345", "email": f"{name}@example.com",
                                             "password": "Passw0rd-num", "realname": name}).status_code in (201, 409)
    response = api.get("/api/v2.0/users", params={"q": "username=12345"})
    assert response.status_code == 200, response.text
    assert [u["username"] for u in response.json()] == ["12345"]


def test_an_artifact_label_filter_beyond_its_column_matches_nothing(berth, api):
    project = unique("ints")
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", build_image(seed=91, layers=1), "v1")
    path = f"/api/v2.0/projects/{project}/repositories/app/artifacts"
    assert len(api.get(path).json()) == 1
    for q in (f"labels={BEYOND_INT32}", f"labels=(1 {BEYOND_INT32})", f"labels={{{BEYOND_INT32}}}"):
        response = api.get(path, params={"q": q})
        assert response.status_code == 200 and response.json() == [], (q, response.text)


@pytest.mark.parametrize("method,path,params,body", [
    ("GET", "/search", {"q": "a\x00b"}, None),
    ("GET", "/projects", {"q": "name=a\x00b"}, None),
    ("GET", "/projects", {"name": "a\x00b"}, None),
    ("GET", "/projects/a%00b", None, None),
    ("GET", "/users", {"q": "username=a\x00b"}, None),
    ("POST", "/projects", None, '{"project_name": "a\\u0000b"}'),
    ("POST", "/usergroups", None, '{"group_name": "g", "ldap_group_dn": "\\ud800"}'),
    ("POST", "/ldap/ping", None, '{"ldap_base_dn": "dc=\\udfff"}'),
])
def test_text_with_nul_or_a_lone_surrogate_is_a_bad_request(api, method, path, params, body):
    before = int(api.get("/api/v2.0/projects", params={"page_size": 1}).headers["x-total-count"])
    response = api.request(method, "/api/v2.0" + path, params=params, content=body,
                           headers={"content-type": "application/json"} if body else {})
    assert _error(response, 400) == "BAD_REQUEST"
    assert int(api.get("/api/v2.0/projects", params={"page_size": 1}).headers["x-total-count"]) == before


@pytest.mark.parametrize("conf", [{"ldap_connection_timeout": -1054}, {"ldap_scope": 7}, {"ldap_scope": -1}])
def test_an_ldap_ping_with_a_timeout_or_scope_out_of_range_is_a_bad_request(api, conf):
    response = api.post("/api/v2.0/ldap/ping", json={"ldap_url": "ldap://127.0.0.1:1", **conf})
    assert _error(response, 400) == "BAD_REQUEST"
