"""Tag retention on a real server: policy CRUD with Harbor's checks (nothing stored when refused), the
project's `retention_id`, runs with their per-repository tasks and logs, a dry run that changes not a
byte and reports exactly what the real run then deletes, stopping a run, the cron schedule, the
TAG_RETENTION webhook, and access by role."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import Server, _fresh_postgres_database, start_berth

from .helpers import V2, build_image, unique
from .test_webhooks import FAST_JOBS, Receiver

BASE = "/api/v2.0"
ALL_REPOS = [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
ALL_TAGS = [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}]


@pytest.fixture(scope="module")
def server(database: str, database_urls: dict[str, str | None], tmp_path_factory) -> Iterator[Server]:
    """A berth of this module's own, on SQLite and on PostgreSQL."""
    env = {**FAST_JOBS}
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"] or "", "berth_retention")
    berth = start_berth(tmp_path_factory.mktemp(f"retention-{database}") / "data", env, projects=())
    yield berth
    berth.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def rule(template: str, n: int | None = None, tags: list[dict] | None = None, repos: list[dict] | None = None) -> dict:
    return {"action": "retain", "template": template, "params": {} if n is None else {template: n},
            "tag_selectors": tags or ALL_TAGS, "scope_selectors": {"repository": repos or ALL_REPOS}}


def policy(project_id: int, rules: list[dict], cron: str = "") -> dict:
    return {"algorithm": "or", "rules": rules, "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
            "scope": {"level": "project", "ref": project_id}}


def new_project(api: httpx.Client) -> tuple[str, int]:
    name = unique("ret")
    assert api.post(f"{BASE}/projects", json={"project_name": name}).status_code == 201
    return name, api.get(f"{BASE}/projects/{name}").json()["project_id"]


def retention_id(api: httpx.Client, project: str) -> str | None:
    return api.get(f"{BASE}/projects/{project}").json()["metadata"].get("retention_id")


def create(api: httpx.Client, body: dict) -> int:
    response = api.post(f"{BASE}/retentions", json=body)
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def push(server: Server, repository: str, tags: list[str], seed: int) -> str:
    image = build_image(seed, layers=1)
    with V2(server.url, auth=server.auth) as v2:
        v2.push_image(repository, image, tags[0] if tags else image.digest)
    with server.client() as api:
        project, _, name = repository.partition("/")
        for tag in tags[1:]:
            path = f"{BASE}/projects/{project}/repositories/{name.replace('/', '%252F')}/artifacts/{image.digest}/tags"
            assert api.post(path, json={"name": tag}).status_code == 201
    return image.digest


def run(api: httpx.Client, policy_id: int, dry_run: bool, timeout: float = 60.0) -> dict:
    response = api.post(f"{BASE}/retentions/{policy_id}/executions", json={"dry_run": dry_run})
    assert response.status_code == 201, response.text
    execution_id = int(response.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + timeout
    while True:
        executions = api.get(f"{BASE}/retentions/{policy_id}/executions", params={"page_size": 100}).json()
        execution = next(e for e in executions if e["id"] == execution_id)
        if execution["status"] not in ("Running", "Pending"):
            return execution
        assert time.monotonic() < deadline, execution
        time.sleep(0.2)


def tasks(api: httpx.Client, policy_id: int, execution_id: int) -> list[dict]:
    response = api.get(f"{BASE}/retentions/{policy_id}/executions/{execution_id}/tasks", params={"page_size": 100})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Total-Count"]) == len(response.json())
    return response.json()


def task_table(api: httpx.Client, policy_id: int, execution_id: int, task_id: int) -> list[str]:
    """The table rows of a task's log (digest ... Retention), without the lines that differ by run."""
    response = api.get(f"{BASE}/retentions/{policy_id}/executions/{execution_id}/tasks/{task_id}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return [line for line in response.text.splitlines() if line.startswith("| sha256:")]


def store_state(server: Server) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """Every storage file's sha256, and every row of the tables that hold artifacts and their tags."""
    data_dir = server.data_dir
    files = {p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((data_dir / "storage").rglob("*")) if p.is_file()}
    url = (server.env or {}).get("BERTH_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'berth.db'}"

    async def read() -> dict[str, list[Any]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return {table: [tuple(row) for row in await conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1, 2'))]
                        for table in ("repositories", "manifests", "manifest_blobs", "manifest_children", "tags",
                                      "blobs", "repository_blobs", "artifact_labels", "quotas")}
        finally:
            await engine.dispose()

    return files, asyncio.run(read())


# --- policies --------------------------------------------------------------------------------------------


def test_policy_crud_and_the_projects_retention_id(api: httpx.Client) -> None:
    project, project_id = new_project(api)
    body = policy(project_id, [rule("latestPushedK", 3), rule("always", tags=[
        {"kind": "doublestar", "decoration": "matches", "pattern": "release-*", "extras": '{"untagged":false}'}])],
        cron="0 0 2 * * *")
    policy_id = create(api, body)
    assert retention_id(api, project) == str(policy_id)
    stored = api.get(f"{BASE}/retentions/{policy_id}").json()
    assert stored["id"] == policy_id and stored["algorithm"] == "or"
    assert stored["scope"] == {"level": "project", "ref": project_id}
    assert stored["trigger"] == {"kind": "Schedule", "settings": {"cron": "0 0 2 * * *"}}
    assert [r["template"] for r in stored["rules"]] == ["latestPushedK", "always"]
    assert stored["rules"][0]["params"] == {"latestPushedK": 3}
    assert stored["rules"][1]["tag_selectors"][0]["extras"] == '{"untagged":false}'
    schedules = api.get(f"{BASE}/schedules", params={"page_size": 100}).json()
    assert [s["cron"] for s in schedules if s["vendor_type"] == "RETENTION" and s["vendor_id"] == policy_id] == [
        "0 0 2 * * *"]

    # one per project
    again = api.post(f"{BASE}/retentions", json=body)
    assert again.status_code == 400 and "already has retention policy" in again.text

    # update: rules and schedule replaced; an empty cron removes the schedule
    updated = policy(project_id, [rule("nDaysSinceLastPull", 7)])
    assert api.put(f"{BASE}/retentions/{policy_id}", json=updated).status_code == 200
    stored = api.get(f"{BASE}/retentions/{policy_id}").json()
    assert [r["template"] for r in stored["rules"]] == ["nDaysSinceLastPull"]
    schedules = api.get(f"{BASE}/schedules", params={"page_size": 100}).json()
    assert not [s for s in schedules if s["vendor_type"] == "RETENTION" and s["vendor_id"] == policy_id]

    assert api.delete(f"{BASE}/retentions/{policy_id}").status_code == 200
    assert retention_id(api, project) is None
    assert api.get(f"{BASE}/retentions/{policy_id}").status_code == 404
    assert api.delete(f"{BASE}/retentions/{policy_id}").status_code == 404
    # the project can have a new one
    create(api, policy(project_id, [rule("always")]))


BAD_POLICIES = [
    ("16 rules", lambda p: policy(p, [rule("latestPushedK", n) for n in range(16)]), 400, "only 15 rules"),
    ("duplicate rules", lambda p: policy(p, [rule("always"), rule("always")]), 409, "is conflict with rule"),
    ("unknown template", lambda p: policy(p, [rule("keepTheBest", 1)]), 400, "is not registered"),
    ("missing parameter", lambda p: policy(p, [rule("latestPulledN")]), 400, "missing required parameter"),
    ("parameter too large", lambda p: policy(p, [rule("nDaysSinceLastPush", 20190905)]), 400, "too large"),
    ("bad cron", lambda p: policy(p, [rule("always")], cron="*/5 * * * *"), 400, "invalid cron string"),
    ("cron with seconds", lambda p: policy(p, [rule("always")], cron="30 0 0 * * *"), 400, "invalid cron string"),
    ("bad tag pattern", lambda p: policy(p, [rule("always", tags=[
        {"kind": "doublestar", "decoration": "matches", "pattern": "v[0-9"}])]), 400, "syntax error in pattern"),
    ("unknown selector", lambda p: policy(p, [rule("always", tags=[
        {"kind": "regexp", "decoration": "matches", "pattern": ".*"}])]), 400, "selector regexp is not registered"),
    ("bad repository decoration", lambda p: policy(p, [rule("always", repos=[
        {"kind": "doublestar", "decoration": "matches", "pattern": "**"}])]), 400, "is not supported"),
    ("system scope", lambda p: {**policy(p, [rule("always")]), "scope": {"level": "system", "ref": 0}}, 400,
     "scope system is not support"),
    ("no such project", lambda p: policy(2_000_000, [rule("always")]), 400, "invalid Project id"),
]


@pytest.mark.parametrize(("name", "make", "status", "message"), BAD_POLICIES, ids=[b[0] for b in BAD_POLICIES])
def test_bad_policies_are_refused_and_nothing_is_stored(
    api: httpx.Client, name: str, make: Any, status: int, message: str,
) -> None:
    project, project_id = new_project(api)
    before = api.get(f"{BASE}/schedules", params={"page_size": 100}).json()
    response = api.post(f"{BASE}/retentions", json=make(project_id))
    assert response.status_code == status, response.text
    assert message in response.json()["errors"][0]["message"]
    assert retention_id(api, project) is None
    assert api.get(f"{BASE}/schedules", params={"page_size": 100}).json() == before
    # the same body refused on update leaves the stored policy as it was
    policy_id = create(api, policy(project_id, [rule("always")]))
    stored = api.get(f"{BASE}/retentions/{policy_id}").json()
    bad = make(project_id)
    response = api.put(f"{BASE}/retentions/{policy_id}", json=bad)
    assert response.status_code in (status, 404), response.text  # another project's scope: not this policy
    assert api.get(f"{BASE}/retentions/{policy_id}").json() == stored


def test_what_does_not_exist_is_404(api: httpx.Client) -> None:
    _, project_id = new_project(api)
    policy_id = create(api, policy(project_id, [rule("always")]))
    for method, path in [
        ("GET", "/retentions/99999999"), ("PUT", "/retentions/99999999"), ("DELETE", "/retentions/99999999"),
        ("POST", "/retentions/99999999/executions"), ("GET", "/retentions/99999999/executions"),
        ("PATCH", f"/retentions/{policy_id}/executions/99999999"),
        ("GET", f"/retentions/{policy_id}/executions/99999999/tasks"),
        ("GET", f"/retentions/{policy_id}/executions/99999999/tasks/1"),
    ]:
        body = {"action": "stop"} if method == "PATCH" else {"dry_run": True} if method == "POST" else \
            policy(project_id, [rule("always")]) if method == "PUT" else None
        response = api.request(method, f"{BASE}{path}", json=body)
        assert response.status_code == 404, (method, path, response.text)
    other = run(api, policy_id, dry_run=True)
    assert api.get(f"{BASE}/retentions/{policy_id}/executions/{other['id']}/tasks/99999999").status_code == 404
    assert api.patch(f"{BASE}/retentions/{policy_id}/executions/{other['id']}",
                     json={"action": "pause"}).status_code == 400


def test_metadata(api: httpx.Client, server: Server) -> None:
    body = api.get(f"{BASE}/retentions/metadatas").json()
    assert [t["rule_template"] for t in body["templates"]] == [
        "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]
    assert body["templates"][0]["params"] == [{"type": "int", "unit": "COUNT", "required": True}]
    with server.client(auth=None) as anonymous:
        assert anonymous.get(f"{BASE}/retentions/metadatas").status_code == 401


# --- runs ------------------------------------------------------------------------------------------------


def test_dry_run_changes_nothing_and_reports_exactly_what_the_real_run_deletes(api: httpx.Client, server: Server) -> None:
    project, project_id = new_project(api)
    app, web, other = f"{project}/app", f"{project}/team/web", f"{project}/other"
    digests = {n: push(server, app, [f"v{n}"], seed=1000 + n) for n in range(1, 5)}
    digests["dev"] = push(server, app, ["dev-1", "latest"], seed=1010)
    digests["untagged"] = push(server, app, [], seed=1011)
    web_digests = [push(server, web, [f"w{n}"], seed=1020 + n) for n in range(3)]
    push(server, other, ["x"], seed=1030)
    # keep the 2 newest v* in every repository but `other`, and whatever carries "latest"
    policy_id = create(api, policy(project_id, [
        rule("latestPushedK", 2, tags=[{"kind": "doublestar", "decoration": "matches", "pattern": "v*",
                                        "extras": '{"untagged":false}'}],
             repos=[{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "other"}]),
        rule("always", tags=[{"kind": "doublestar", "decoration": "matches", "pattern": "latest",
                              "extras": '{"untagged":false}'}]),
    ]))
    before = store_state(server)
    dry = run(api, policy_id, dry_run=True)
    assert dry["status"] == "Success" and dry["dry_run"] is True and dry["trigger"] == "MANUAL"
    assert store_state(server) == before

    dry_tasks = {t["repository"]: t for t in tasks(api, policy_id, dry["id"])}
    assert sorted(dry_tasks) == ["app", "other", "team/web"]  # the "always" rule takes every repository
    assert (dry_tasks["app"]["total"], dry_tasks["app"]["retained"]) == (6, 3)
    assert (dry_tasks["team/web"]["total"], dry_tasks["team/web"]["retained"]) == (3, 0)
    assert (dry_tasks["other"]["total"], dry_tasks["other"]["retained"]) == (1, 0)
    assert all(t["status"] == "Success" and t["status_code"] == 3 and t["job_id"] for t in dry_tasks.values())
    dry_tables = {name: task_table(api, policy_id, dry["id"], t["id"]) for name, t in dry_tasks.items()}
    would_go = {line.split()[1] for table in dry_tables.values() for line in table if line.rstrip(" |").endswith("DEL")}
    assert would_go == {digests[1], digests[2], digests["untagged"], *web_digests,
                        api.get(f"{BASE}/projects/{project}/repositories/other/artifacts").json()[0]["digest"]}

    real = run(api, policy_id, dry_run=False)
    assert real["status"] == "Success" and "dry_run" not in real  # false is left out, as in Harbor
    real_tasks = {t["repository"]: t for t in tasks(api, policy_id, real["id"])}
    assert {k: (t["total"], t["retained"]) for k, t in real_tasks.items()} == {
        k: (t["total"], t["retained"]) for k, t in dry_tasks.items()}
    assert {name: task_table(api, policy_id, real["id"], t["id"]) for name, t in real_tasks.items()} == dry_tables
    left = {a["digest"] for a in api.get(f"{BASE}/projects/{project}/repositories/app/artifacts").json()}
    assert left == {digests[3], digests[4], digests["dev"]}
    assert api.get(f"{BASE}/projects/{project}/repositories/team%252Fweb/artifacts").json() == []
    # deleted as a user's delete is: audit rows tell of each
    deadline = time.monotonic() + 15
    while True:  # audit rows come from the outbox, a moment after the change
        logs = api.get(f"{BASE}/projects/{project}/logs", params={"page_size": 100}).json()
        deleted = {log["resource"].rpartition("@")[2] for log in logs if log["operation"] == "delete"
                   and log["resource_type"] == "artifact"}
        if would_go <= deleted or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert would_go <= deleted

    # a second real run finds nothing more to delete
    again = run(api, policy_id, dry_run=False)
    assert {t["repository"]: (t["total"], t["retained"]) for t in tasks(api, policy_id, again["id"])
            if t["total"]} == {"app": (3, 3)}


def test_stop_a_pending_run(api: httpx.Client, server: Server) -> None:
    _, project_id = new_project(api)
    policy_id = create(api, policy(project_id, [rule("always")]))
    assert api.put(f"{BASE}/jobservice/queues/RETENTION_LAUNCH", json={"action": "pause"}).status_code == 200
    try:
        response = api.post(f"{BASE}/retentions/{policy_id}/executions", json={"dry_run": False})
        execution_id = int(response.headers["Location"].rsplit("/", 1)[1])
        stop = api.patch(f"{BASE}/retentions/{policy_id}/executions/{execution_id}", json={"action": "stop"})
        assert stop.status_code == 200, stop.text
    finally:
        api.put(f"{BASE}/jobservice/queues/RETENTION_LAUNCH", json={"action": "resume"})
    executions = api.get(f"{BASE}/retentions/{policy_id}/executions").json()
    assert [(e["id"], e["status"]) for e in executions] == [(execution_id, "Stopped")]
    assert executions[0]["end_time"]


def test_a_scheduled_run_fires_on_its_cron(tmp_path: Path) -> None:
    berth = start_berth(tmp_path / "data", {**FAST_JOBS, "BERTH_SCHEDULE_POLL_SECONDS": "0.5"}, projects=())
    try:
        with berth.client() as api:
            project, project_id = new_project(api)
            push(berth, f"{project}/app", ["a"], seed=1100)
            push(berth, f"{project}/app", ["b"], seed=1101)
            policy_id = create(api, policy(project_id, [rule("latestPushedK", 1)], cron="0 * * * * *"))
            # the next whole minute is up to 60 s away: move the schedule's last tick back, as after a
            # downtime over a tick, and the scheduler fires the missed tick at its next look
            with sqlite3.connect(berth.data_dir / "berth.db") as db:
                moved = db.execute("UPDATE schedules SET last_tick = datetime('now', '-2 minutes') "
                                   "WHERE vendor_type = 'RETENTION' AND vendor_id = ?", (policy_id,))
                assert moved.rowcount == 1
            deadline = time.monotonic() + 30
            while True:
                executions = api.get(f"{BASE}/retentions/{policy_id}/executions").json()
                if executions and executions[0]["status"] == "Success":
                    break
                assert time.monotonic() < deadline, executions
                time.sleep(0.5)
            assert executions[0]["trigger"] == "SCHEDULE" and "dry_run" not in executions[0]
            assert [t["retained"] for t in tasks(api, policy_id, executions[0]["id"])] == [1]
            tags = [t["name"] for a in api.get(f"{BASE}/projects/{project}/repositories/app/artifacts").json()
                    for t in a.get("tags") or []]
            assert tags == ["b"]
    finally:
        berth.stop()


# --- the webhook -----------------------------------------------------------------------------------------


def test_tag_retention_webhook_with_harbors_payload(api: httpx.Client, server: Server) -> None:
    receiver = Receiver()
    try:
        project, project_id = new_project(api)
        for path, payload_format in (("/default", "Default"), ("/cloudevents", "CloudEvents")):
            response = api.post(f"{BASE}/projects/{project}/webhook/policies", json={
                "name": unique("hook"), "enabled": True, "event_types": ["TAG_RETENTION"],
                "targets": [{"type": "http", "address": receiver.url(path), "payload_format": payload_format}]})
            assert response.status_code == 201, response.text
        kept = push(server, f"{project}/app", ["new"], seed=1200)
        gone = push(server, f"{project}/app", ["old", "older"], seed=1201)
        untagged = push(server, f"{project}/app", [], seed=1202)
        rules = [rule("latestPushedK", 1, tags=[{"kind": "doublestar", "decoration": "matches", "pattern": "new",
                                                "extras": '{"untagged":false}'}])]
        policy_id = create(api, policy(project_id, rules))
        run(api, policy_id, dry_run=True)
        run(api, policy_id, dry_run=False)
        [default] = receiver.wait("/default", 1)
        [cloud] = receiver.wait("/cloudevents", 1)
        body = json.loads(default.body)
        assert body["type"] == "TAG_RETENTION" and body["operator"] == server.auth[0]
        retention = body["event_data"]["retention"]
        assert list(retention) == ["total", "retained", "harbor_hostname", "project_name", "retention_policy_id",
                                   "retention_rule", "result", "deleted_artifact"]
        assert (retention["total"], retention["retained"], retention["result"]) == (3, 1, "SUCCESS")
        assert retention["harbor_hostname"] == "127.0.0.1" and retention["project_name"] == project
        assert retention["retention_policy_id"] == policy_id
        assert retention["retention_rule"] == [{"template": "latestPushedK", "params": {"latestPushedK": 1},
                                                "tag_selectors": rules[0]["tag_selectors"],
                                                "scope_selectors": {"repository": [{**ALL_REPOS[0], "extras": ""}]}}]
        assert sorted(a["name_tag"] for a in retention["deleted_artifact"]) == sorted(
            ["app:old", f"app@{untagged}"])
        assert all(a == {"type": "image", "status": "SUCCESS", "name_tag": a["name_tag"], "references": None}
                   for a in retention["deleted_artifact"])
        event = json.loads(cloud.body)
        assert event["type"] == "harbor.tag_retention.finished" and event["data"] == body["event_data"]
        time.sleep(1.0)  # the dry run told nothing
        assert len([r for r in receiver.received if r.path == "/default"]) == 1
        assert kept and gone
    finally:
        receiver.close()


# --- access ----------------------------------------------------------------------------------------------


def test_access_by_role(api: httpx.Client, server: Server) -> None:
    project, project_id = new_project(api)
    policy_id = create(api, policy(project_id, [rule("always")]))
    users = {}
    for role_id, role in ((2, "developer"), (3, "guest")):
        name, password = unique(role), "Passw0rd-retention"
        assert api.post(f"{BASE}/users", json={"username": name, "email": f"{name}@example.com", "realname": name,
                                                "password": password}).status_code == 201
        assert api.post(f"{BASE}/projects/{project}/members", json={
            "role_id": role_id, "member_user": {"username": name}}).status_code == 201
        users[role] = (name, password)
    with server.client(auth=users["developer"]) as developer:
        assert developer.get(f"{BASE}/retentions/{policy_id}").status_code == 200
        assert developer.put(f"{BASE}/retentions/{policy_id}",
                             json=policy(project_id, [rule("latestPushedK", 5)])).status_code == 200
        assert run(developer, policy_id, dry_run=True)["status"] == "Success"
    with server.client(auth=users["guest"]) as guest:
        assert guest.get(f"{BASE}/retentions/{policy_id}").status_code == 403
        assert guest.post(f"{BASE}/retentions/{policy_id}/executions", json={"dry_run": True}).status_code == 403
        assert guest.delete(f"{BASE}/retentions/{policy_id}").status_code == 403
    with server.client(auth=None) as anonymous:
        assert anonymous.get(f"{BASE}/retentions/{policy_id}").status_code == 401
    # audit rows for the policy's changes
    logs = api.get(f"{BASE}/projects/{project}/logs", params={"page_size": 100}).json()
    assert {log["operation"] for log in logs if log["resource_type"] == "tag_retention"} >= {"create", "update"}


# --- immutability ----------------------------------------------------------------------------------------


def test_immutable_artifacts_survive_retention(api: httpx.Client, server: Server) -> None:
    project, project_id = new_project(api)
    response = api.post(f"{BASE}/projects/{project}/immutabletagrules", json={
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})
    assert response.status_code == 201, response.text
    frozen = push(server, f"{project}/app", ["build-1", "release-1.0"], seed=1300)
    plain = push(server, f"{project}/app", ["build-2"], seed=1301)
    policy_id = create(api, policy(project_id, [rule("latestPushedK", 0)]))  # would delete everything
    dry = run(api, policy_id, dry_run=True)
    [dry_task] = tasks(api, policy_id, dry["id"])
    dry_table = task_table(api, policy_id, dry["id"], dry_task["id"])
    real = run(api, policy_id, dry_run=False)
    [real_task] = tasks(api, policy_id, real["id"])
    assert task_table(api, policy_id, real["id"], real_task["id"]) == dry_table
    marks = {line.split()[1]: line.rstrip(" |").rsplit(" ", 1)[1] for line in dry_table}
    assert marks == {frozen: "IMMUTABLE", plain: "DEL"}
    assert (real_task["total"], real_task["retained"]) == (2, 1)
    left = [a["digest"] for a in api.get(f"{BASE}/projects/{project}/repositories/app/artifacts").json()]
    assert left == [frozen]
