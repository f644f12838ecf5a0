"""berth's CVE_ALLOWLIST_EXPIRING webhook on a real server (SQLite and PostgreSQL): an allowlist entry
expiring within 7 days is announced, once, to the projects the list is in effect for; the check runs
at every start (and daily), so the test restarts the server to have it run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, _fresh_postgres_database, start_berth

from .helpers import unique
from .test_webhooks import FAST_JOBS, Receiver, create_policy

DAY = 86400
EVENT = "CVE_ALLOWLIST_EXPIRING"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


class Restartable:
    """A berth of the test's own that can be stopped and started again on the same data."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.env = data_dir, env
        self.server: Server = start_berth(data_dir, env, projects=())

    def restart(self) -> None:
        self.server.stop()
        self.server = start_berth(self.data_dir, self.env, projects=())

    def client(self) -> httpx.Client:
        return self.server.client()


@pytest.fixture
def berth_node(database, database_urls, tmp_path) -> Iterator[Restartable]:
    env = dict(FAST_JOBS)
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_allowlist")
    node = Restartable(tmp_path / "data", env)
    yield node
    node.server.stop()


def new_project(api: httpx.Client, own_allowlist: list[str] | None = None, expires_at: int | None = None) -> str:
    name = unique("allow")
    assert api.post("/api/v2.0/projects", json={"project_name": name}).status_code == 201
    if own_allowlist is not None:
        changed = api.put(f"/api/v2.0/projects/{name}", json={
            "metadata": {"reuse_sys_cve_allowlist": "false"},
            "cve_allowlist": {"items": [{"cve_id": cve} for cve in own_allowlist], "expires_at": expires_at}})
        assert changed.status_code == 200, changed.text
    return name


def entries(received: list[Any]) -> list[tuple[str, str, str, int]]:
    out = []
    for request in received:
        body = request.json()
        assert body["type"] == EVENT and body["operator"] == "system" and isinstance(body["occur_at"], int)
        allowlist = body["event_data"]["cve_allowlist"]
        out.append((body["event_data"]["project"]["name"], allowlist["scope"], allowlist["cve_id"],
                    allowlist["expires_at"]))
    return out


def test_expiring_allowlist_entries_are_announced_once_to_the_projects_using_them(berth_node, receiver):
    now = int(time.time())
    with berth_node.client() as api:
        own = new_project(api, ["CVE-2024-1111", "CVE-2024-2222"], now + 3 * DAY)
        later = new_project(api, ["CVE-2024-3333"], now + 30 * DAY)
        reusing = new_project(api)
        for project, path in ((own, "/own"), (later, "/later"), (reusing, "/reuse")):
            create_policy(api, project, [{"type": "http", "address": receiver.url(path)}], events=[EVENT])
        system = api.put("/api/v2.0/system/CVEAllowlist",
                         json={"items": [{"cve_id": "CVE-2023-9999"}], "expires_at": now + 2 * DAY})
        assert system.status_code == 200, system.text
    berth_node.restart()  # the check runs at start

    assert sorted(entries(receiver.wait("/own", 2))) == [
        (own, "project", "CVE-2024-1111", now + 3 * DAY), (own, "project", "CVE-2024-2222", now + 3 * DAY)]
    assert entries(receiver.wait("/reuse", 1)) == [(reusing, "system", "CVE-2023-9999", now + 2 * DAY)]
    assert "CVE allowlist entry expires soon" in berth_node.server.log()

    # the system list's expiry moves: its entry is news again, the others are not told twice
    with berth_node.client() as api:
        moved = api.put("/api/v2.0/system/CVEAllowlist",
                        json={"items": [{"cve_id": "CVE-2023-9999"}], "expires_at": now + 4 * DAY})
        assert moved.status_code == 200
    berth_node.restart()
    assert entries(receiver.wait("/reuse", 2))[1] == (reusing, "system", "CVE-2023-9999", now + 4 * DAY)
    time.sleep(2)  # anything the check still had to send would have come with it
    assert len([r for r in receiver.received if r.path == "/own"]) == 2
    assert len([r for r in receiver.received if r.path == "/reuse"]) == 2
    assert not [r for r in receiver.received if r.path == "/later"]
    with berth_node.client() as api:
        audit = api.get("/api/v2.0/auditlog-exts", params={"page_size": 100}).json()
    assert not [row for row in audit if "CVE-2023-9999" in str(row)], "the announcement is not audited"
