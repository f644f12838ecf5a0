"""Replication driven by events, and its evidence on the wire: an event-based push policy copies just
the pushed artifact and, with replicate_deletion, deletes on the destination what is deleted here;
REPLICATION webhooks with Harbor's payload; per-policy metrics; cross-repository mounts; the
destination killed mid-copy (a clean failure, then a run that skips what had arrived); and the
bandwidth limit as a lower bound on the copy's time. One berth and one docker-registry of its own
(it is killed and restarted), on 127.0.0.1."""

from __future__ import annotations

import hashlib
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_berth, start_peer, wait_http

from .helpers import V2, Image, build_artifact, build_image, canonical_json, descriptor
from .test_webhooks import Receiver

API = "/api/v2.0"
#: short retries and polls, so a failing run ends in about a second; a short lease, so a killed berth's
#: task runs again soon after the restart; metrics as fresh as a scrape
ENV = {"BERTH_JOB_RETRY_BASE_SECONDS": "0.2", "BERTH_JOB_RETRY_MAX_SECONDS": "0.4", "BERTH_JOB_POLL_SECONDS": "0.2",
       "BERTH_JOB_LEASE_SECONDS": "4", "BERTH_METRIC_ENABLED": "true", "BERTH_METRIC_REFRESH_SECONDS": "0"}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("events-source") / "data", ENV, projects=("evt", "slow"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Server]:
    server = start_peer(tmp_path_factory.mktemp("events-peer"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(source: Server) -> Iterator[httpx.Client]:
    with source.client() as client:  # as admin
        client.base_url = httpx.URL(source.url + API)
        yield client


@pytest.fixture(scope="module")
def registry_id(api: httpx.Client, target: Server) -> int:
    return _id(api.post("/registries", json={"name": "events-peer", "type": "docker-registry", "url": target.url}))


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _wait(fetch: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last seen {value!r}")
        time.sleep(0.1)


def _executions(api: httpx.Client, policy_id: int) -> list[dict[str, Any]]:
    return api.get("/replication/executions", params={"policy_id": policy_id, "page_size": 100}).json()


def _finished(api: httpx.Client, policy_id: int, count: int) -> list[dict[str, Any]]:
    """The policy's executions, newest first, once `count` of them have ended."""
    return _wait(lambda: _executions(api, policy_id),
                 lambda found: len(found) >= count and all(e["status"] != "InProgress" for e in found),
                 f"{count} finished execution(s) of policy {policy_id}")


def _log(api: httpx.Client, execution_id: int) -> str:
    tasks = api.get(f"/replication/executions/{execution_id}/tasks").json()
    return "".join(api.get(f"/replication/executions/{execution_id}/tasks/{t['id']}/log").text for t in tasks)


def _scrape(source: Server) -> str:
    return httpx.get(f"{source.url}/metrics", timeout=30.0).text


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


# --- event-based replication ------------------------------------------------------------------------


def test_event_based_policy_replicates_pushes_and_deletions_with_webhooks_and_metrics(
        api, source, target, registry_id, receiver):
    hook = _id(api.post("/projects/evt/webhook/policies", json={
        "name": "replication-hook", "event_types": ["REPLICATION"], "enabled": True,
        "targets": [{"type": "http", "address": receiver.url("/replication")}]}))
    assert hook
    policy_id = _id(api.post("/replication/policies", json={
        "name": "on-push", "dest_registry": {"id": registry_id}, "enabled": True, "override": True,
        "replicate_deletion": True, "trigger": {"type": "event_based"}, "description": "mirror evt",
        "filters": [{"type": "name", "value": "evt/**"}, {"type": "tag", "value": "*-tmp", "decoration": "excludes"}]}))
    got = api.get(f"/replication/policies/{policy_id}").json()
    assert got["trigger"]["type"] == "event_based" and got["replicate_deletion"] is True and got["deletion"] is True

    app, tool, skipped = build_image(seed=9301), build_image(seed=9302), build_image(seed=9303, layers=1)
    with V2(source.url, auth=source.auth) as v2:
        v2.push_image("evt/app", app, "1.0")
        v2.push_image("evt/app", skipped, "build-tmp")  # the tag filter excludes it: no execution
        v2.push_image("evt/app", app, "1.1")
        v2.push_image("evt/tool", tool, "1.0")
        _finished(api, policy_id, 3)
        # the same blobs in another repository: mounted from the one that got them
        v2.push_image("evt/app-copy", app, "1.0")

    executions = _finished(api, policy_id, 4)
    assert {e["trigger"] for e in executions} == {"event_based"} and len(executions) == 4
    listed = api.get("/replication/executions", params={"policy_id": policy_id, "trigger": "event_based"})
    assert listed.headers["X-Total-Count"] == "4"
    assert all(e["status"] == "Succeed" and e["total"] == 1 for e in executions), executions
    with V2(target.url) as peer:
        for repository, image, tag in (("evt/app", app, "1.0"), ("evt/app", app, "1.1"), ("evt/tool", tool, "1.0"),
                                       ("evt/app-copy", app, "1.0")):
            got = peer.get_manifest(repository, tag)
            assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == image.digest, (repository, tag)
        assert peer.get_manifest("evt/app", "build-tmp").status_code == 404
    copy_log = _log(api, [e for e in executions if "app-copy" in _log(api, e["id"])][0]["id"])
    assert copy_log.count("mounted from evt/app") == len(app.blobs), copy_log

    # deletions: a tag alone the docker-registry cannot delete (a clear failure); the artifact goes by digest
    with V2(source.url, auth=source.auth) as v2:
        assert v2.request("DELETE", "/v2/evt/tool/manifests/1.0").status_code == 202
    executions = _finished(api, policy_id, 5)
    refused = executions[0]
    assert refused["status"] == "Failed" and refused["failed"] == 1
    tasks = api.get(f"/replication/executions/{refused['id']}/tasks").json()
    assert tasks[0]["operation"] == "tag deletion" and tasks[0]["dst_resource"] == "evt/tool:[1.0]"
    log = _log(api, refused["id"])
    assert "the destination refused to delete evt/tool:1.0: 400" in log and "by digest only" in log, log
    assert "attempt 2" not in log  # a refusal is not retried

    assert api.delete(f"/projects/evt/repositories/app/artifacts/{app.digest}").status_code == 200
    executions = _finished(api, policy_id, 6)
    assert executions[0]["status"] == "Succeed", _log(api, executions[0]["id"])
    assert api.get(f"/replication/executions/{executions[0]['id']}/tasks").json()[0]["operation"] == "deletion"
    with V2(target.url) as peer:
        assert peer.get_manifest("evt/app", "1.0").status_code == 404
        assert peer.get_manifest("evt/app", app.digest).status_code == 404
        assert peer.get_manifest("evt/app-copy", "1.0").status_code == 200

    # a REPLICATION webhook per task that ended, with Harbor's payload
    bodies = [r.json() for r in receiver.wait("/replication", 6)]
    assert {b["type"] for b in bodies} == {"REPLICATION"} and {b["operator"] for b in bodies} == {"EVENT_BASED"}
    success = next(b["event_data"]["replication"] for b in bodies
                   if b["event_data"]["replication"].get("successful_artifact", [{}])[0].get("name_tag") == "tool:[1.0]")
    assert success["harbor_hostname"] == "127.0.0.1" and success["job_status"] == "Success"
    assert success["trigger_type"] == "EVENT_BASED" and success["override_mode"] is True
    assert success["policy_creator"] == "admin" and success["description"] == "mirror evt"
    assert success["src_resource"] == {"registry_type": "harbor", "endpoint": source.url, "namespace": "evt"}
    assert success["dest_resource"] == {"registry_name": "events-peer", "registry_type": "docker-registry",
                                        "endpoint": target.url, "namespace": "evt"}
    assert success["successful_artifact"] == [{"type": "artifact", "status": "Success", "name_tag": "tool:[1.0]",
                                               "references": None}]
    assert isinstance(success["execution_id"], int) and isinstance(success["task_id"], int)
    failed = [b["event_data"]["replication"] for b in bodies if b["event_data"]["replication"]["job_status"] == "Error"]
    assert len(failed) == 1 and "by digest only" in failed[0]["failed_artifact"][0]["fail_reason"]

    # metrics: the failed tag deletion is a change not on the destination: lag counts from its start; a
    # scheduled policy that never ran counts from its creation
    nightly = _id(api.post("/replication/policies", json={
        "name": "nightly", "dest_registry": {"id": registry_id}, "enabled": True,
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}}}))
    metrics = _scrape(source)
    assert 0 < _sample(metrics, "berth_replication_lag_seconds", policy="nightly", trigger="scheduled") < 120
    assert _sample(metrics, "berth_replication_last_success_timestamp_seconds", policy="nightly") == 0
    assert api.delete(f"/replication/policies/{nightly}").status_code == 200
    assert _sample(metrics, "berth_replication_tasks", policy="on-push", status="Success") == 5
    assert _sample(metrics, "berth_replication_tasks", policy="on-push", status="Error") == 1
    lag = _sample(metrics, "berth_replication_lag_seconds", policy="on-push", trigger="event_based")
    assert lag is not None and 0 < lag < 120
    assert _sample(metrics, "berth_replication_last_success_timestamp_seconds", policy="on-push") > time.time() - 120
    # a full run that succeeds copies everything again: nothing is pending any more
    assert _id(api.post("/replication/executions", json={"policy_id": policy_id}))
    assert _finished(api, policy_id, 7)[0]["status"] == "Succeed"
    assert _sample(_scrape(source), "berth_replication_lag_seconds", policy="on-push", trigger="event_based") == 0
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200


# --- failure, resume, bandwidth -------------------------------------------------------------------


def _big_image(seed: int, sizes: tuple[int, ...]) -> Image:
    """An image whose layers are incompressible blobs of the given sizes (the manifest says gzip; the
    registries do not look inside)."""
    rng = random.Random(seed)
    layers = [rng.randbytes(size) for size in sizes]
    config = canonical_json({"architecture": "amd64", "os": "linux", "config": {"Env": [f"SEED={seed}"]},
                             "rootfs": {"type": "layers", "diff_ids": [descriptor("x", b)["digest"] for b in layers]}})
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b) for b in layers]})
    return Image(manifest, "application/vnd.oci.image.manifest.v1+json", [config, *layers])


def _second_layer_arriving(peer: Server, repository: str, first_layer: str) -> None:
    """Once the first layer is on the docker-registry and bytes of the second are arriving (its upload
    session's data file on the registry's disk grows, at the policy's speed)."""
    _wait(lambda: httpx.head(f"{peer.url}/v2/{repository}/blobs/{first_layer}", timeout=5).status_code,
          lambda status: status == 200, "the first layer on the destination")
    uploads = peer.data_dir / "docker/registry/v2/repositories" / repository / "_uploads"
    _wait(lambda: [f.stat().st_size for f in uploads.glob("*/data")], any, "the second layer arriving")


def _restart(peer: Server) -> None:
    """The docker-registry again, on its port, over the data it had."""
    config = peer.data_dir.parent / "config.yml"
    with peer.log_path.open("ab") as log:
        peer.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"{peer.url}/v2/", peer.process)


def test_an_untagged_push_is_copied_by_digest_and_a_referrer_brings_its_subject(api, source, target, registry_id):
    source.create_project("loose")
    policy_id = _id(api.post("/replication/policies", json={
        "name": "loose-on-push", "dest_registry": {"id": registry_id}, "enabled": True,
        "trigger": {"type": "event_based"}, "filters": [{"type": "name", "value": "loose/**"}]}))
    subject, untagged = build_image(seed=9311, layers=1), build_image(seed=9312, layers=1)
    sbom = build_artifact(b'{"spdxVersion": "SPDX-2.3"}', subject=subject)
    with V2(source.url, auth=source.auth) as v2:
        v2.push_image("loose/app", subject, "1.0")
        _finished(api, policy_id, 1)
        v2.push_image("loose/app", untagged)  # by digest: no tag filter takes the empty tag, as Harbor's
        v2.push_image("loose/app", sbom)  # a referrer: its subject is copied again, with it
    executions = _finished(api, policy_id, 3)
    assert all(e["status"] == "Succeed" and e["total"] == 1 for e in executions), executions
    resources = sorted(api.get(f"/replication/executions/{e['id']}/tasks").json()[0]["dst_resource"]
                       for e in executions)
    assert resources == ["loose/app:[1.0]", "loose/app:[1.0]", "loose/app:[]"]
    with V2(target.url) as peer:
        assert peer.get_manifest("loose/app", untagged.digest).content == untagged.manifest
        assert peer.get_manifest("loose/app", sbom.digest).content == sbom.manifest
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200


def test_destination_killed_mid_copy_fails_cleanly_then_a_new_run_skips_what_arrived(api, source, target, registry_id):
    speed_kb = 512
    first, second = 256 * 1024, 2 * 1024 * 1024
    image = _big_image(9401, (first, second))
    with V2(source.url, auth=source.auth) as v2:
        v2.push_image("slow/big", image, "1.0")
    policy_id = _id(api.post("/replication/policies", json={
        "name": "slow", "dest_registry": {"id": registry_id}, "enabled": True, "speed": speed_kb,
        "filters": [{"type": "name", "value": "slow/**"}]}))
    layer_digests = image.layer_digests
    _id(api.post("/replication/executions", json={"policy_id": policy_id}))

    _second_layer_arriving(target, "slow/big", layer_digests[0])
    target.stop(sig=9)
    failed = _finished(api, policy_id, 1)[0]
    assert failed["status"] == "Failed" and failed["failed"] == 1, failed
    log = _log(api, failed["id"])
    assert "failed: " in log and "attempt 3 of 3" in log, log
    # the first attempt broke off mid-blob; the retries found nobody there
    assert f"failed: upload of {layer_digests[1]} ({second} bytes) broke off: the destination closed the " \
           "connection" in log, log
    assert "failed: unreachable: " in log, log

    _restart(target)
    started = time.monotonic()
    _id(api.post("/replication/executions", json={"policy_id": policy_id}))
    done = _finished(api, policy_id, 2)[0]
    elapsed = time.monotonic() - started
    assert done["status"] == "Succeed", _log(api, done["id"])
    log = _log(api, done["id"])
    assert f"blob {layer_digests[0]}: the destination has it, skipped" in log, log
    assert f"blob {layer_digests[1]}: pushed ({second} bytes)" in log, log
    # the limit holds: the second layer alone takes size / speed, so the run at least 0.8 of that
    assert elapsed >= 0.8 * second / (speed_kb * 1024), elapsed
    with V2(target.url) as peer:
        got = peer.get_manifest("slow/big", "1.0")
        assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == image.digest
        for blob in image.blobs:
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            fetched = peer.http.get(f"/v2/slow/big/blobs/{digest}")
            assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == digest[7:]
    metrics = _scrape(source)
    assert _sample(metrics, "berth_replication_tasks", policy="slow", status="Error") == 1
    assert _sample(metrics, "berth_replication_tasks", policy="slow", status="Success") == 1
    assert _sample(metrics, "berth_replication_lag_seconds", policy="slow") is None  # manual: no promise


def test_berth_killed_mid_copy_resumes_the_same_execution_without_copying_what_arrived(
        api, source, target, registry_id):
    first, second = 256 * 1024, 1024 * 1024
    image = _big_image(9501, (first, second))
    with V2(source.url, auth=source.auth) as v2:
        v2.push_image("slow/resumed", image, "1.0")
    policy_id = _id(api.post("/replication/policies", json={
        "name": "resumed", "dest_registry": {"id": registry_id}, "enabled": True, "speed": 512,
        "filters": [{"type": "name", "value": "slow/resumed"}]}))
    execution_id = _id(api.post("/replication/executions", json={"policy_id": policy_id}))
    layer_digests = image.layer_digests
    _second_layer_arriving(target, "slow/resumed", layer_digests[0])

    # berth dies in the middle of the second layer; back, it runs the task again once its lease has run
    # out: the same execution ends, having pushed only what had not arrived
    source.stop(sig=9)
    restarted = start_berth(source.data_dir, ENV, port=source.port, projects=())
    source.process, source.log_path = restarted.process, restarted.log_path
    done = _finished(api, policy_id, 1)
    assert [e["id"] for e in done] == [execution_id] and done[0]["status"] == "Succeed", done
    log = _log(api, execution_id)
    _, interrupted, after = log.partition("re-run: the worker running it stopped renewing its lease")
    assert interrupted, log
    assert f"blob {layer_digests[0]}: the destination has it, skipped" in after, log
    assert f"blob {layer_digests[1]}: pushed ({second} bytes)" in after, log
    assert f"blob {layer_digests[0]}: pushed" not in after, log
    with V2(target.url) as peer:
        assert peer.get_manifest("slow/resumed", "1.0").headers["Docker-Content-Digest"] == image.digest
