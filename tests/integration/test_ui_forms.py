"""The web UI's forms (issue 16): a refused form shows the service's message right beside the field it
is about (the field aria-invalid, pointing at the message with aria-describedby), and at the form's
top when it is about no single field; the same on admin and project pages (one mechanism,
`pages.Problem` and its template helpers). Checked with httpx on representative forms, and once in
the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_berth

from .test_ui import log_in
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PROJECTS = ("forms-a", "forms-b")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("ui-forms") / "data", projects=PROJECTS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(server) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/projects").text)
        assert token
        yield client, token.group(1)


def beside(page: str, input_id: str, note_id: str) -> str:
    """The message drawn right after the input `input_id` (its tag, or its closing tag for a select or
    textarea), which is aria-invalid and described by the message; the message's text."""
    tag = re.search(rf'<(input|select|textarea) id="{re.escape(input_id)}"[^>]*>', page)
    assert tag, (input_id, page)
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described and note_id in described.group(1).split(), tag.group(0)
    rest = page[tag.end():]
    if tag.group(1) != "input":
        rest = rest[rest.index(f"</{tag.group(1)}>") + len(f"</{tag.group(1)}>"):]
    note = re.match(rf'\s*<small id="{re.escape(note_id)}" class="problem" role="alert">([^<]+)</small>', rest)
    assert note, rest[:300]
    assert page.count('aria-invalid="true"') == 1 and 'class="problem" role="alert" id=' not in page
    return note.group(1)


def test_refused_forms_show_the_message_beside_their_field(server, admin):
    client, token = admin
    with server.client() as api:
        assert api.post("/api/v2.0/labels", json={"name": "taken", "scope": "g"}).status_code == 201
        quota = api.get("/api/v2.0/quotas").json()[0]["id"]

    cases = [  # (path, form, status, input id, message id, words of the service's message)
        ("/admin/users", {"username": "newbie", "email": "newbie@example.com", "password": "short"}, 400,
         "new-password", "new-password-error", "password"),
        ("/admin/labels", {"name": "taken", "color": "#112233"}, 409, "label-name", "label-name-error",
         "already exists"),
        ("/projects/-/new", {"project_name": "forms-a"}, 409, "project_name", "project_name-error",
         "already exists"),
        ("/projects/forms-a/webhooks", {"name": "hook", "type": "http", "payload_format": "Default",
                                        "address": "ftp://hooks.example.com/x", "event_types": "PUSH_ARTIFACT"},
         400, "webhook-address", "webhook-address-error", "scheme"),
        ("/projects/forms-a/members", {"kind": "user", "name": "nobody-here", "role": "2"}, 400,
         "member-name", "member-name-error", "nobody-here"),
        # a page with two forms of the same fields (run and schedule): the one posted
        ("/admin/gc", {"action": "run", "workers": "99"}, 400, "run-workers", "run-workers-error", "worker"),
        ("/admin/purge", {"action": "schedule", "schedule": "Custom", "cron": "every day", "audit_retention_hour": "1",
                          "include_event_types": "pull_artifact"}, 400, "cron", "cron-error", "cron"),
    ]
    for path, form, status, input_id, note_id, words in cases:
        answer = client.post(path, data={**form, "csrftoken": token})
        assert answer.status_code == status, (path, answer.status_code, answer.text[-2000:])
        message = beside(answer.text, input_id, note_id)
        assert words in message.lower(), (path, message)
        assert "Traceback" not in answer.text

    # a list with a form per row: the message under the row posted (its field, unit and button in one group)
    row = client.post(f"/admin/quotas/{quota}", data={"storage_amount": "lots", "storage_unit": "GiB", "csrftoken": token})
    assert row.status_code == 400
    assert re.search(rf'<input id="quota-{quota}"[^>]*aria-invalid="true" aria-describedby="quota-{quota}-error"', row.text)
    assert re.search(rf'</div>\s*<small id="quota-{quota}-error" class="problem" role="alert">[^<]*whole number', row.text)

    # the form's other fields keep what was typed; the help text stays described as well
    answer = client.post("/projects/-/new", data={"project_name": "forms-b", "csrftoken": token})
    assert re.search(r'<input id="project_name"[^>]*aria-describedby="name-help project_name-error"', answer.text)

    # htmx's answer for the project robot form: the same markup, 200 and the status in the header
    fragment = client.post("/projects/forms-a/robots", headers={"HX-Request": "true"}, data={
        "name": "r1", "duration": "-7", "access": "repository:pull", "csrftoken": token})
    assert fragment.status_code == 200 and fragment.headers["X-Berth-Refused"] == "400"
    assert "expiry" in beside(fragment.text, "robot-duration", "robot-duration-error")

    # a message about no single field stays at the form's top, and no field claims it
    top = client.post("/admin/robots", data={"name": "nothing", "scope": "all", "csrftoken": token})
    assert top.status_code == 400
    assert re.search(r'<p id="form-error" class="problem" role="alert">choose at least one permission</p>', top.text)
    assert 'aria-invalid="true"' not in top.text


def test_a_refused_form_in_the_browser(server, browser, tmp_path):  # noqa: F811
    """htmx's form (a full-page POST answered 400 would be a console error): the message beside its field."""
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page
    admin.arrive("/projects/forms-b/robots", "admin", server.admin_password)
    page.locator("#robot-name").fill("browsed")
    page.locator("#robot-duration").fill("-5")
    page.get_by_role("button", name="Create robot account").click()
    note = page.locator("#robot-duration + #robot-duration-error")
    note.wait_for()
    assert "expiry" in note.inner_text()
    field = page.locator("#robot-duration")
    assert (field.get_attribute("aria-invalid"), field.get_attribute("aria-describedby")) == (
        "true", "robot-duration-error")
    assert page.locator("#robot-name").input_value() == "browsed"
    assert page.locator("#robot-name").get_attribute("aria-invalid") is None
    admin.check("robot-refused")
    admin.close()


def _robot(server: Server, name: str, level: str, project: str, days: int) -> int:
    """A robot made through the API with pull on `project`: its id."""
    with server.client() as api:
        made = api.post("/api/v2.0/robots", json={
            "name": name, "level": level, "duration": days, "permissions": [
                {"kind": "project", "namespace": project, "access": [{"resource": "repository", "action": "pull"}]}]})
        assert made.status_code == 201, made.text
        return made.json()["id"]


def _access(robot: dict) -> list[tuple[str, str, list[str]]]:
    return sorted((p["kind"], p["namespace"], sorted(f"{a['resource']}:{a['action']}" for a in p["access"]))
                  for p in robot["permissions"])


def test_an_admin_edits_a_system_robot_with_its_own_access_per_project(server, browser, tmp_path):  # noqa: F811
    robot_id = _robot(server, "editme", "system", "forms-a", 30)
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page
    admin.arrive("/admin/robots", "admin", server.admin_password)
    page.get_by_role("button", name="Edit robot account robot$editme").click()
    assert page.get_by_label("Project 1", exact=True).input_value() == "forms-a"
    assert page.get_by_label("pull repository in project 1", exact=True).is_checked()
    page.get_by_label("Description").fill("edited in the browser")
    page.get_by_label("Expires after").fill("-1")
    page.get_by_label("Enabled").uncheck()
    page.get_by_label("list audit-log on the system", exact=True).check()
    page.get_by_label("push repository in project 1", exact=True).check()
    page.get_by_label("Project 2", exact=True).fill("forms-b")  # its own list: pull only (checked already)
    admin.check("robot-edit")
    page.get_by_role("button", name="Save robot account").click()
    page.get_by_role("button", name="Edit robot account robot$editme").wait_for()
    with server.client() as api:
        robot = api.get(f"/api/v2.0/robots/{robot_id}").json()
    assert (robot["description"], robot["duration"], robot["expires_at"], robot["disable"]) == (
        "edited in the browser", -1, -1, True)
    assert _access(robot) == [("project", "forms-a", ["repository:pull", "repository:push"]),
                              ("project", "forms-b", ["repository:pull"]), ("system", "/", ["audit-log:list"])]

    # a project robot edited on its project's page, through the same update
    project_robot = _robot(server, "builder", "project", "forms-b", 7)
    page.goto("/projects/forms-b/robots")
    page.get_by_role("button", name="Edit robot$forms-b+builder").click()
    page.get_by_label("Description").fill("pushes too")
    page.get_by_label("push repository", exact=True).check()
    admin.check("project-robot-edit")
    page.get_by_role("button", name="Save robot account").click()
    page.get_by_role("button", name="Edit robot$forms-b+builder").wait_for()
    with server.client() as api:
        robot = api.get(f"/api/v2.0/robots/{project_robot}").json()
    assert (robot["description"], robot["duration"], robot["disable"]) == ("pushes too", 7, False)
    assert _access(robot) == [("project", "forms-b", ["repository:pull", "repository:push"])]
    admin.close()


def test_robot_forms_refuse_beside_the_field_and_guests_cannot_edit(server, admin):
    client, token = admin
    # a system robot created with a different access list on each project
    created = client.post("/admin/robots", data={
        "name": "perproject", "scope": "some", "ns_0": "forms-a", "access_0": ["repository:pull", "repository:push"],
        "ns_1": "forms-b", "access_1": "artifact:list", "csrftoken": token})
    assert created.status_code == 200 and "robot$perproject" in created.text
    with server.client() as api:
        robot = next(r for r in api.get("/api/v2.0/robots").json() if r["name"] == "robot$perproject")
    assert _access(robot) == [("project", "forms-a", ["repository:pull", "repository:push"]),
                              ("project", "forms-b", ["artifact:list"])]
    # the second row names a missing project: the message beside that row's name, the rows kept
    missing = client.post(f"/admin/robots/{robot['id']}", data={
        "description": "", "duration": "30", "enabled": "on", "scope": "some", "ns_0": "forms-a",
        "access_0": "repository:pull", "ns_2": "nowhere", "access_2": "repository:pull", "csrftoken": token})
    assert missing.status_code == 404
    assert "project nowhere not found" in beside(missing.text, "ns-1", "ns-1-error")
    twice = client.post(f"/admin/robots/{robot['id']}", data={
        "duration": "30", "scope": "some", "ns_0": "forms-a", "access_0": "repository:pull", "ns_1": "forms-a",
        "access_1": "repository:push", "csrftoken": token})
    assert twice.status_code == 400 and "named twice" in beside(twice.text, "ns-0", "ns-0-error")
    bad_days = client.post(f"/admin/robots/{robot['id']}", data={
        "duration": "soon", "scope": "all", "project": "repository:pull", "csrftoken": token})
    assert bad_days.status_code == 400 and "expiry" in beside(bad_days.text, "robot-duration", "robot-duration-error")
    with server.client() as api:  # nothing of the refused edits was stored
        assert _access(api.get(f"/api/v2.0/robots/{robot['id']}").json()) == _access(robot)
        # a project robot's edit: a guest of the project gets no page and no change
        assert api.post("/api/v2.0/users", json={"username": "guestie", "email": "guestie@example.com",
                                                 "realname": "G", "password": "Guest12345"}).status_code == 201
        assert api.post("/api/v2.0/projects/forms-a/members", json={
            "role_id": 3, "member_user": {"username": "guestie"}}).status_code == 201
    kept = _robot(server, "kept", "project", "forms-a", 7)
    # the project robot's refused edit (no access chosen): the message at the form's top
    empty = client.post(f"/projects/forms-a/robots/{kept}", data={"duration": "7", "enabled": "on", "csrftoken": token})
    assert empty.status_code == 400 and re.search(r'<p id="robot-error" class="problem" role="alert">', empty.text)
    with httpx.Client(base_url=server.url) as guest:
        log_in(guest, "guestie", "Guest12345")
        assert guest.get(f"/projects/forms-a/robots/{kept}").status_code == 403
        guest_token = re.search(r'name="csrftoken" value="([^"]+)"', guest.get("/projects/forms-a").text)
        assert guest_token
        forged = guest.post(f"/projects/forms-a/robots/{kept}", data={
            "duration": "-1", "access": "repository:push", "csrftoken": guest_token.group(1)})
        assert forged.status_code == 403
        assert "Edit robot$" not in guest.get("/projects/forms-a/robots").text
    with server.client() as api:
        robot = api.get(f"/api/v2.0/robots/{kept}").json()
    assert (robot["duration"], _access(robot)) == (7, [("project", "forms-a", ["repository:pull"])])
