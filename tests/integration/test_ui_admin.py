"""The Administration pages in a real browser (the shared `browser` and `Visitor`: axe-core and
console checks on every page, screenshots), and with httpx: a user who is no system admin gets 403
on every admin page, and their forged POSTs (with a valid CSRF token) change nothing."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_berth, start_peer

from .helpers import V2, build_image
from .test_ui import log_in
from .ui_browser import Visitor, browser  # noqa: F401  (browser: the module's fixture)

PASSWORD = "Ui-admin-pass1"
ADMIN_PAGES = ("/admin", "/admin/users", "/admin/groups", "/admin/registries", "/admin/registries/-",
               "/admin/replication", "/admin/replication/-", "/admin/replication/1", "/admin/replication/executions", "/admin/replication/executions/1",
               "/admin/replication/executions/1/tasks/2", "/admin/gc", "/admin/purge", "/admin/scanners",
               "/admin/quotas", "/admin/labels", "/admin/robots", "/admin/allowlist", "/admin/auth",
               "/admin/settings")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("ui-admin") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def peer(tmp_path_factory) -> Iterator[Server]:
    peer = start_peer(tmp_path_factory.mktemp("ui-admin-peer"))
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def outsider(server: Server) -> dict[str, object]:
    """A user who is no system admin."""
    name = f"plain-{uuid.uuid4().hex[:6]}"
    with server.client() as api:
        created = api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                    "realname": name, "password": PASSWORD})
        assert created.status_code == 201
        user_id = int(created.headers["Location"].rsplit("/", 1)[1])
    return {"name": name, "id": user_id}


def _poll(check, what: str, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_admin_manages_users_registries_gc_and_the_allowlist(server, browser, peer, tmp_path):
    admin = Visitor(browser, server, tmp_path, "admin")
    page = admin.page
    newcomer = f"newbie-{uuid.uuid4().hex[:6]}"

    admin.arrive("/admin/users", "admin", server.admin_password)
    assert page.get_by_role("navigation", name="berth").get_by_role("link", name="Administration").get_attribute(
        "aria-current") == "page"
    admin.check("users")
    page.get_by_text("New user").click()
    page.get_by_label("User name").fill(newcomer)
    page.get_by_label("Email").fill(f"{newcomer}@example.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(re.compile(rf"/admin/users\?name={newcomer}$"))
    page.get_by_role("button", name=f"Make admin: {newcomer}").click()
    page.get_by_text(f"{newcomer} is now a system administrator.").wait_for()
    assert page.get_by_role("button", name=f"Remove admin: {newcomer}").is_visible()
    admin.check("user-made-admin")
    with server.client() as api:
        found = api.get("/api/v2.0/users", params={"q": f"username={newcomer}"}).json()
        assert [user["sysadmin_flag"] for user in found] == [True]

    page.get_by_role("link", name="Groups").click()
    page.get_by_label("Group name").wait_for(state="attached")
    admin.check("groups")

    # a registry endpoint: a local docker-registry, its connection tested before it is saved
    page.get_by_role("link", name="Registries").click()
    page.get_by_text("0 registry endpoints").wait_for()
    admin.check("registries")
    page.get_by_role("button", name="New registry endpoint").click()
    page.get_by_label("Name", exact=True).fill("peer")
    page.get_by_label("Endpoint URL").fill(peer.url)
    page.get_by_role("button", name="Test connection").click()
    page.get_by_text("Connection tested: the endpoint answers as a healthy registry.").wait_for()
    admin.check("registry-tested")
    page.get_by_role("button", name="Create endpoint").click()
    page.wait_for_url(re.compile(r"/admin/registries$"))
    page.get_by_role("link", name="peer").click()
    assert page.get_by_label("Endpoint URL").input_value() == peer.url
    admin.check("registry")
    with server.client() as api:
        assert [r["url"] for r in api.get("/api/v2.0/registries").json()] == [peer.url]

    # a push replication rule to it, run now, its execution, tasks and a task's log
    with server.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": "rep", "metadata": {"public": "false"}}).status_code == 201
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image("rep/app", build_image(seed=71, layers=1), "1.0")
    page.get_by_role("link", name="Replication").click()
    admin.check("replication-empty")
    page.get_by_role("button", name="New replication rule").click()
    page.get_by_label("Name", exact=True).fill("to-peer")
    page.get_by_label("Name (a pattern").fill("rep/**")
    page.get_by_label("Destination namespace").fill("mirror")
    page.get_by_label("Bandwidth per task").fill("-1")
    admin.check("replication-rule")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(re.compile(r"/admin/replication$"))
    page.get_by_role("button", name="Replicate now: to-peer").click()
    page.wait_for_url(re.compile(r"/admin/replication/executions/\d+$"))

    def replicated() -> bool:
        page.reload()
        return page.locator("#run-status").inner_text().startswith(("Success", "Error"))

    _poll(replicated, "the replication")
    assert page.locator("#run-status").inner_text() == "Success"
    admin.check("replication-execution")
    page.get_by_role("link", name=re.compile("Log of task")).first.click()
    assert page.get_by_label(re.compile("Log of task")).inner_text().strip()
    admin.check("replication-task-log")
    assert httpx.get(f"{peer.url}/v2/mirror/app/tags/list").json()["tags"] == ["1.0"]
    page.goto("/admin/replication")
    page.get_by_role("link", name="to-peer").click()
    assert page.get_by_label("Destination namespace").input_value() == "mirror"
    admin.check("replication-rule-edit")
    page.goto("/admin/replication/executions")
    page.get_by_role("link", name=re.compile(r"Execution \d+")).first.wait_for()
    admin.check("replication-executions")

    # a GC dry run and its log
    page.get_by_role("link", name="Garbage collection").click()
    admin.check("gc")
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_url(re.compile(r"/admin/gc/\d+$"))

    _poll(replicated, "the GC dry run")
    assert page.locator("#run-status").inner_text() == "Success"
    assert "garbage collection started: dry_run=True" in page.get_by_label(re.compile("Log of run")).inner_text()
    admin.check("gc-run")

    # the audit-log purge on a schedule
    page.get_by_role("link", name="Audit log purge").click()
    admin.check("purge")
    page.get_by_label("Schedule", exact=True).select_option("Daily")
    page.get_by_role("button", name="Save schedule").click()
    page.get_by_text("Now: Daily").wait_for()
    with server.client() as api:
        schedule = api.get("/api/v2.0/system/purgeaudit/schedule").json()
    assert schedule["schedule"]["type"] == "Daily"
    assert json.loads(schedule["job_parameters"])["audit_retention_hour"] == 720

    # scanners and the scan-all schedule
    page.get_by_role("link", name="Scanners").click()
    page.get_by_role("button", name="Save schedule").wait_for()
    admin.check("scanners")
    assert page.get_by_role("row", name=re.compile("^berth")).get_by_text("built in").is_visible()  # no delete button
    page.get_by_label("Schedule", exact=True).select_option("Weekly")
    page.get_by_role("button", name="Save schedule").click()
    page.get_by_text("Now: Weekly").wait_for()
    with server.client() as api:
        assert api.get("/api/v2.0/system/scanAll/schedule").json()["schedule"]["type"] == "Weekly"

    # a project's quota, and a system label
    page.get_by_role("link", name="Project quotas").click()
    page.get_by_label("Storage quota of rep (-1: no limit)").fill("3")
    page.get_by_label("Unit of the storage quota of rep").select_option("GiB")
    page.get_by_role("button", name="Save the storage quota of rep").click()
    page.wait_for_url(re.compile(r"/admin/quotas$"))
    assert page.get_by_label("Storage quota of rep (-1: no limit)").input_value() == "3"
    admin.check("quotas")
    with server.client() as api:
        assert api.get("/api/v2.0/projects/rep/summary").json()["quota"]["hard"]["storage"] == 3 << 30
    page.get_by_role("link", name="Labels").click()
    page.get_by_text("New label").click()
    page.get_by_label("Name", exact=True).fill("approved")
    page.get_by_label("Description").fill("checked by the release team")
    page.get_by_role("button", name="Create label").click()
    page.get_by_role("button", name="Delete label approved").wait_for()
    page.get_by_label("Search labels by name").fill("nothing-like-it")  # in place (htmx), with a permalink
    page.wait_for_url(re.compile(r"/admin/labels\?name=nothing-like-it$"))
    page.get_by_text("0 labels").wait_for()
    assert page.locator("main h1").count() == 1
    page.get_by_label("Search labels by name").fill("appr")
    page.get_by_role("button", name="Delete label approved").wait_for()
    admin.check("labels")
    with server.client() as api:
        assert [label["name"] for label in api.get("/api/v2.0/labels", params={"scope": "g"}).json()] == ["approved"]

    # a system robot account, its secret shown once
    page.get_by_role("link", name="Robot accounts").click()
    page.get_by_text("New robot account").click()
    page.get_by_label("Name (after the prefix").fill("ci")
    page.get_by_label("pull repository on every project", exact=True).check()
    page.get_by_label("push repository on every project", exact=True).check()
    admin.check("robots")
    page.get_by_role("button", name="Create robot account").click()
    page.get_by_text("Its secret is shown here once").wait_for()
    secret = page.get_by_label("Secret").input_value()
    admin.check("robot-created")
    pulled = httpx.get(f"{server.url}/v2/rep/app/tags/list", auth=("robot$ci", secret))
    assert pulled.status_code == 200 and pulled.json()["tags"] == ["1.0"]
    page.get_by_role("link", name="Back to robot accounts").click()
    assert "Its secret" not in page.inner_text("main") and secret not in page.content()
    page.get_by_role("button", name="Delete robot account robot$ci").wait_for()

    # the system CVE allowlist: items and expiry
    page.get_by_role("link", name="CVE allowlist").click()
    page.get_by_label("CVE ids, one a line").fill("CVE-2024-0001\nCVE-2023-12345")
    page.get_by_label("Expires on (UTC; empty: never)").fill("2031-05-01")
    page.get_by_role("button", name="Save allowlist").click()
    page.get_by_text("The allowlist was saved.").wait_for()
    admin.check("allowlist")
    with server.client() as api:
        allowlist = api.get("/api/v2.0/system/CVEAllowlist").json()
    assert [item["cve_id"] for item in allowlist["items"]] == ["CVE-2024-0001", "CVE-2023-12345"]
    assert allowlist["expires_at"] == 1935360000  # 2031-05-01T00:00:00Z

    # authentication settings (the mode is fixed: users exist) and system settings
    page.get_by_role("link", name="Authentication").click()
    assert page.get_by_label("Authentication mode").is_disabled()
    page.get_by_label("LDAP URL").fill("ldap://127.0.0.1:9")
    page.get_by_role("button", name="Test LDAP").click()
    assert "LDAP test failed" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("LDAP URL").input_value() == "ldap://127.0.0.1:9"  # what was typed stays
    page.goto("/admin/auth")
    admin.check("auth-settings")
    page.get_by_role("link", name="System settings").click()
    page.get_by_label("Banner message").fill("Maintenance on Friday")
    page.get_by_label("Who may create projects").select_option("adminonly")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    admin.check("system-settings")
    with server.client() as api:
        settings = api.get("/api/v2.0/configurations").json()
    assert settings["banner_message"]["value"] == "Maintenance on Friday"
    assert settings["project_creation_restriction"]["value"] == "adminonly"
    assert settings["auth_mode"]["value"] == "db_auth"
    admin.close()

    # the new admin, in the dark colours: the same pages pass axe there too
    dark = Visitor(browser, server, tmp_path, "dark", scheme="dark")
    dark.arrive("/admin/replication", newcomer, PASSWORD)
    dark.check("replication")
    dark.page.get_by_role("link", name="Users").click()
    dark.page.get_by_role("row", name=re.compile(newcomer)).wait_for()
    assert dark.page.get_by_role("button", name=f"Remove admin: {newcomer}").count() == 0  # not for yourself
    assert dark.page.get_by_role("button", name="Delete user admin").count() == 0  # nor for the first admin
    dark.check("users")
    dark.close()


def test_refused_forms_show_harbors_message_and_keep_what_was_typed(server):
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/admin/users").text).group(1)  # type: ignore[union-attr]
        weak = client.post("/admin/users", data={"username": "weakling", "email": "weak@example.test",
                                                 "password": "weak", "csrftoken": token})
        assert weak.status_code == 400 and 'role="alert"' in weak.text and "password" in weak.text
        assert 'value="weakling"' in weak.text and 'value="weak"' not in weak.text  # the password is not sent back
        allowlist = client.post("/admin/allowlist", data={"cves": "CVE-2024-0001\nbad/cve", "csrftoken": token})
        assert allowlist.status_code == 400 and "invalid CVE id in cve_allowlist: &#39;bad/cve&#39;" in allowlist.text
        unreachable = client.post("/admin/registries/-", data={
            "action": "test", "name": "nobody", "type": "docker-registry", "url": "http://127.0.0.1:9", "csrftoken": token})
        assert unreachable.status_code == 400 and "the registry is unhealthy" in unreachable.text
        rule = client.post("/admin/replication/-", data={"name": "bad-cron", "direction": "push", "endpoint": "1",
                                                         "trigger": "scheduled", "cron": "nonsense", "csrftoken": token})
        assert rule.status_code == 400 and "invalid cron string for scheduled trigger" in rule.text
        assert 'value="bad-cron"' in rule.text
        assert client.post("/admin/gc", data={"action": "run", "workers": "0", "csrftoken": token}).status_code == 400
        adapter = client.post("/admin/scanners", data={"action": "test", "name": "nobody", "url": "http://127.0.0.1:9",
                                                       "csrftoken": token})
        assert adapter.status_code == 400 and "failed to get the metadata of the scanner adapter" in adapter.text
        schedule = client.post("/admin/gc", data={"action": "schedule", "schedule": "Custom", "cron": "nonsense",
                                                  "csrftoken": token})
        assert schedule.status_code == 400 and 'role="alert"' in schedule.text
        mode = client.post("/admin/auth", data={"action": "save", "auth_mode": "ldap_auth", "csrftoken": token})
        assert mode.status_code == 400
        assert "the auth mode cannot be changed once users other than admin exist in the database" in mode.text
        timeout = client.post("/admin/settings", data={"action": "save", "session_timeout": "0", "csrftoken": token})
        assert timeout.status_code == 400 and "configuration session_timeout must be between 1 and" in timeout.text
    with server.client() as api:
        assert api.get("/api/v2.0/users", params={"q": "username=weakling"}).json() == []
        assert api.get("/api/v2.0/registries", params={"q": "name=nobody"}).json() == []
        assert api.get("/api/v2.0/replication/policies", params={"name": "bad-cron"}).json() == []
        assert api.get("/api/v2.0/system/gc/schedule").text in ("", "null")


def test_someone_who_is_no_admin_gets_403_and_their_forged_posts_change_nothing(server, outsider):
    with server.client() as api:
        before_users = api.get("/api/v2.0/users", params={"page_size": 100}).json()
        before_allowlist = api.get("/api/v2.0/system/CVEAllowlist").json()
        before_registries = api.get("/api/v2.0/registries").json()
        before_gc = api.get("/api/v2.0/system/gc").json()
        before_replication = api.get("/api/v2.0/replication/executions").json()
        before_scanners = api.get("/api/v2.0/scanners").json()
        before_quotas = api.get("/api/v2.0/quotas").json()
        before_labels = api.get("/api/v2.0/labels", params={"scope": "g"}).json()
        before_settings = api.get("/api/v2.0/configurations").json()
        before_robots = api.get("/api/v2.0/robots").json()
    with httpx.Client(base_url=server.url) as client:
        log_in(client, str(outsider["name"]), PASSWORD)
        projects = client.get("/projects")
        assert projects.status_code == 200 and "Administration" not in projects.text
        for path in ADMIN_PAGES:
            refused = client.get(path)
            assert refused.status_code == 403, path
            assert "Not allowed" in refused.text and "Traceback" not in refused.text
        token = re.search(r'name="csrftoken" value="([^"]+)"', projects.text).group(1)  # type: ignore[union-attr]
        forged = {
            "/admin/users": {"username": "sneaky", "email": "sneaky@example.test", "password": PASSWORD},
            f"/admin/users/{outsider['id']}/sysadmin": {"flag": "true"},
            "/admin/users/1/password": {"password": "Taken-over-1"},
            "/admin/users/1/delete": {},
            "/admin/groups": {"group_type": "2", "group_name": "sneaky"},
            "/admin/registries/-": {"action": "save", "name": "sneaky", "url": "http://127.0.0.1:9", "type": "docker-registry"},
            "/admin/replication/1/run": {},
            "/admin/replication/1/delete": {},
            "/admin/gc": {"action": "run"},
            "/admin/gc/1/stop": {},
            "/admin/purge/1/stop": {},
            "/admin/replication/executions/1/stop": {},
            "/admin/purge": {"action": "schedule", "schedule": "Hourly", "audit_retention_hour": "1",
                             "include_event_types": "pull_artifact"},
            "/admin/allowlist": {"cves": "CVE-2020-0001"},
            "/admin/scanners": {"action": "save", "name": "sneaky", "url": "http://127.0.0.1:9"},
            "/admin/scan-all": {"action": "schedule", "schedule": "None"},
            "/admin/quotas/1": {"storage_amount": "1", "storage_unit": "MiB"},
            "/admin/labels": {"name": "sneaky"},
            "/admin/labels/1/delete": {},
            "/admin/robots": {"name": "sneaky", "access-repository-pull": "on"},
            "/admin/robots/1/delete": {},
            "/admin/robots/1": {"description": "sneaky", "duration": "-1", "system": "audit-log:list"},
            "/admin/auth": {"action": "save", "auth_mode": "ldap_auth"},
            "/admin/settings": {"action": "save", "banner_message": "sneaky", "project_creation_restriction": "everyone"},
        }
        for path, form in forged.items():
            assert client.post(path, data={**form, "csrftoken": token}).status_code == 403, path
    with server.client() as api:
        assert api.get("/api/v2.0/users", params={"page_size": 100}).json() == before_users
        assert api.get("/api/v2.0/system/CVEAllowlist").json() == before_allowlist
        assert api.get("/api/v2.0/registries").json() == before_registries
        assert api.get("/api/v2.0/system/gc").json() == before_gc
        assert api.get("/api/v2.0/replication/executions").json() == before_replication
        assert [p["name"] for p in api.get("/api/v2.0/replication/policies").json()] == ["to-peer"]
        assert api.get("/api/v2.0/system/purgeaudit/schedule").json()["schedule"]["type"] == "Daily"
        assert api.get("/api/v2.0/usergroups").json() == []
        assert api.get("/api/v2.0/scanners").json() == before_scanners
        assert api.get("/api/v2.0/quotas").json() == before_quotas
        assert api.get("/api/v2.0/labels", params={"scope": "g"}).json() == before_labels
        assert api.get("/api/v2.0/configurations").json() == before_settings
        assert api.get("/api/v2.0/robots").json() == before_robots
        assert api.get("/api/v2.0/system/scanAll/schedule").json()["schedule"]["type"] == "Weekly"
    with httpx.Client(base_url=server.url) as client:  # the admin's password still works
        log_in(client, "admin", server.admin_password)


def test_an_admin_stops_a_pending_gc_purge_and_replication_run_as_the_api_does(server):
    """Paused queues keep a run Pending: its page shows Stop, the POST stops it (as stopGC, stopPurge
    and stopReplication do); a finished run shows no Stop and a stop leaves it as it was (the API: 200)."""
    queues = ("GARBAGE_COLLECTION", "PURGE_AUDIT_LOG", "REPLICATION")
    with server.client() as api:
        finished = api.get("/api/v2.0/system/gc").json()[-1]
        assert api.put(f"/api/v2.0/system/gc/{finished['id']}").status_code == 200
        for queue in queues:
            assert api.put(f"/api/v2.0/jobservice/queues/{queue}", json={"action": "pause"}).status_code == 200
        try:
            started = {
                "gc": api.post("/api/v2.0/system/gc/schedule", json={"schedule": {"type": "Manual"},
                                                                    "parameters": {"dry_run": True}}),
                "purge": api.post("/api/v2.0/system/purgeaudit/schedule", json={"schedule": {"type": "Manual"}, "parameters": {
                    "audit_retention_hour": 1000, "include_event_types": "pull_artifact", "dry_run": True}}),
                "replication/executions": api.post("/api/v2.0/replication/executions", json={"policy_id": 1}),
            }
            ids = {}
            for key, answer in started.items():
                assert answer.status_code == 201, answer.text
                ids[key] = int(answer.headers["Location"].rsplit("/", 1)[1])
            with httpx.Client(base_url=server.url) as client:
                log_in(client, "admin", server.admin_password)
                done = client.get(f"/admin/gc/{finished['id']}")
                assert done.status_code == 200 and "Stop run" not in done.text
                token = re.search(r'name="csrftoken" value="([^"]+)"', done.text).group(1)  # type: ignore[union-attr]
                assert client.post(f"/admin/gc/{finished['id']}/stop", data={"csrftoken": token}).status_code == 303
                for key, run_id in ids.items():
                    page = client.get(f"/admin/{key}/{run_id}")
                    assert page.status_code == 200 and f'action="/admin/{key}/{run_id}/stop"' in page.text, key
                    stopped = client.post(f"/admin/{key}/{run_id}/stop", data={"csrftoken": token})
                    assert stopped.status_code == 303 and stopped.headers["location"].endswith(f"/admin/{key}/{run_id}")
                    assert "/stop" not in client.get(f"/admin/{key}/{run_id}").text, key
                assert client.post("/admin/gc/999999/stop", data={"csrftoken": token}).status_code == 404
        finally:
            for queue in queues:
                api.put(f"/api/v2.0/jobservice/queues/{queue}", json={"action": "resume"})
        assert api.get(f"/api/v2.0/system/gc/{finished['id']}").json() == finished
        assert api.get(f"/api/v2.0/system/gc/{ids['gc']}").json()["job_status"] == "Stopped"
        assert api.get(f"/api/v2.0/system/purgeaudit/{ids['purge']}").json()["job_status"] == "Stopped"
        assert api.get(f"/api/v2.0/replication/executions/{ids['replication/executions']}").json()["status"] == "Stopped"


def test_the_replication_executions_page_through_the_query_string(server):
    with httpx.Client(base_url=server.url) as client:
        log_in(client, "admin", server.admin_password)
        with server.client() as api:
            total = int(api.get("/api/v2.0/replication/executions", params={"page_size": 1}).headers["X-Total-Count"])
            newest = api.get("/api/v2.0/replication/executions", params={"page_size": 1}).json()[0]["id"]
        first = client.get("/admin/replication/executions", params={"page_size": 1})
        assert first.status_code == 200 and f"{total} execution" in first.text
        assert f"Execution {newest}<" in first.text and "page=2" in first.text
        last = client.get("/admin/replication/executions", params={"page_size": 1, "page": total})
        assert f"Page {total} of {total}" in last.text and f"Execution {newest}<" not in last.text
