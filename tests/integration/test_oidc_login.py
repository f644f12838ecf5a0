"""OIDC end to end, against a real OpenID provider (the npm oidc-provider) the tests start:
browser log-in with PKCE, onboarding, groups and the admin group, session cookies with CSRF, and the
CLI secret that `docker login` uses in place of a password."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import start_berth
from tests.oidc_server import OidcServer, browser_login, oidc_provider  # noqa: F401  (fixture)

from .helpers import unique
from .test_audit_log import wait_audit

CLI_SECRET = "Cli-secret-0001"


def oidc_settings(provider: OidcServer, auto_onboard: bool = True) -> dict[str, object]:
    return {
        "auth_mode": "oidc_auth",
        "oidc_name": "test-idp",
        "oidc_endpoint": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        "oidc_scope": "openid,profile,email",
        "oidc_groups_claim": "groups",
        "oidc_admin_group": "harbor-admins",
        "oidc_user_claim": "preferred_username",
        "oidc_auto_onboard": auto_onboard,
    }


@pytest.fixture
def oidc_berth(oidc_provider, tmp_path):  # noqa: F811
    server = start_berth(tmp_path / "data", projects=())
    with server.client() as api:
        response = api.put("/api/v2.0/configurations", json=oidc_settings(oidc_provider))
        assert response.status_code == 200, response.text
    yield server
    server.stop()


def log_in(server, username: str) -> httpx.Client:  # type: ignore[no-untyped-def]
    """A browser (cookie jar) that went through /c/oidc/login as `username`."""
    browser = httpx.Client(base_url=server.url, timeout=30)
    start = browser.get("/c/oidc/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert "code_challenge_method=S256" in authorize and "code_challenge=" in authorize
    callback = browser_login(browser, authorize, username)
    landed = browser.get(callback)
    assert landed.status_code == 302, landed.text
    return browser


def _csrf(browser: httpx.Client) -> dict[str, str]:
    return {"X-Harbor-CSRF-Token": browser.cookies["__csrf"]}


def test_browser_login_onboards_the_user_with_groups_and_a_session(oidc_berth):
    browser = log_in(oidc_berth, "alice")
    assert browser.cookies.get("sid")
    me = browser.get("/api/v2.0/users/current").json()
    assert me["username"] == "alice" and me["email"] == "alice@example.com" and me["sysadmin_flag"] is False
    with oidc_berth.client() as api:
        groups = {g["group_name"]: g["group_type"] for g in api.get("/api/v2.0/usergroups", params={"page_size": 100}).json()}
        assert groups == {"developers": 3, "ops-oncall": 3}
    admin_browser = log_in(oidc_berth, "carol")
    assert admin_browser.get("/api/v2.0/users/current").json()["sysadmin_flag"] is True
    assert admin_browser.get("/api/v2.0/users").status_code == 200
    # log-out ends the session
    assert browser.get("/c/log_out").status_code == 200
    assert browser.get("/api/v2.0/users/current").status_code == 401


def test_cookie_sessions_need_the_csrf_header_for_changes(oidc_berth):
    browser = log_in(oidc_berth, "alice")
    user_id = browser.get("/api/v2.0/users/current").json()["user_id"]
    refused = browser.put(f"/api/v2.0/users/{user_id}/cli_secret", json={"secret": CLI_SECRET})
    assert refused.status_code == 403 and refused.json()["errors"][0]["message"] == "CSRF token invalid"
    wrong = browser.put(f"/api/v2.0/users/{user_id}/cli_secret", json={"secret": CLI_SECRET},
                        headers={"X-Harbor-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert browser.put(f"/api/v2.0/users/{user_id}/cli_secret", json={"secret": CLI_SECRET},
                       headers=_csrf(browser)).status_code == 200


def test_the_cli_secret_logs_docker_in_and_groups_grant_project_roles(oidc_berth):
    browser = log_in(oidc_berth, "alice")
    user_id = browser.get("/api/v2.0/users/current").json()["user_id"]
    assert browser.put(f"/api/v2.0/users/{user_id}/cli_secret", json={"secret": CLI_SECRET},
                       headers=_csrf(browser)).status_code == 200
    project = unique("oidc")
    with oidc_berth.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        group = next(g for g in api.get("/api/v2.0/usergroups").json() if g["group_name"] == "developers")
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 2, "member_group": {"id": group["id"]}}).status_code == 201
    token = httpx.get(f"{oidc_berth.url}/service/token", auth=("alice", CLI_SECRET),
                      params={"service": "harbor-registry", "scope": f"repository:{project}/app:pull,push"})
    assert token.status_code == 200
    pushed = httpx.post(f"{oidc_berth.url}/v2/{project}/app/blobs/uploads/",
                        headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert pushed.status_code == 202
    assert httpx.get(f"{oidc_berth.url}/v2/", auth=("alice", "Not-the-secret1")).status_code == 401
    with oidc_berth.client() as api:  # the callback's log-in is in the audit log, as in Harbor
        logins = wait_audit(api, "resource=alice,operation=login", 1)
        assert logins and logins[-1]["username"] == "alice" and logins[-1]["operation_result"] is True


def test_without_auto_onboard_the_user_picks_a_name_first(oidc_provider, tmp_path):  # noqa: F811
    server = start_berth(tmp_path / "data", projects=())
    try:
        with server.client() as api:
            assert api.put("/api/v2.0/configurations", json=oidc_settings(oidc_provider, auto_onboard=False)).status_code == 200
        browser = httpx.Client(base_url=server.url, timeout=30)
        callback = browser_login(browser, browser.get("/c/oidc/login").headers["location"], "dave")
        landed = browser.get(callback)
        assert landed.status_code == 302 and landed.headers["location"] == "/oidc-onboard?username=dave"
        assert browser.get("/api/v2.0/users/current").status_code == 401
        assert browser.post("/c/oidc/onboard", json={"username": "bad name"}).status_code == 400
        # the web UI's page at that address finishes it with a form (the same onboarding)
        form = browser.get(landed.headers["location"])
        assert form.status_code == 200 and 'value="dave"' in form.text
        token = re.search(r'name="csrftoken" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        refused = browser.post("/oidc-onboard", data={"username": "bad name", "csrftoken": token})
        assert refused.status_code == 400 and "illegal characters" in refused.text
        done = browser.post("/oidc-onboard", data={"username": "dave-chosen", "csrftoken": token})
        assert done.status_code == 303 and done.headers["location"] == "/projects"
        assert browser.get("/api/v2.0/users/current").json()["username"] == "dave-chosen"
    finally:
        server.stop()


def test_the_web_ui_offers_oidc_and_the_login_returns_to_the_page_asked_for(oidc_berth):
    browser = httpx.Client(base_url=oidc_berth.url, timeout=30)
    page = browser.get("/login", params={"next": "/projects/library"})
    assert 'href="/c/oidc/login?redirect_url=/projects/library"' in page.text
    for asked, back in (("/projects/library", "/projects/library"), ("//evil.example/", "/")):
        start = browser.get("/c/oidc/login", params={"redirect_url": asked})
        landed = browser.get(browser_login(browser, start.headers["location"], "alice"))
        assert landed.status_code == 302 and landed.headers["location"] == back
    assert browser.get("/projects/library").status_code == 200


def test_a_callback_with_a_forged_state_or_an_aborted_login_is_refused(oidc_berth):
    browser = httpx.Client(base_url=oidc_berth.url, timeout=30)
    callback = browser_login(browser, browser.get("/c/oidc/login").headers["location"], "alice")
    forged = str(httpx.URL(callback).copy_set_param("state", "forged"))
    refused = browser.get(forged)
    assert refused.status_code == 401 and "OIDC login failed" in refused.json()["errors"][0]["message"]
    other = httpx.Client(base_url=oidc_berth.url, timeout=30)
    aborted = browser_login(other, other.get("/c/oidc/login").headers["location"], "alice", deny=True)
    assert other.get(aborted).status_code == 401
    assert other.get("/api/v2.0/users/current").status_code == 401
    stranger = httpx.Client(base_url=oidc_berth.url)
    assert stranger.get(callback).status_code == 400  # no login was started in this browser


def test_oidc_ping_checks_the_issuer(oidc_berth, oidc_provider):  # noqa: F811
    with oidc_berth.client() as api:
        assert api.post("/api/v2.0/system/oidc/ping", json={"url": oidc_provider.issuer}).status_code == 200
        dead = api.post("/api/v2.0/system/oidc/ping", json={"url": "http://127.0.0.1:9/nothing"})
        assert dead.status_code == 400 and dead.json()["errors"][0]["code"] == "BAD_REQUEST"
        assert api.post("/api/v2.0/system/oidc/ping", json={"url": "ftp://x"}).status_code == 400
    info = httpx.get(f"{oidc_berth.url}/api/v2.0/systeminfo").json()
    assert info["auth_mode"] == "oidc_auth" and info["oidc_provider_name"] == "test-idp"
