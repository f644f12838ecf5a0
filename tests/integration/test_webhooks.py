"""Project webhooks on the wire: a berth process (SQLite and PostgreSQL) notifies a real HTTP receiver
started by the test, for pushes by skopeo, pulls by oras and deletions through the API, in Harbor's
Default and CloudEvents formats and as Slack messages; failed deliveries are retried; policies are
validated and guarded as in Harbor."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from tests.certs import write_self_signed
from tests.conftest import AUTH_FILE, BERTH, Server, _fresh_postgres_database, start_berth

from .helpers import V2, build_image, unique, write_oci_layout
from .test_audit_log import wait_audit

FAST_JOBS = {"BERTH_JOB_POLL_SECONDS": "0.2", "BERTH_JOB_RETRY_BASE_SECONDS": "0.2"}
PASSWORD = "Passw0rd-hooks"
ALL_ARTIFACT_EVENTS = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"]


# --- the receiver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body, strict=False)  # strict=False: Harbor's Slack body has raw newlines


class Receiver:
    """An HTTP server on 127.0.0.1 that records every whole POST and answers 500 to the first N on a path."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.received: list[Received] = []
        self._failures: dict[str, int] = {}
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-request (a killed server): not a delivery
                    self.close_connection = True
                    return
                with receiver._lock:
                    failing = receiver._failures.get(self.path, 0)
                    if failing:
                        receiver._failures[self.path] = failing - 1
                    status = 500 if failing else 200
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, status))
                    receiver._lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail(self, path: str, times: int) -> None:
        with self._lock:
            self._failures[path] = times

    def wait(self, path: str, count: int, match: Callable[[Received], bool] = lambda r: True,
             timeout: float = 30.0) -> list[Received]:
        """The requests to `path` that `match`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.received if r.path == path and match(r)]
                if len(found) >= count or time.monotonic() > deadline:
                    break
                self._lock.wait(max(0.0, min(0.5, deadline - time.monotonic())))
        assert len(found) >= count, f"{len(found)} of {count} requests to {path} within {timeout}s: {found}"
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


# --- the server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hooks(database, database_urls, tmp_path_factory) -> Iterator[Server]:
    """A berth of this module's own (retries 0.2 s apart), on SQLite and on PostgreSQL."""
    env = dict(FAST_JOBS)
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_webhooks")
    server = start_berth(tmp_path_factory.mktemp(f"hooks-{database}") / "data", env, projects=())
    yield server
    server.stop()


@pytest.fixture
def api(hooks: Server) -> Iterator[httpx.Client]:
    with hooks.client() as client:
        yield client


def new_project(api: httpx.Client, public: bool = False) -> tuple[str, int]:
    name = unique("hooks")
    created = api.post("/api/v2.0/projects", json={"project_name": name, "metadata": {"public": str(public).lower()}})
    assert created.status_code == 201, created.text
    return name, api.get(f"/api/v2.0/projects/{name}").json()["project_id"]


def policies_url(project: str) -> str:
    return f"/api/v2.0/projects/{project}/webhook/policies"


def create_policy(api: httpx.Client, project: str, targets: list[dict[str, Any]], events: list[str] | None = None,
                  **extra: Any) -> int:
    body = {"name": unique("policy"), "event_types": events or ALL_ARTIFACT_EVENTS, "targets": targets,
            "enabled": True, **extra}
    created = api.post(policies_url(project), json=body)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith(f"/api/v2.0/projects/{project}/webhook/policies/")
    return int(location.rsplit("/", 1)[1])


def skopeo_push(skopeo: str, tmp: Path, source: str, dest: str) -> None:
    command = [skopeo, "--insecure-policy", "--tmpdir", str(tmp), "copy", "--quiet", "--dest-tls-verify=false",
               source, dest]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)})
    assert result.returncode == 0, result.stderr


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


# --- deliveries ----------------------------------------------------------------------------------------


def test_push_pull_and_delete_reach_the_receiver_in_every_format(hooks, api, receiver, skopeo, tmp_path, monkeypatch):
    project, project_id = new_project(api)
    default_id = create_policy(api, project, [{"type": "http", "address": receiver.url("/default")}])
    cloud_id = create_policy(api, project, [
        {"type": "http", "address": receiver.url("/cloud"), "payload_format": "CloudEvents",
         "auth_header": "Bearer receiver-token"}])
    create_policy(api, project, [{"type": "slack", "address": receiver.url("/slack")}])

    image = build_image(seed=71)
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    skopeo_push(skopeo, tmp_path, f"oci:{layout}:v1", f"docker://{hooks.host}/{project}/app:v1")
    monkeypatch.chdir(tmp_path)
    puller = oras.client.OrasClient(hostname=hooks.host, insecure=True)
    puller.auth.set_basic_auth(*hooks.auth)
    puller.pull(f"{hooks.host}/{project}/app:v1", outdir=str(tmp_path / "pulled"))
    deleted = api.delete(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1")
    assert deleted.status_code == 200, deleted.text

    expected = {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"}
    default = {r.json()["type"]: r for r in receiver.wait(
        "/default", 3, lambda r: r.json()["type"] in expected)}
    assert set(default) == expected
    for event_type, request in default.items():
        assert request.headers["content-type"] == "application/json"
        assert "authorization" not in request.headers and "x-berth-signature-256" not in request.headers
        payload = request.json()
        assert payload["operator"] == "admin"
        assert abs(payload["occur_at"] - time.time()) < 120
        resource, = payload["event_data"]["resources"]
        assert resource == {"digest": image.digest, "tag": "v1", "resource_url": f"{hooks.host}/{project}/app:v1"}
        repository = payload["event_data"]["repository"]
        assert repository["date_created"] > 0, event_type
        assert {k: v for k, v in repository.items() if k != "date_created"} == {
            "name": "app", "namespace": project, "repo_full_name": f"{project}/app", "repo_type": "private"}

    names = {"PUSH_ARTIFACT": "harbor.artifact.pushed", "PULL_ARTIFACT": "harbor.artifact.pulled",
             "DELETE_ARTIFACT": "harbor.artifact.deleted"}
    cloud = {r.json()["type"]: r for r in receiver.wait(
        "/cloud", 3, lambda r: r.json()["type"] in names.values())}
    assert set(cloud) == set(names.values())
    for event_type, type_name in names.items():
        request = cloud[type_name]
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert request.headers["authorization"] == "Bearer receiver-token"
        event = request.json()
        assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
        assert uuid.UUID(event["id"])
        assert event["source"] == f"/projects/{project_id}/webhook/policies/{cloud_id}"
        assert event["operator"] == "admin" and "requestid" in event
        assert event["time"].endswith("Z")
        assert event["data"]["resources"] == default[event_type].json()["event_data"]["resources"]
        assert event["data"]["repository"] == default[event_type].json()["event_data"]["repository"]

    slack = receiver.wait("/slack", 3)
    texts = [[block["text"]["text"] for block in r.json()["blocks"]] for r in slack]
    assert {t[1] for t in texts} == {f"*event_type:* {e}" for e in expected}
    assert all(t[3] == "*operator:* admin" and image.digest in t[5] for t in texts)

    # each delivery is an execution of its policy, triggered by the event
    executions = api.get(f"{policies_url(project)}/{default_id}/executions").json()
    assert sorted(e["extra_attrs"]["event_type"] for e in executions) == sorted(expected)
    assert {(e["vendor_type"], e["vendor_id"], e["trigger"]) for e in executions} == {("WEBHOOK", default_id, "EVENT")}
    assert "receiver-token" not in hooks.log()


def test_a_failing_receiver_gets_the_event_once_after_retries_and_signatures_verify(hooks, api, receiver):
    project, _ = new_project(api)
    secret = "s3cret-" + uuid.uuid4().hex
    policy_id = create_policy(api, project, [{"type": "http", "address": receiver.url("/flaky")}],
                              events=["PUSH_ARTIFACT"], signing_secret=secret)
    receiver.fail("/flaky", 3)
    with V2(hooks.url, auth=hooks.auth) as v2:
        image = build_image(seed=72)
        assert v2.push_image(f"{project}/svc", image, "1.0").status_code == 201

    attempts = receiver.wait("/flaky", 4)
    assert [r.status for r in attempts] == [500, 500, 500, 200]
    assert len({r.body for r in attempts}) == 1, "a retry sends the very same body"
    for request in attempts:
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["x-berth-signature-256"], expected)
    assert json.loads(attempts[0].body)["event_data"]["resources"][0]["digest"] == image.digest

    base = f"{policies_url(project)}/{policy_id}/executions"
    executions = poll(lambda: api.get(base).json(), lambda found: found and found[0]["status"] == "Success")
    assert len(executions) == 1 and executions[0]["status"] == "Success", executions
    execution = executions[0]
    assert execution["extra_attrs"]["event_type"] == "PUSH_ARTIFACT"
    assert json.loads(execution["extra_attrs"]["payload"]) == json.loads(attempts[0].body)
    tasks = api.get(f"{base}/{execution['id']}/tasks")
    assert tasks.status_code == 200 and tasks.headers["x-total-count"] == "1"
    task, = tasks.json()
    assert task["status"] == "Success" and task["run_count"] == 4
    assert task["extra_attrs"]["http_status"] == 200
    log = api.get(f"{base}/{execution['id']}/tasks/{task['id']}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert log.text.count("HTTP 500") == 3 and log.text.count("HTTP 200") >= 1
    assert secret not in log.text and secret not in hooks.log()
    time.sleep(0.5)  # nothing more may come: the event was delivered exactly once
    assert len(receiver.wait("/flaky", 4)) == 4

    # an execution or task of another policy is not found under this one
    other = create_policy(api, project, [{"type": "http", "address": receiver.url("/other")}])
    assert api.get(f"{policies_url(project)}/{other}/executions/{execution['id']}/tasks").status_code == 404
    assert api.get(f"{base}/{execution['id']}/tasks/{task['id'] + 10_000}/log").status_code == 404

    triggers = api.get(f"/api/v2.0/projects/{project}/webhook/lasttrigger").json()
    fired = {(t["policy_name"], t["event_type"]) for t in triggers if not t["last_trigger_time"].startswith("0001")}
    assert len(triggers) == 4 and len(fired) == 1 and next(iter(fired))[1] == "PUSH_ARTIFACT"

    # Harbor's deprecated view of the same: webhook jobs, filtered by status
    jobs_url = f"/api/v2.0/projects/{project}/webhook/jobs"
    job, = api.get(jobs_url, params={"policy_id": policy_id, "status": ["Success", "Error"]}).json()
    assert (job["id"], job["policy_id"], job["event_type"], job["notify_type"], job["status"]) == (
        execution["id"], policy_id, "PUSH_ARTIFACT", "http", "Success")
    assert job["job_detail"] == execution["extra_attrs"]["payload"]
    assert api.get(jobs_url, params={"policy_id": policy_id, "status": "Error"}).json() == []

    # deleting the policy deletes its deliveries' history with it, as in Harbor
    assert api.delete(f"{policies_url(project)}/{policy_id}").status_code == 200
    assert api.get(f"{policies_url(project)}/{other}/executions").json() == []
    with hooks.client() as client:
        assert client.get(f"{base}/{execution['id']}/tasks").status_code == 404


def test_nothing_is_sent_while_notifications_are_disabled(hooks, api, receiver):
    project, _ = new_project(api)
    create_policy(api, project, [{"type": "http", "address": receiver.url("/switch")}], events=["PUSH_ARTIFACT"])
    with V2(hooks.url, auth=hooks.auth) as v2:
        assert api.put("/api/v2.0/configurations", json={"notification_enable": False}).status_code == 200
        try:
            assert v2.push_image(f"{project}/quiet", build_image(seed=73), "1").status_code == 201
            # the switch is read when the outbox hands the event on, after the response; its audit
            # row is written in that same delivery, so once it is there the webhook was decided
            assert wait_audit(api, f"resource=~{project}/quiet", 1)
        finally:
            assert api.put("/api/v2.0/configurations", json={"notification_enable": True}).status_code == 200
        assert v2.push_image(f"{project}/loud", build_image(seed=74), "1").status_code == 201
    # events are handled in order: once the second push is delivered, the first would have been too
    receiver.wait("/switch", 1)
    time.sleep(0.3)
    assert [r.json()["event_data"]["repository"]["name"] for r in receiver.received] == ["loud"]


def test_a_burst_of_pushes_gives_one_delivery_each(hooks, api, receiver):
    project, _ = new_project(api)
    policy_id = create_policy(api, project, [{"type": "http", "address": receiver.url("/burst")}],
                              events=["PUSH_ARTIFACT"])
    image = build_image(seed=75, layers=1)
    with V2(hooks.url, auth=hooks.auth) as v2:
        v2.push_image(f"{project}/many", image, "t0")
        for i in range(1, 60):
            assert v2.put_manifest(f"{project}/many", f"t{i}", image.manifest, image.media_type).status_code == 201
    received = receiver.wait("/burst", 60)
    tags = sorted(r.json()["event_data"]["resources"][0]["tag"] for r in received)
    assert tags == sorted(f"t{i}" for i in range(60))
    total = api.get(f"{policies_url(project)}/{policy_id}/executions").headers["x-total-count"]
    assert total == "60"


def test_a_receiver_with_a_self_signed_certificate_needs_skip_cert_verify(hooks, api, tmp_path):
    write_self_signed(tmp_path / "cert.pem", tmp_path / "key.pem")
    tls = Receiver(tls=(tmp_path / "cert.pem", tmp_path / "key.pem"))
    try:
        project, _ = new_project(api)
        trusting = create_policy(api, project, [{"type": "http", "address": tls.url("/trusting"),
                                                 "skip_cert_verify": True}], events=["PUSH_ARTIFACT"])
        checking = create_policy(api, project, [{"type": "http", "address": tls.url("/checking")}],
                                 events=["PUSH_ARTIFACT"])
        with V2(hooks.url, auth=hooks.auth) as v2:
            assert v2.push_image(f"{project}/tls", build_image(seed=76), "1").status_code == 201
        assert tls.wait("/trusting", 1)[0].json()["type"] == "PUSH_ARTIFACT"

        base = f"{policies_url(project)}/{checking}/executions"
        failed = poll(lambda: api.get(base).json(), lambda found: found and found[0]["status"] == "Error")
        assert failed[0]["status"] == "Error", failed
        task, = api.get(f"{base}/{failed[0]['id']}/tasks").json()
        assert task["status"] == "Error" and task["run_count"] == 4 and task["extra_attrs"]["http_status"] == 0
        log = api.get(f"{base}/{failed[0]['id']}/tasks/{task['id']}/log").text
        assert log.count("no answer") == 4 and "CERTIFICATE_VERIFY_FAILED" in log
        assert not [r for r in tls.received if r.path == "/checking"]
        assert api.get(f"{policies_url(project)}/{trusting}/executions").json()[0]["status"] == "Success"
    finally:
        tls.close()


def test_a_berth_worker_delivers_for_a_server_that_runs_no_jobs(start_server, receiver, tmp_path):
    server = start_server(env={**FAST_JOBS, "BERTH_JOBS": "false"})
    with server.client() as api:
        project, _ = new_project(api)
        create_policy(api, project, [{"type": "http", "address": receiver.url("/worker"), "auth_header": "Token w"}],
                      events=["PUSH_ARTIFACT"], signing_secret="shared")
        with V2(server.url, auth=server.auth) as v2:
            assert v2.push_image(f"{project}/w", build_image(seed=77), "1").status_code == 201
        time.sleep(0.5)
        assert receiver.received == [], "the server itself sends nothing"
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen([BERTH, "worker", "--data-dir", str(server.data_dir)], stdout=log,
                                      stderr=subprocess.STDOUT, env={**os.environ, **FAST_JOBS})
        try:
            delivered, = receiver.wait("/worker", 1)
        finally:
            worker.terminate()
            worker.wait(30)
    # the worker opened the secrets the server sealed (same secret key)
    assert delivered.headers["authorization"] == "Token w"
    assert delivered.headers["x-berth-signature-256"] == "sha256=" + hmac.new(
        b"shared", delivered.body, hashlib.sha256).hexdigest()


# --- policies ----------------------------------------------------------------------------------------


def test_supported_event_types_are_harbors(api):
    project, _ = new_project(api)
    answer = api.get(f"/api/v2.0/projects/{project}/webhook/events").json()
    assert answer["event_type"][:5] == ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED",
                                        "QUOTA_WARNING"]
    assert answer["notify_type"] == ["http", "slack"]
    assert answer["payload_formats"] == [{"notify_type": "http", "formats": ["Default", "CloudEvents"]}]


@pytest.mark.parametrize(("change", "message"), [
    ({"event_types": []}, "empty event type"),
    ({"event_types": ["PUSH_ARTIFACT", "PUSH_IMAGE"]}, "unsupported event type PUSH_IMAGE"),
    ({"targets": []}, "empty notification target"),
    ({"targets": [{"type": "http", "address": "ftp://x"}]}, "invalid scheme: ftp"),
    ({"targets": [{"type": "http", "address": "not a url"}]}, "invalid host"),
    ({"targets": [{"type": "email", "address": "http://x"}]}, "unsupported target type email"),
    ({"targets": [{"type": "slack", "address": "https://hooks.slack.com/x", "payload_format": "CloudEvents"}]},
     "set payload format is not allowed for slack"),
    ({"targets": [{"type": "http", "address": "http://x", "payload_format": "XML"}]}, "unsupported payload format"),
    ({"name": ""}, "name is required"),
])
def test_bad_policies_are_refused_and_nothing_is_stored(api, change, message):
    project, _ = new_project(api)
    good = {"name": "hook", "event_types": ["PUSH_ARTIFACT"], "targets": [{"type": "http", "address": "http://r/x"}]}
    refused = api.post(policies_url(project), json={**good, **change})
    assert refused.status_code == 400, refused.text
    error, = refused.json()["errors"]
    assert error["code"] == "BAD_REQUEST" and message in error["message"]
    listed = api.get(policies_url(project))
    assert listed.json() == [] and listed.headers["x-total-count"] == "0"

    # the same on an update: the stored policy stays as it was
    policy_id = int(api.post(policies_url(project), json=good).headers["location"].rsplit("/", 1)[1])
    before = api.get(f"{policies_url(project)}/{policy_id}").json()
    assert api.put(f"{policies_url(project)}/{policy_id}", json={**good, **change}).status_code == 400
    assert api.get(f"{policies_url(project)}/{policy_id}").json() == before


def test_policy_names_are_unique_per_project(api):
    project, _ = new_project(api)
    other, _ = new_project(api)
    body = {"name": "hook", "event_types": ["PUSH_ARTIFACT"], "targets": [{"type": "http", "address": "http://r"}]}
    assert api.post(policies_url(project), json=body).status_code == 201
    clash = api.post(policies_url(project), json=body)
    assert clash.status_code == 409 and clash.json()["errors"][0]["code"] == "CONFLICT"
    assert api.post(policies_url(other), json=body).status_code == 201
    second = api.post(policies_url(project), json={**body, "name": "hook2"})
    second_url = second.headers["location"].removeprefix("/api/v2.0")
    assert api.put(f"/api/v2.0{second_url}", json=body).status_code == 409


def test_policies_round_trip_and_secrets_stay_secret(hooks, api):
    project, project_id = new_project(api)
    body = {"name": "ci", "description": "to CI", "event_types": ["PUSH_ARTIFACT", "QUOTA_EXCEED"],
            "targets": [{"type": "http", "address": "https://ci.example.com/hook/", "auth_header": "Basic abc",
                         "skip_cert_verify": True}], "signing_secret": "sign-me"}
    created = api.post(policies_url(project), json=body)
    url = created.headers["location"]
    policy = api.get(url).json()
    assert policy["name"] == "ci" and policy["description"] == "to CI" and policy["project_id"] == project_id
    assert policy["enabled"] is True and policy["creator"] == "admin"
    assert policy["targets"] == [{"type": "http", "address": "https://ci.example.com/hook", "auth_header": "Basic abc",
                                  "skip_cert_verify": True, "payload_format": "Default"}]
    assert "signing_secret" not in policy and "sign-me" not in api.get(policies_url(project)).text

    # a PUT without the auth header keeps it; enabled=false disables
    target = {k: v for k, v in policy["targets"][0].items() if k != "auth_header"}
    replaced = {"event_types": ["PUSH_ARTIFACT"], "targets": [target], "enabled": False}
    assert api.put(url, json=replaced).status_code == 200
    updated = api.get(url).json()
    assert updated["targets"][0]["auth_header"] == "Basic abc" and updated["enabled"] is False
    assert updated["event_types"] == ["PUSH_ARTIFACT"] and updated["name"] == "ci"

    # secrets are sealed at rest
    if hooks.env.get("BERTH_DATABASE_URL") is None:
        import sqlite3
        with sqlite3.connect(hooks.data_dir / "berth.db") as db:
            stored = db.execute("select targets, signing_secret from webhook_policies where name='ci'").fetchall()
        assert stored and all("Basic abc" not in row[0] and "sign-me" not in (row[1] or "") for row in stored)

    listed = api.get(policies_url(project), params={"q": "name=ci"})
    assert [p["name"] for p in listed.json()] == ["ci"]
    assert api.delete(url).status_code == 200
    assert api.get(url).status_code == 404
    assert api.get(f"/api/v2.0/projects/{project_id}/webhook/policies/{policy['id']}",
                   headers={"X-Is-Resource-Name": "false"}).status_code == 404


def _user(api: httpx.Client) -> tuple[str, int]:
    name = f"hook-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "email": f"{name}@example.test", "password": PASSWORD}
    created = api.post("/api/v2.0/users", json=body)
    assert created.status_code == 201, created.text
    return name, int(created.headers["location"].rsplit("/", 1)[1])


def test_only_project_admins_manage_policies(hooks, api):
    project, _ = new_project(api)
    body = {"name": "hook", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://r", "auth_header": "Bearer x"}]}
    url = api.post(policies_url(project), json=body).headers["location"]
    members = {}
    for role_id, role in ((1, "projectAdmin"), (4, "maintainer"), (2, "developer"), (3, "guest")):
        name, user_id = _user(api)
        added = api.post(f"/api/v2.0/projects/{project}/members",
                         json={"role_id": role_id, "member_user": {"user_id": user_id}})
        assert added.status_code == 201, added.text
        members[role] = (name, PASSWORD)

    for role in ("developer", "guest"):
        with hooks.client(auth=members[role]) as client:
            assert client.post(policies_url(project), json={**body, "name": role}).status_code == 403
            assert client.get(policies_url(project)).status_code == 403
            assert client.delete(url).status_code == 403
    with hooks.client(auth=members["maintainer"]) as client:
        assert client.post(policies_url(project), json={**body, "name": "m"}).status_code == 403
        shown = client.get(url)
        assert shown.status_code == 200 and "auth_header" not in shown.json()["targets"][0]
    with hooks.client(auth=members["projectAdmin"]) as client:
        assert client.get(url).json()["targets"][0]["auth_header"] == "Bearer x"
        assert client.post(policies_url(project), json={**body, "name": "admin"}).status_code == 201
    with hooks.client(auth=None) as anonymous:
        assert anonymous.post(policies_url(project), json={**body, "name": "anon"}).status_code == 401
        assert anonymous.get(policies_url(project)).status_code == 401
    assert api.get(policies_url(project)).headers["x-total-count"] == "2"
