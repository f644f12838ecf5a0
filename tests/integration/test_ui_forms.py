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
    ]
    for path, form, status, input_id, note_id, words in cases:
        answer = client.post(path, data={**form, "csrftoken": token})
        assert answer.status_code == status, (path, answer.status_code, answer.text[-2000:])
        message = beside(answer.text, input_id, note_id)
        assert words in message.lower(), (path, message)
        assert "Traceback" not in answer.text

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
