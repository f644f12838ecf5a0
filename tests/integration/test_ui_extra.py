"""What the web UI adds beyond its first pages (issue 16's remainder), on one berth in LDAP mode with
the real slapd of tests/ldap_server.py: a system robot scoped to chosen projects and system
resources, editing scanners, groups and retention rules, an LDAP user's log-in in the browser, and
the UI's one rule for refused forms (checked with httpx: the status, the header, the message next
to its field)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_berth
from tests.ldap_server import LdapServer, ldap_server  # noqa: F401  (fixture)

from .test_ldap_auth import ldap_settings
from .test_ui import log_in
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PROJECTS = ("team-a", "team-b")


@pytest.fixture(scope="module")
def server(tmp_path_factory, ldap_server: LdapServer) -> Iterator[Server]:  # noqa: F811
    server = start_berth(tmp_path_factory.mktemp("ui-extra") / "data", projects=PROJECTS)
    with server.client() as api:
        assert api.put("/api/v2.0/configurations", json=ldap_settings(ldap_server)).status_code == 200
        assert api.post("/api/v2.0/scanners", json={"name": "extra", "url": "http://127.0.0.1:9"}).status_code == 201
    yield server
    server.stop()


def test_an_admin_scopes_a_system_robot_and_edits_scanners_groups_and_retention_rules(
        server, browser, ldap_server, tmp_path):  # noqa: F811
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page

    # a system robot: a system permission, and pull on team-a only
    admin.arrive("/admin/robots", "admin", server.admin_password)
    page.get_by_text("New robot account").click()
    page.get_by_label("Name (after the prefix").fill("scoped")
    page.get_by_label("list audit-log on the system", exact=True).check()
    page.get_by_label("Only on the projects below").check()
    page.get_by_label("Project 1", exact=True).fill("team-a")
    assert page.get_by_label("pull repository in project 1", exact=True).is_checked()
    admin.check("robot-form")
    page.get_by_role("button", name="Create robot account").click()
    page.get_by_text("Its secret is shown here once").wait_for()
    admin.check("robot-created")
    with server.client() as api:
        robot = next(r for r in api.get("/api/v2.0/robots").json() if r["name"] == "robot$scoped")
    assert sorted((p["kind"], p["namespace"], [(a["resource"], a["action"]) for a in p["access"]])
                  for p in robot["permissions"]) == [
        ("project", "team-a", [("repository", "pull")]), ("system", "/", [("audit-log", "list")])]

    # a scanner: edited, disabled and enabled again, made the default
    page.goto("/admin/scanners")
    page.get_by_role("button", name="Edit scanner extra").click()
    page.get_by_label("Description").fill("the second one")
    page.get_by_label("Enabled").uncheck()
    admin.check("scanner-edit")
    page.get_by_role("button", name="Save scanner").click()
    page.get_by_role("button", name="Enable scanner extra").click()
    page.get_by_role("button", name="Set as default: scanner extra").click()
    page.get_by_role("button", name="Disable scanner extra").wait_for()
    admin.check("scanners")
    with server.client() as api:
        extra = next(s for s in api.get("/api/v2.0/scanners").json() if s["name"] == "extra")
    assert (extra["description"], extra["disabled"], extra["is_default"]) == ("the second one", False, True)

    # an LDAP group added by its DN, then renamed
    page.goto("/admin/groups")
    page.get_by_text("New group").click()
    page.get_by_label("LDAP group DN").fill(ldap_server.group_dn("developers"))
    page.get_by_role("button", name="Create group").click()
    page.get_by_label("New name of the group developers").fill("devs")
    page.get_by_role("button", name="Rename group developers").click()
    page.get_by_role("button", name="Rename group devs").wait_for()
    admin.check("groups")
    with server.client() as api:
        assert [(g["group_name"], g["ldap_group_dn"]) for g in api.get("/api/v2.0/usergroups").json()] == [
            ("devs", ldap_server.group_dn("developers"))]

    # a retention rule, edited in place
    page.goto("/projects/team-a/policies")
    page.get_by_role("button", name="Add retention rule").click()
    page.get_by_role("button", name="Edit retention rule 1").click()
    assert page.get_by_label("The number # (artifacts or days)").input_value() == "10"
    page.get_by_label("The number # (artifacts or days)").fill("3")
    page.locator("#retention").get_by_label("Tags: pattern").fill("v*")
    admin.check("retention-edit")
    page.get_by_role("button", name="Save retention rule").click()
    page.get_by_role("button", name="Edit retention rule 1").wait_for()
    with server.client() as api:
        policy_id = api.get("/api/v2.0/projects/team-a/metadatas/retention_id").json()["retention_id"]
        rules = api.get(f"/api/v2.0/retentions/{policy_id}").json()["rules"]
    assert [(r["params"], r["tag_selectors"][0]["pattern"]) for r in rules] == [({"latestPushedK": 3}, "v*")]

    # a refused htmx form in the browser: its message beside the field, and no console error
    page.goto("/projects/team-a/robots")
    page.locator("#robot-name").fill("Bad Name!")
    page.get_by_role("button", name="Create robot account").click()
    page.locator("#robot-name-error").wait_for()
    assert page.locator("#robot-name").get_attribute("aria-invalid") == "true"
    admin.check("robot-refused")
    admin.close()


def test_an_ldap_user_logs_in_and_sees_their_projects(server, browser, ldap_server, tmp_path):  # noqa: F811
    with server.client() as api:
        member = api.post("/api/v2.0/projects/team-b/members", json={
            "role_id": 3, "member_group": {"group_type": 1, "ldap_group_dn": ldap_server.group_dn("developers")}})
        assert member.status_code == 201, member.text
    alice = Visitor(browser, server, tmp_path, "alice")
    alice.arrive("/projects", "alice", ldap_server.passwords["alice"])
    projects = alice.page.locator("main")
    projects.get_by_role("link", name="team-b").wait_for()
    assert projects.get_by_role("link", name="team-a").count() == 0
    assert "Administration" not in alice.page.get_by_role("navigation", name="berth").inner_text()
    alice.check("ldap-projects")
    alice.close()


def _token(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def test_a_refused_form_answers_with_its_message_next_to_the_field(server):
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = _token(client, "/projects/team-a/robots")
        form = {"name": "Bad Name!", "duration": "30", "access": "repository:pull", "csrftoken": token}
        # htmx: 200 (htmx swaps only 2xx; Chromium logs 4xx as console errors), the status in a header
        fragment = client.post("/projects/team-a/robots", data=form, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and fragment.headers["X-Berth-Refused"] == "400"
        assert not fragment.text.lstrip().startswith("<!doctype")
        field = re.search(r'<input id="robot-name"[^>]*>', fragment.text)
        assert field and 'aria-invalid="true"' in field.group(0) and 'aria-describedby="robot-name-error"' in field.group(0)
        message = re.search(r'<small id="robot-name-error" class="problem" role="alert">([^<]+)</small>', fragment.text)
        assert message and "robot name" in message.group(1).lower(), fragment.text
        # the browser's own POST: the page with the refusal's status, the message at the same place
        page = client.post("/projects/team-a/robots", data=form)
        assert page.status_code == 400 and "X-Berth-Refused" not in page.headers
        assert message.group(0) in page.text and "<!doctype" in page.text.lower()

        refused = {  # the full-page admin forms: the service's status and message
            "/admin/robots": ({"name": "r", "system": "audit-log:list", "access_0": "repository:pull",
                               "scope": "some", "ns_0": "no-such-project"}, 404, "project no-such-project not found"),
            "/admin/groups/999999/rename": ({"group_name": "x"}, 404, "not found"),
            "/projects/team-b/policies/retention/rules/0/edit": ({"template": "latestPushedK"}, 404,
                                                                 "no such retention rule"),
        }
        with server.client() as api:
            uuid = next(s["uuid"] for s in api.get("/api/v2.0/scanners").json() if s["name"] == "extra")
        refused[f"/admin/scanners/{uuid}"] = ({"action": "save", "name": "extra", "url": "ftp://x"}, 400,
                                              "invalid scheme")
        for path, (data, status, text) in refused.items():
            answer = client.post(path, data={**data, "csrftoken": token})
            assert (answer.status_code, text in answer.text) == (status, True), (path, answer.status_code, answer.text)
            assert "Traceback" not in answer.text
            if path == "/admin/robots":  # the form again, what was typed kept, its field pointing at the message
                assert re.search(r'<input id="ns-0"[^>]*aria-describedby="ns-0-error"', answer.text)
                assert re.search(r'<input id="robot-name"[^>]*value="r"', answer.text)
        # an error page asked for by htmx: 200, and it replaces the page's <main>
        missing = client.get("/projects/nowhere/robots", headers={"HX-Request": "true"})
        assert missing.status_code == 200 and missing.headers["X-Berth-Refused"] == "404"
        assert missing.headers["HX-Retarget"] == "#main" and missing.headers["HX-Reselect"] == "#main"


def test_no_page_links_to_a_missing_one(server):
    """Every link of every page an admin reaches from the start pages (two clicks deep) leads to a page."""
    seen: dict[str, int] = {}
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        client.follow_redirects = True
        frontier = ["/projects", "/projects/team-a", "/admin/users", "/security"]
        for _ in range(3):
            found: list[str] = []
            for path in frontier:
                if path in seen or len(seen) >= 400:
                    continue
                answer = client.get(path)
                seen[path] = answer.status_code
                if answer.headers.get("content-type", "").startswith("text/html"):
                    found += [link.replace("&amp;", "&") for link in re.findall(r'href="(/[^"#]*)', answer.text)]
            frontier = [link for link in dict.fromkeys(found) if not link.startswith("/static/")]
    broken = {path: status for path, status in seen.items() if status != 200}
    assert len(seen) > 40 and not broken, broken
