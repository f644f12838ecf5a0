"""Request ids and the access log: one id per request on every front (the client's X-Request-Id when
sane), returned in the response, carried into audit rows and jobs; one JSON access line per request
with no secret in it."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_berth
from tests.integration.helpers import V2, build_image, unique

PASSWORD_IN_BODY = "Body-Secret-9Zq"
QUERY_SECRET = "query-secret-7Hw"


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("logged") / "data", {"BERTH_LOG_FORMAT": "json"}, projects=())
    yield server
    server.stop()


def log_lines(server: Server) -> list[dict[str, Any]]:
    """The JSON lines of the log (the startup banner on stdout is plain text)."""
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def access_lines(server: Server, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in log_lines(server)
                 if line.get("logger") == "berth.access" and line.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/v2/", {}),
    ("GET", "/api/v2.0/ping", {}),
    ("GET", "/service/token?service=harbor-registry", {}),
    ("POST", "/c/login", {"data": {"principal": "nobody", "password": "wrong"}}),
    ("GET", "/nowhere", {}),
])
def test_every_front_returns_the_clients_request_id_and_logs_it(logged: Server, method, path, kwargs) -> None:
    chosen = f"client-{uuid.uuid4().hex[:12]}"
    response = httpx.request(method, logged.url + path, headers={"X-Request-Id": chosen}, **kwargs)
    assert response.headers["x-request-id"] == chosen
    [line] = access_lines(logged, chosen)
    assert line["method"] == method and line["path"] == path.split("?")[0]
    assert line["status"] == response.status_code and line["bytes"] == len(response.content)
    assert line["duration_ms"] >= 0 and line["level"] == "info" and line["timestamp"].endswith("Z")


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 200, '"quoted"', "é-unicode"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(logged: Server, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given.encode() if given.isascii() else given.encode("utf-8")}
    response = httpx.get(f"{logged.url}/api/v2.0/ping", headers=headers)
    made = response.headers["x-request-id"]
    assert made != given and uuid.UUID(made)
    assert access_lines(logged, made)


def test_the_access_log_names_the_user_and_never_a_secret(logged: Server) -> None:
    admin, password = logged.auth
    basic = base64.b64encode(f"{admin}:{password}".encode()).decode()
    with httpx.Client(base_url=logged.url, timeout=60) as http:
        token = http.get("/service/token", params={"service": "harbor-registry", "scope": "registry:catalog:*"},
                         auth=(admin, password), headers={"X-Request-Id": "token-request"}).json()["token"]
        catalog = http.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "with-token"})
        assert catalog.status_code == 200
        user = unique("logger")
        created = http.post("/api/v2.0/users", auth=(admin, password), headers={"X-Request-Id": "with-password"},
                            json={"username": user, "email": f"{user}@example.com", "realname": user,
                                  "password": PASSWORD_IN_BODY})
        assert created.status_code == 201, created.text
        login = http.post("/c/login", data={"principal": user, "password": PASSWORD_IN_BODY},
                          headers={"X-Request-Id": "web-login"})
        assert login.status_code == 200
        http.get(f"/api/v2.0/projects?secret={QUERY_SECRET}", auth=(admin, password),
                 headers={"X-Request-Id": "with-query"})
    [token_request] = access_lines(logged, "token-request")
    assert token_request["user"] == admin and token_request["path"] == "/service/token"
    [with_token] = access_lines(logged, "with-token")
    assert with_token["user"] == admin and with_token["path"] == "/v2/_catalog"
    assert access_lines(logged, "with-password")[0]["user"] == admin
    assert access_lines(logged, "with-query")[0]["path"] == "/api/v2.0/projects"
    text = logged.log()
    for secret in (password, basic, token, token.split(".")[-1], PASSWORD_IN_BODY, QUERY_SECRET):
        assert secret not in text, f"a secret ({secret[:6]}...) is in the log"
    # uvicorn's own access line is off: one line per request, berth's
    assert "HTTP/1.1" not in text


def test_the_request_id_reaches_the_audit_row_and_the_job_it_queued(logged: Server) -> None:
    project = unique("traced")
    with V2(logged.url, auth=logged.auth) as v2:
        v2.create_project(project)
        pushed = v2.http.put(f"/v2/{project}/app/manifests/1", content=_image_manifest(v2, project),
                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                      "X-Request-Id": "push-123"})
        assert pushed.status_code == 201, pushed.text
    with logged.client() as api:
        purge = api.post("/api/v2.0/system/purgeaudit/schedule", headers={"X-Request-Id": "purge-456"},
                         json={"schedule": {"type": "Manual"},
                               "parameters": {"audit_retention_hour": 24, "include_event_types": "", "dry_run": True}})
        assert purge.status_code == 201, purge.text
    database = sqlite3.connect(logged.data_dir / "berth.db")
    try:
        deadline = time.monotonic() + 20
        while True:
            audit = database.execute("SELECT request_id FROM audit_logs WHERE resource = ?", (f"{project}/app:1",)).fetchall()
            task = database.execute("SELECT request_id, status FROM tasks WHERE kind = 'PURGE_AUDIT_LOG' "
                                    "ORDER BY id DESC LIMIT 1").fetchone()
            if (audit and task and task[1] == "Success") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        database.close()
    assert audit == [("push-123",)]
    assert task == ("purge-456", "Success")
    # the job's own log lines carry the id of the request that queued it
    assert any(line.get("request_id") == "purge-456" and line.get("logger") != "berth.access"
               for line in log_lines(logged)), "no job log line with the request id"


def _image_manifest(v2: V2, project: str) -> bytes:
    image = build_image(seed=47)
    for blob in image.blobs:
        v2.push_blob(f"{project}/app", blob)
    return image.manifest


def test_berth_worker_logs_json_too(tmp_path) -> None:
    import os
    import signal
    import subprocess

    from tests.conftest import BERTH

    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        worker = subprocess.Popen([BERTH, "worker", "--data-dir", str(tmp_path / "data"), "--log-format", "json"],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while "worker pool started" not in log_path.read_text() and worker.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["event"] == "worker pool started" and line["logger"] == "berth.jobs" for line in lines)
