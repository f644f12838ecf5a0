"""Nothing acknowledged is lost: concurrent clients push and delete, the server is killed with SIGKILL
the moment the last of them is answered, and after a restart on the same data every acknowledged
change has its audit row and its webhook delivery (exactly one of each per change), on SQLite and
PostgreSQL."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, _fresh_postgres_database, start_berth

from .helpers import V2, build_image, unique
from .test_webhooks import FAST_JOBS, Receiver, create_policy, poll

CLIENTS = 4
PUSHES_PER_CLIENT = 10  # 40 pushes
DELETES_PER_CLIENT = 2  # 8 deletes, racing the other clients' pushes


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _client_work(server: Server, project: str, client: int, done: list[tuple[str, str, str]],
                 errors: list[BaseException]) -> None:
    """Push this client's images, deleting some of its earlier ones on the way; note each change
    the server acknowledged as (operation, repository, digest)."""
    try:
        with V2(server.url, auth=server.auth) as v2:
            pushed: list[tuple[str, str]] = []
            for n in range(PUSHES_PER_CLIENT):
                repository = f"{project}/c{client}"
                image = build_image(seed=9000 + 100 * client + n, layers=1)
                v2.push_image(repository, image, f"t{n}")
                done.append(("create", repository, image.digest))
                pushed.append((repository, image.digest))
                if n % 4 == 3 and len([d for d in done if d[0] == "delete" and d[1] == repository]) < DELETES_PER_CLIENT:
                    old_repository, old_digest = pushed.pop(0)
                    answer = v2.request("DELETE", f"/v2/{old_repository}/manifests/{old_digest}")
                    assert answer.status_code == 202, answer.text
                    done.append(("delete", old_repository, old_digest))
    except BaseException as error:  # the main thread reports it
        errors.append(error)


def _audited(api: httpx.Client, project: str) -> list[tuple[str, str]]:
    rows = api.get("/api/v2.0/audit-logs", params={"q": f"resource=~{project}/", "page_size": 100})
    assert rows.status_code == 200, rows.text
    return [(row["operation"], row["resource"]) for row in rows.json()]


def test_every_acknowledged_change_has_its_audit_row_and_webhook_after_sigkill(
    database, database_urls, tmp_path, receiver,
) -> None:
    # deliveries the killed process held run again once their lease is out: a short one keeps the test short
    env = {**FAST_JOBS, "BERTH_JOB_LEASE_SECONDS": "2"}
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_outbox_crash")
    data_dir = tmp_path / "data"
    server = start_berth(data_dir, env, projects=())
    project = unique("outbox")
    with server.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        policy = create_policy(api, project, [{"type": "http", "address": receiver.url("/hook")}],
                               events=["PUSH_ARTIFACT", "DELETE_ARTIFACT"])

    done: list[tuple[str, str, str]] = []
    errors: list[BaseException] = []
    clients = [threading.Thread(target=_client_work, args=(server, project, n, done, errors)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    server.process.send_signal(signal.SIGKILL)  # the moment the last change was answered
    server.process.wait()
    assert not errors, errors
    assert len(done) == CLIENTS * (PUSHES_PER_CLIENT + DELETES_PER_CLIENT)

    server = start_berth(data_dir, env, port=server.port, projects=())
    try:
        with server.client() as api:
            # the audit log: one row per acknowledged change, none twice
            expected_rows = Counter(
                (operation, f"{repository}:t{_tag_of(digest, done, repository)}" if operation == "create"
                 else f"{repository}@{digest}") for operation, repository, digest in done)
            rows = poll(lambda: _audited(api, project), lambda found: len(found) >= len(done))
            assert Counter(rows) == expected_rows

            # webhooks: one execution per change (none twice), each delivered to the receiver
            executions = poll(lambda: api.get(f"/api/v2.0/projects/{project}/webhook/policies/{policy}/executions",
                                              params={"page_size": 100}).json(),
                              lambda found: len(found) >= len(done))
            assert Counter(e["extra_attrs"]["event_type"] for e in executions) == Counter(
                {"PUSH_ARTIFACT": CLIENTS * PUSHES_PER_CLIENT, "DELETE_ARTIFACT": CLIENTS * DELETES_PER_CLIENT})
            received = receiver.wait("/hook", len(done), timeout=60)
            delivered = {(r.json()["type"], r.json()["event_data"]["repository"]["repo_full_name"],
                          r.json()["event_data"]["resources"][0]["digest"]) for r in received}
            wanted = {("PUSH_ARTIFACT" if operation == "create" else "DELETE_ARTIFACT", repository, digest)
                      for operation, repository, digest in done}
            assert wanted <= delivered, wanted - delivered
    finally:
        server.stop()


def _tag_of(digest: str, done: list[tuple[str, str, str]], repository: str) -> int:
    """The tag (t<n>) a pushed digest went under: its position among the client's pushes."""
    pushes = [d for op, r, d in done if op == "create" and r == repository]
    return pushes.index(digest)
