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
from .test_webhooks import Receiver
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
    project, guest, newcomer, developer = f"tabs-{suffix}", f"guest-{suffix}", f"dev-{suffix}", f"devel-{suffix}"
    with server.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        for user in (guest, newcomer, developer):
            assert api.post("/api/v2.0/users", json={"username": user, "email": f"{user}@example.test",
                                                     "realname": user, "password": PASSWORD}).status_code == 201
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 3, "member_user": {"username": guest}}).status_code == 201
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 2, "member_user": {"username": developer}}).status_code == 201
    with V2(server.url, auth=server.auth) as v2:
        for n, tag in enumerate(("1.0", "2.0")):
            v2.push_image(f"{project}/app", build_image(seed=70 + n, layers=1), tag)
    return {"project": project, "guest": guest, "newcomer": newcomer, "developer": developer}


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
    # the same name again: the service's message, next to the form (htmx swaps the answer in)
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_role("button", name="Create robot account").click()
    page.get_by_role("alert").filter(has_text="already exists").wait_for()
    # a new secret, shown once; the old one stops working
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Refresh secret of robot${project}+ci").click()
    page.get_by_label("Secret", exact=True).wait_for()
    renewed = page.get_by_label("Secret", exact=True).input_value()
    assert renewed != secret
    with httpx.Client(base_url=server.url) as client:
        assert client.get(f"/api/v2.0/projects/{project}/repositories", auth=(f"robot${project}+ci", secret)).status_code == 401
        assert client.get(f"/api/v2.0/projects/{project}/repositories", auth=(f"robot${project}+ci", renewed)).status_code == 200
    page.reload()
    page.get_by_role("button", name=f"Disable robot${project}+ci").click()
    page.get_by_role("button", name=f"Enable robot${project}+ci").wait_for()
    with httpx.Client(base_url=server.url, auth=(f"robot${project}+ci", renewed)) as robot:
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
    assert row.inner_text().split()[-3:] == ["2", "1", "1"]  # two artifacts, one retained, one would go
    page.get_by_text("Log of app").click()
    assert "DEL" in page.locator("pre.log").inner_text()
    admin.check("retention-dry-run")
    with server.client() as api:  # a dry run deletes nothing
        assert len(api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json()) == 2
    page.get_by_role("link", name="Back to the policies").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/policies/retention/executions/\d+$"))
    page.locator(".run-status", has_text="Success").wait_for()
    assert page.get_by_role("columnheader", name="Deleted").is_visible()
    assert page.get_by_role("row", name="app").inner_text().split()[-3:] == ["2", "1", "1"]
    admin.close()

    with server.client() as api:  # the real run deleted; the rules are the API's
        assert len(api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json()) == 1
        rules = api.get(f"/api/v2.0/projects/{project}/immutabletagrules").json()
        assert [r["tag_selectors"][0]["pattern"] for r in rules] == ["rc-*"]
        members = api.get(f"/api/v2.0/projects/{project}/members").json()
        assert {m["entity_name"]: m["role_id"] for m in members}[setup["newcomer"]] == 4


def test_labels_webhooks_with_their_deliveries_the_audit_log_and_the_configuration(server, browser, setup, tmp_path):
    project = setup["project"]
    receiver = Receiver()
    admin = Visitor(browser, server, tmp_path, "tabs2")
    page = admin.page
    try:
        admin.arrive(f"/projects/{project}/labels", "admin", server.admin_password)
        page.get_by_label("Name", exact=True).fill("qa")
        page.get_by_label("Description").fill("passed QA")
        page.get_by_role("button", name="Create label").click()
        page.get_by_role("button", name="Edit qa").click()
        page.get_by_label("Name", exact=True).fill("qa-ok")
        page.get_by_role("button", name="Save the label").click()
        page.get_by_role("cell", name="qa-ok", exact=True).wait_for()
        admin.check("labels")

        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("Name", exact=True).fill("ci-hook")
        page.get_by_label("Endpoint URL").fill(receiver.url("/hook"))
        page.get_by_role("button", name="Add webhook").click()
        page.get_by_role("button", name="Disable ci-hook").wait_for()
        admin.check("webhooks")
        with V2(server.url, auth=server.auth) as v2:  # an event for the hook: a push
            v2.push_image(f"{project}/app", build_image(seed=72, layers=1), "3.0")
        receiver.wait("/hook", 1, lambda r: r.json().get("type") == "PUSH_ARTIFACT")
        page.get_by_role("link", name="Deliveries of ci-hook").click()
        delivery = page.get_by_role("row", name=re.compile("PUSH_ARTIFACT"))
        for _ in range(40):  # the task's status is written just after the receiver answered
            if "Success" in delivery.inner_text():
                break
            page.wait_for_timeout(250)
            page.reload()
        assert "Success" in delivery.inner_text()
        admin.check("webhook-deliveries")
        page.goto(page.url.split("?")[0] + "?status=Error")  # a permalink with its filter
        assert "No deliveries with this status" in page.inner_text("#deliveries")
        page.go_back()
        delivery.get_by_role("link").click()
        page.get_by_text("Log of task").first.click()
        admin.check("webhook-delivery")

        page.goto(f"/projects/{project}/logs?operation=create&resource_type=artifact")
        assert f"{project}/app" in page.inner_text("#logs") and "delete" not in page.inner_text("#logs tbody")
        admin.check("logs")

        page.get_by_role("link", name="Configuration").click()
        page.get_by_label("Scan images when they are pushed").check()
        page.get_by_label("Prevent vulnerable images from being pulled").check()
        page.get_by_label("…with vulnerabilities of this severity or above").select_option("high")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_role("status").filter(has_text="Saved.").wait_for()
        page.get_by_label("Mode").select_option("audit")
        page.get_by_label("Cosign public keys (PEM, one after another)").fill("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----")
        page.get_by_role("button", name="Save the trust policy").click()
        page.get_by_role("alert").wait_for()  # the trust policy's own message, next to the form
        assert "key 1" in page.get_by_role("alert").inner_text()
        # the refused form came back as a 400, which Chromium logs; the page itself said why
        assert len(admin.errors) == 1 and "status of 400" in admin.errors[0]
        admin.errors.clear()
        page.get_by_label("Cosign public keys (PEM, one after another)").fill("")
        page.get_by_label("Mode").select_option("audit")
        page.get_by_role("button", name="Save the trust policy").click()
        page.get_by_role("status").filter(has_text="Saved.").wait_for()
        admin.check("configuration")
        admin.close()
    finally:
        receiver.close()

    with server.client() as api:
        meta = api.get(f"/api/v2.0/projects/{project}").json()["metadata"]
        assert (meta["auto_scan"], meta["prevent_vul"], meta["severity"]) == ("true", "true", "high")
        assert api.get(f"/api/v2.0/projects/{project}/trust-policy").json()["mode"] == "audit"
        labels = api.get("/api/v2.0/labels", params={"scope": "p", "project_id": meta_id(api, project)}).json()
        assert [(l["name"], l["description"]) for l in labels] == [("qa-ok", "passed QA")]


def meta_id(api: httpx.Client, project: str) -> int:
    return api.get(f"/api/v2.0/projects/{project}").json()["project_id"]


def test_a_guest_sees_no_management_and_forged_forms_are_refused(server, browser, setup, tmp_path):
    project, guest_name = setup["project"], setup["guest"]
    guest = Visitor(browser, server, tmp_path, "tabs-guest", scheme="dark")
    page = guest.page
    guest.arrive(f"/projects/{project}/members", guest_name, PASSWORD)
    tabs = page.get_by_role("navigation", name="Project")
    assert tabs.get_by_role("link", name="Robot accounts").is_visible()  # Harbor lets guests list robots
    for hidden in ("Policies", "Webhooks", "Logs"):
        assert tabs.get_by_role("link", name=hidden).count() == 0
    assert page.get_by_role("button", name="Add member").count() == 0 and page.get_by_role("button", name=re.compile("Remove")).count() == 0
    guest.check("members")
    page.goto(f"/projects/{project}/robots")
    assert page.get_by_role("button", name="Create robot account").count() == 0
    guest.check("robots")
    page.goto(f"/projects/{project}/configuration")
    assert page.get_by_role("button", name=re.compile("Save")).count() == 0
    guest.check("configuration")
    guest.close()

    with server.client() as api:
        paths = [f"/api/v2.0/projects/{project}/members", f"/api/v2.0/projects/{project}/immutabletagrules",
                 "/api/v2.0/robots?q=Level=project", f"/api/v2.0/projects/{project}/webhook/policies",
                 f"/api/v2.0/projects/{project}", f"/api/v2.0/projects/{project}/trust-policy"]
        paths.append(f"/api/v2.0/labels?scope=p&project_id={meta_id(api, project)}")
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
            f"/projects/{project}/labels": {"name": "forged", "color": "#000000"},
            f"/projects/{project}/webhooks": {"name": "forged", "type": "http", "address": "http://127.0.0.1:9/x",
                                              "event_types": "PUSH_ARTIFACT"},
            f"/projects/{project}/configuration": {"public": "true"},
            f"/projects/{project}/configuration/trust-policy": {"mode": "off", "formats": "cosign"},
        }
        for path, form in forged.items():
            refused = client.post(path, data={**form, "csrftoken": token.group(1)})
            assert refused.status_code == 403, (path, refused.status_code)
            assert "Traceback" not in refused.text
    with server.client() as api:
        after = {path: api.get(path).json() for path in before}
    assert after == before


def test_bad_forms_get_the_services_messages_and_change_nothing(server, setup):
    project = setup["project"]
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(f"/projects/{project}/robots").text)
        assert token

        def post(path: str, **form: str) -> httpx.Response:
            return client.post(f"/projects/{project}{path}", data={**form, "csrftoken": token.group(1)})

        refused = {
            ("/robots", "the expiry is a number of days"): {"name": "x", "duration": "soon", "access": "repository:pull"},
            ("/robots", "unsupported access"): {"name": "x", "duration": "1", "access": "system:everything"},
            ("/robots", "illegal characters"): {"name": "Bad Name", "duration": "1", "access": "repository:pull"},
            ("/members", "choose a role"): {"kind": "user", "name": setup["guest"], "role": "9"},
            ("/members", "not found"): {"kind": "user", "name": "nobody-at-all", "role": "2"},
            ("/labels", "label color"): {"name": "x", "color": "red"},
            ("/policies/immutable", "decoration"): {"repo_decoration": "sideways", "repo_pattern": "**",
                                                    "tag_decoration": "matches", "tag_pattern": "x"},
            ("/policies/retention/rules", "choose what to retain"): {"template": "forever", "repo_decoration": "repoMatches",
                                                                     "repo_pattern": "**", "tag_decoration": "matches",
                                                                     "tag_pattern": "**"},
            ("/webhooks", "address"): {"name": "bad", "type": "http", "address": "not a url", "event_types": "PUSH_ARTIFACT"},
            ("/configuration", "severity"): {"severity": "apocalyptic"},
        }
        for (path, message), form in refused.items():
            answer = post(path, **form)
            assert answer.status_code in (400, 404), (path, answer.status_code)
            assert message in answer.text, (path, message)
            assert "Traceback" not in answer.text
        assert post("/robots/99999999999999/delete").status_code == 404
        assert post("/robots/1/sideways").status_code == 404
        assert client.get(f"/projects/{project}/policies/retention/executions/999999").status_code == 404
        filtered = client.get(f"/projects/{project}/logs", params={"resource": "a,b"})
        assert filtered.status_code == 200 and "cannot hold" in filtered.text
        assert "0 entries" not in client.get(f"/projects/{project}/logs", params={"user": "dmi"}).text
        assert "0 entries" in client.get(f"/projects/{project}/logs", params={"user": "nobody-did-this"}).text
        assert "0 entries" in client.get(f"/projects/{project}/logs", params={"operation": "pull", "user": "dmi"}).text
    with server.client() as api:
        assert all(r["name"] != "robot$" + project + "+x" for r in api.get("/api/v2.0/robots").json())
        assert api.get(f"/api/v2.0/projects/{project}").json()["metadata"].get("severity") != "apocalyptic"


def test_a_developer_sees_the_retention_policy_but_not_what_harbor_keeps_from_developers(server, setup):
    project = setup["project"]
    with httpx.Client(base_url=server.url) as client:
        log_in(client, setup["developer"], PASSWORD)
        policies = client.get(f"/projects/{project}/policies")
        assert policies.status_code == 200 and "Tag retention" in policies.text and "Add retention rule" in policies.text
        assert "Tag immutability" not in policies.text
        robots = client.get(f"/projects/{project}/robots")
        assert robots.status_code == 200 and "Create robot account" not in robots.text
        assert ">Webhooks<" not in robots.text and ">Logs<" not in robots.text and ">Policies<" in robots.text
        for page in ("webhooks", "logs"):
            assert client.get(f"/projects/{project}/{page}").status_code == 403
