"""The web UI in a real browser: Playwright drives Debian's chromium (no browser download) against a
berth process. Every page visited is checked by axe-core (no serious or critical violations), must
log no console error, and is saved as a screenshot in the test's tmp folder (and, when
BERTH_UI_SCREENSHOTS names a folder, there too: the README's pictures come from such a run)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_berth

from .helpers import V2, build_image
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PASSWORD = "Ui-test-pass1"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("ui") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, str]:
    """A private project with an image in it, and a user who is a guest there."""
    project, guest = f"ui-{uuid.uuid4().hex[:6]}", f"guest-{uuid.uuid4().hex[:6]}"
    with server.client() as api:
        assert api.post("/api/v2.0/users", json={"username": guest, "email": f"{guest}@example.test",
                                                 "realname": guest, "password": PASSWORD}).status_code == 201
    return {"project": project, "guest": guest}


def test_log_in_create_a_project_see_a_pushed_image_and_log_out(server, browser, people, tmp_path):
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page
    project = people["project"]

    page.goto("/")
    assert page.url.endswith("/login")
    admin.check("login")
    admin.log_in("admin", server.admin_password)
    page.wait_for_url(re.compile(r"/projects$"))
    assert page.get_by_role("link", name="library").is_visible()
    admin.check("projects")

    page.get_by_role("button", name="New project").click()
    admin.check("new-project")
    page.get_by_label("Project name").fill(project)
    page.get_by_label("Storage quota amount (-1 or empty: no limit)").fill("1")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(rf"/projects/{project}$"))
    assert "of 1.0 GiB used" in page.locator("article", has_text="Storage quota").inner_text()

    with server.client() as api:
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 3, "member_user": {"username": people["guest"]}}).status_code == 201
    image = build_image(seed=61, layers=2)
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(f"{project}/app", image, "1.0")
    people["digest"] = image.digest

    page.reload()
    assert "1 repository" in page.inner_text("main") and "2 members" in page.inner_text("main")
    assert "1 artifact" in page.inner_text("main") and page.get_by_role("progressbar").get_attribute("value") != "0"
    admin.check("project-summary")
    page.get_by_role("link", name="Repositories", exact=True).click()
    page.get_by_role("link", name=f"{project}/app").wait_for()
    admin.check("repositories")
    # the search updates the list in place (htmx) and puts the filter in the address: a permalink
    page.get_by_label("Search repositories by name").fill("nothing-like-it")
    page.wait_for_url(re.compile(r"\?name=nothing-like-it"))
    page.get_by_text("0 repositories").wait_for()
    page.goto(f"/projects/{project}/repositories?name=ap")
    page.get_by_role("link", name=f"{project}/app").click()

    page.wait_for_url(re.compile(rf"/projects/{project}/repositories/app$"))
    row = page.get_by_role("row", name=re.compile("1.0"))
    assert "Not scanned" in row.inner_text() and row.get_by_role("button", name=re.compile("Delete")).is_visible()
    admin.check("artifacts")

    row.get_by_role("link", name=image.digest[:19]).click()
    page.wait_for_url(re.compile(rf"/artifacts/{image.digest}$"))
    assert page.get_by_label("docker").input_value() == f"docker pull {server.host}/{project}/app@{image.digest}"
    assert page.get_by_label("skopeo").input_value().startswith(
        f"skopeo copy --src-tls-verify=false docker://{server.host}/{project}/app@{image.digest} ")
    layers = page.locator("table", has=page.get_by_role("columnheader", name="Media type"))
    assert layers.locator("tbody tr").count() == 2
    assert "layer 1" in page.inner_text("main")  # the build history
    page.get_by_role("button", name="Copy").first.click()
    page.get_by_role("status").filter(has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == f"docker pull {server.host}/{project}/app@{image.digest}"
    admin.check("artifact")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))
    # without a session a page sends the browser to log in, and back to it afterwards
    admin.arrive(f"/projects/{project}/repositories/app", "admin", server.admin_password)
    admin.close()


def test_a_guest_sees_no_delete_controls_and_the_server_refuses_them_anyway(server, browser, people, tmp_path):
    project, digest = people["project"], people.get("digest") or pytest.skip("needs the first test's image")
    guest = Visitor(browser, server, tmp_path, "guest", scheme="dark")  # axe checks the dark colours too
    page = guest.page
    guest.arrive(f"/projects/{project}/repositories/app", people["guest"], PASSWORD)
    assert page.get_by_role("row", name=re.compile("1.0")).is_visible()
    assert page.get_by_role("button", name=re.compile("Delete")).count() == 0
    guest.check("artifacts")
    page.get_by_role("link", name=digest[:19]).click()
    page.wait_for_url(re.compile(rf"/artifacts/{digest}$"))
    assert page.get_by_role("button", name=re.compile("Delete")).count() == 0
    guest.check("artifact")
    page.goto("/projects/-/new")  # a guest in one project may still create their own (the default setting)
    assert page.get_by_label("Project name").is_visible() and page.get_by_label("Proxy cache").count() == 0

    # the form a guest never sees, sent with a valid token: refused by the RBAC decision
    token = page.locator("input[name=csrftoken]").first.get_attribute("value")
    refused = page.request.post(f"/projects/{project}/repositories/app/artifacts/{digest}/delete",
                                form={"csrftoken": token}, max_redirects=0)
    assert refused.status == 403 and "does not allow delete on artifact" in refused.text()
    assert "Traceback" not in refused.text()
    guest.close()

    with server.client() as api:
        assert api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/{digest}").status_code == 200


def test_an_admin_deletes_an_artifact_from_its_page(server, browser, people, tmp_path):
    project, digest = people["project"], people.get("digest") or pytest.skip("needs the first test's image")
    admin = Visitor(browser, server, tmp_path, "delete")
    page = admin.page
    admin.arrive(f"/projects/{project}/repositories/app/artifacts/{digest}", "admin", server.admin_password)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete this artifact").click()
    page.wait_for_url(re.compile(rf"/projects/{project}/repositories/app$"))
    assert "This repository holds no artifacts." in page.inner_text("main")
    admin.close()


def test_a_form_without_its_csrf_token_is_refused_with_a_page_that_says_so(server):
    with httpx.Client(base_url=server.url) as browser:
        login = browser.get("/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', login.text)
        assert token and browser.cookies.get("berth_csrf")
        form = {"principal": "admin", "password": server.admin_password}
        refused = browser.post("/login", data=form)
        assert refused.status_code == 403 and "security token (CSRF)" in refused.text
        assert "sid" not in browser.cookies
        # a stale token (another browser's) is no better
        other = httpx.get(f"{server.url}/login").text
        stale = re.search(r'name="csrftoken" value="([^"]+)"', other)
        assert stale and stale.group(1) != token.group(1)
        assert browser.post("/login", data={**form, "csrftoken": stale.group(1)}).status_code == 403

        wrong = browser.post("/login", data={**form, "password": "wrong", "csrftoken": token.group(1)})
        assert wrong.status_code == 401 and "Invalid user name or password." in wrong.text
        logged_in = browser.post("/login", data={**form, "csrftoken": token.group(1)})
        assert logged_in.status_code == 303 and logged_in.headers["location"] == "/projects"
        cookie = next(value for name, value in logged_in.headers.multi_items()
                      if name == "set-cookie" and value.startswith("sid="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        # a state-changing request without the token changes nothing: still logged in afterwards
        assert browser.post("/logout").status_code == 403
        assert browser.post("/projects/-/new", data={"project_name": "by-forgery"}).status_code == 403
        assert browser.get("/projects").status_code == 200
        assert browser.get("/projects/by-forgery").status_code == 404


def test_the_other_fronts_keep_their_paths_and_errors_are_pages(server):
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/v2/").status_code == 401
        assert client.get("/api/v2.0/systeminfo").headers["content-type"].startswith("application/json")
        assert client.get("/no-such-path").json()["errors"][0]["code"] == "NOT_FOUND"
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
        assert client.get("/").headers["location"] == "/login"
        # a page for logged-in users only sends the browser to log in, then back (never to another site)
        assert client.get("/projects?name=a").headers["location"] == "/login?next=%2Fprojects%3Fname%3Da"
        expired = client.get("/projects?name=a", headers={"HX-Request": "true"})  # htmx: the whole page goes
        assert expired.status_code == 204 and expired.headers["hx-redirect"] == "/login?next=%2Fprojects%3Fname%3Da"
        assert 'name="next" value="/"' in client.get("/login?next=//evil.example/").text
        log_in(client, "admin", server.admin_password)
        missing = client.get("/projects/no-such-project")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert "project no-such-project not found" in missing.text and "Traceback" not in missing.text
        assert client.get("/projects/no-such-project/repositories/x/artifacts/sha256:" + "0" * 64).status_code == 404
        assert client.get("/projects/library/repositories/x/artifacts/sha256:" + "0" * 64 + "/delete").status_code == 404
        assert client.post("/projects/library/repositories/x", data={}).status_code == 403  # no CSRF token


def log_in(client: httpx.Client, user: str, password: str) -> None:
    """Log `client` in through the log-in form, as a browser would (its CSRF token included)."""
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/login").text)
    assert token
    response = client.post("/login", data={"principal": user, "password": password, "csrftoken": token.group(1)})
    assert response.status_code == 303, response.text


def test_lists_page_with_permalinks_that_keep_their_filters(server):
    with server.client() as api:
        for i in range(17):
            assert api.post("/api/v2.0/projects", json={"project_name": f"paged-{i:02d}"}).status_code in (201, 409)
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        first = client.get("/projects", params={"name": "paged-"})
        assert "17 projects matching" in first.text and "Page 1 of 2" in first.text
        assert 'href="?name=paged-&amp;page=2"' in first.text and "paged-14" in first.text
        second = client.get("/projects?name=paged-&page=2")
        assert "paged-16" in second.text and "paged-14" not in second.text
        assert 'href="?name=paged-&amp;page=1"' in second.text
        # htmx asks for the list alone; a page restored from history is whole
        fragment = client.get("/projects?name=paged-&page=2", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<section id="projects"') and "paged-16" in fragment.text
        restored = client.get("/projects?name=paged-&page=2",
                              headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
        assert restored.text.startswith("<!doctype html>")


def test_the_project_form_shows_the_services_refusals(server, people):
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/projects/-/new").text).group(1)  # type: ignore[union-attr]
        bad = client.post("/projects/-/new", data={"project_name": "Not A Name", "csrftoken": token})
        assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text and 'value="Not A Name"' in bad.text
        assert "Traceback" not in bad.text
        taken = client.post("/projects/-/new", data={"project_name": "library", "csrftoken": token})
        assert taken.status_code == 409 and "The project named library already exists" in taken.text
    with httpx.Client(base_url=server.url) as client:
        log_in(client, people["guest"], PASSWORD)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/projects/-/new").text).group(1)  # type: ignore[union-attr]
        # a field only administrators see, sent anyway: the same service refuses it as for the API
        proxy = client.post("/projects/-/new", data={"project_name": "guest-proxy", "registry_id": "1", "csrftoken": token})
        assert proxy.status_code == 403 and "Only system admin can create proxy cache project" in proxy.text


def test_behind_tls_the_cookies_are_secure(tmp_path):
    """berth behind a TLS proxy (public_url https): the session and CSRF cookies only travel over TLS."""
    server = start_berth(tmp_path / "data", {"BERTH_PUBLIC_URL": "https://registry.example.test"}, projects=())
    try:
        with httpx.Client(base_url=server.url) as client:
            page = client.get("/login")
            csrf = page.headers["set-cookie"]
            assert csrf.startswith("berth_csrf=") and "Secure" in csrf and "SameSite=Lax" in csrf
            token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            logged_in = client.post("/login", data={"principal": "admin", "password": server.admin_password,
                                                    "csrftoken": token},
                                    headers={"cookie": f"berth_csrf={csrf.split(';')[0].split('=', 1)[1]}"})
            assert logged_in.status_code == 303, logged_in.text
            sid = next(v for k, v in logged_in.headers.multi_items() if k == "set-cookie" and v.startswith("sid="))
            assert "Secure" in sid and "HttpOnly" in sid and "SameSite=lax" in sid
    finally:
        server.stop()
