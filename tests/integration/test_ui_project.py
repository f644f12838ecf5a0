"""The web UI's per-project tabs in a real browser (Playwright, Debian's chromium, axe-core on every
page through the shared Visitor): robot accounts with their secret shown once, members, tag
immutability and retention rules with a real dry run through the job queue; and, with httpx, a
guest's forged forms refused by the RBAC decision with nothing changed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_berth

from .helpers import V2, build_image
from .test_ui import log_in
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PASSWORD = "Ui-proj-pass1"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("ui-project") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def setup(server: Server) -> dict[str, str]:
    """A private project with two tags of one repository, a guest member and a user who is not a member."""
    suffix = uuid.uuid4().hex[:6]
    project, guest, newcomer = f"tabs-{suffix}", f"guest-{suffix}", f"dev-{suffix}"
    with server.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        for user in (guest, newcomer):
            assert api.post("/api/v2.0/users", json={"username": user, "email": f"{user}@example.test",
                                                     "realname": user, "password": PASSWORD}).status_code == 201
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 3, "member_user": {"username": guest}}).status_code == 201
    with V2(server.url, auth=server.auth) as v2:
        for n, tag in enumerate(("1.0", "2.0")):
            v2.push_image(f"{project}/app", build_image(seed=70 + n, layers=1), tag)
    return {"project": project, "guest": guest, "newcomer": newcomer}


def test_an_admin_manages_robots_members_and_policies(server, browser, setup, tmp_path):
    project = setup["project"]
    admin = Visitor(browser, server, tmp_path, "tabs")
    page = admin.page
    admin.arrive(f"/projects/{project}/robots", "admin", server.admin_password)
    admin.check("robots")

    # a robot: its secret shown once, with a copy button, and it really works
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_label("Expires after (days; -1: never)").fill("-1")
    page.get_by_label("push repository").check()
    page.get_by_label("list repository").check()
    page.get_by_role("button", name="Create robot account").click()
    secret_box = page.get_by_label("Secret", exact=True)
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert len(secret) >= 8 and f"robot${project}+ci" in page.inner_text("#robots")
    page.locator("#robots").get_by_role("button", name="Copy").click()
    page.get_by_role("status").filter(has_text="Copied.").wait_for()
    admin.check("robot-secret")
    with httpx.Client(base_url=server.url, auth=(f"robot${project}+ci", secret)) as robot:
        assert robot.get(f"/api/v2.0/projects/{project}/repositories").status_code == 200
    page.reload()
    page.get_by_role("cell", name=f"robot${project}+ci", exact=True).wait_for()
    assert page.get_by_label("Secret", exact=True).count() == 0 and secret not in page.content()
    page.get_by_role("button", name=f"Disable robot${project}+ci").click()
    page.get_by_role("button", name=f"Enable robot${project}+ci").wait_for()
    with httpx.Client(base_url=server.url, auth=(f"robot${project}+ci", secret)) as robot:
        assert robot.get(f"/api/v2.0/projects/{project}/repositories").status_code == 401

    # a member added with a role, then given another
    page.get_by_role("link", name="Members").click()
    page.get_by_label("User or group name (an LDAP group: its DN)").fill(setup["newcomer"])
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_role("button", name="Add member").click()
    role = page.get_by_label(f"Role of {setup['newcomer']}", exact=True)
    assert role.input_value() == "2"
    role.select_option(label="Maintainer")
    page.get_by_role("button", name=f"Change the role of {setup['newcomer']}").click()
    assert page.get_by_label(f"Role of {setup['newcomer']}", exact=True).input_value() == "4"
    admin.check("members")

    # an immutability rule, and a retention rule with a dry run through the job queue
    page.get_by_role("link", name="Policies").click()
    page.get_by_label("Tags: pattern").first.fill("rc-*")
    page.get_by_role("button", name="Add immutability rule").click()
    page.get_by_role("button", name="Disable the rule for ** / rc-*").wait_for()
    admin.check("policies")
    retention = page.locator("#retention")
    retention.get_by_label("Retain", exact=True).select_option("latestPushedK")
    retention.get_by_label("The number # (artifacts or days)").fill("1")
    retention.get_by_role("button", name="Add retention rule").click()
    page.get_by_role("cell", name="the most recently pushed 1 artifacts").wait_for()
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_url(re.compile(r"/policies/retention/executions/\d+$"))
    page.locator(".run-status", has_text="Success").wait_for()  # htmx polls until the run is done
    row = page.get_by_role("row", name="app")
    assert row.inner_text().split()[-2:] == ["2", "1"]  # two artifacts, one retained
    page.get_by_text("Log of app").click()
    assert "DEL" in page.locator("pre.log").inner_text()
    admin.check("retention-dry-run")
    admin.close()

    with server.client() as api:  # a dry run deletes nothing; the rules are the API's
        assert len(api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json()) == 2
        rules = api.get(f"/api/v2.0/projects/{project}/immutabletagrules").json()
        assert [r["tag_selectors"][0]["pattern"] for r in rules] == ["rc-*"]
        members = api.get(f"/api/v2.0/projects/{project}/members").json()
        assert {m["entity_name"]: m["role_id"] for m in members}[setup["newcomer"]] == 4


def test_a_guest_sees_no_management_and_forged_forms_are_refused(server, browser, setup, tmp_path):
    project, guest_name = setup["project"], setup["guest"]
    guest = Visitor(browser, server, tmp_path, "tabs-guest", scheme="dark")
    page = guest.page
    guest.arrive(f"/projects/{project}/members", guest_name, PASSWORD)
    tabs = page.get_by_role("navigation", name="Project")
    assert tabs.get_by_role("link", name="Robot accounts").is_visible()  # Harbor lets guests list robots
    assert tabs.get_by_role("link", name="Policies").count() == 0
    assert page.get_by_role("button", name="Add member").count() == 0 and page.get_by_role("button", name=re.compile("Remove")).count() == 0
    guest.check("members")
    page.goto(f"/projects/{project}/robots")
    assert page.get_by_role("button", name="Create robot account").count() == 0
    guest.check("robots")
    guest.close()

    with server.client() as api:
        paths = [f"/api/v2.0/projects/{project}/members", f"/api/v2.0/projects/{project}/immutabletagrules",
                 "/api/v2.0/robots?q=Level=project"]
        before = {path: api.get(path).json() for path in paths}
        retention_id = api.get(f"/api/v2.0/projects/{project}").json()["metadata"].get("retention_id")
        if retention_id:
            before[f"/api/v2.0/retentions/{retention_id}/executions"] = api.get(
                f"/api/v2.0/retentions/{retention_id}/executions").json()
            before[f"/api/v2.0/retentions/{retention_id}"] = api.get(f"/api/v2.0/retentions/{retention_id}").json()
    with httpx.Client(base_url=server.url) as client:
        log_in(client, guest_name, PASSWORD)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(f"/projects/{project}/robots").text)
        if token is None:  # no form on the page: take the log-out form's token from another page
            token = re.search(r'"x-csrftoken": "([^"]+)"', client.get(f"/projects/{project}").text)
        assert token
        forged = {
            f"/projects/{project}/robots": {"name": "forged", "duration": "-1", "access": "repository:pull"},
            f"/projects/{project}/members": {"kind": "user", "name": guest_name, "role": "1"},
            f"/projects/{project}/members/1/delete": {},
            f"/projects/{project}/policies/immutable": {"repo_decoration": "repoMatches", "repo_pattern": "**",
                                                         "tag_decoration": "matches", "tag_pattern": "x"},
            f"/projects/{project}/policies/retention/rules": {"template": "always", "repo_decoration": "repoMatches",
                                                               "repo_pattern": "**", "tag_decoration": "matches",
                                                               "tag_pattern": "**"},
            f"/projects/{project}/policies/retention/run": {"dry_run": "false"},
        }
        for path, form in forged.items():
            refused = client.post(path, data={**form, "csrftoken": token.group(1)})
            assert refused.status_code == 403, (path, refused.status_code)
            assert "Traceback" not in refused.text
    with server.client() as api:
        after = {path: api.get(path).json() for path in before}
    assert after == before
