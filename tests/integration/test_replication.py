"""Replication (/replication/policies, /replication/executions): policy CRUD as Harbor answers it,
validation (400 and nothing stored), what berth refuses as not supported yet, system administrators
only, Harbor's flattening; and a push run from berth to the Debian docker-registry on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from berth.replication.policy import Filter, Policy, PolicyInvalid, replace_namespace
from tests.conftest import Server, start_berth

from .helpers import V2, build_image, build_index

API = "/api/v2.0"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("source") / "data", projects=("library", "team"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(source: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=source.url + API, auth=source.auth, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def registry_id(api, peer) -> int:
    return _id(api.post("/registries", json={"name": "peer", "type": "docker-registry", "url": peer.url}))


def _policy(registry_id: int, **fields: object) -> dict[str, object]:
    return {"name": "to-peer", "dest_registry": {"id": registry_id}, "enabled": True,
            "trigger": {"type": "manual"}, **fields}


def _id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _message(response: httpx.Response) -> str:
    return response.json()["errors"][0]["message"]


def test_policy_crud_as_harbor_answers_it(api, registry_id):
    created = api.post("/replication/policies", json=_policy(
        registry_id, description="nightly", dest_namespace="mirror", dest_namespace_replace_count=1, override=True,
        speed=1024, filters=[{"type": "name", "value": "library/**"},
                             {"type": "tag", "value": "v*", "decoration": "excludes"}]))
    policy_id = _id(created)
    assert created.headers["Location"] == f"{API}/replication/policies/{policy_id}"
    got = api.get(f"/replication/policies/{policy_id}").json()
    assert got["name"] == "to-peer" and got["description"] == "nightly" and got["enabled"] is True
    assert got["dest_registry"]["id"] == registry_id and got["dest_registry"]["name"] == "peer"
    assert got["src_registry"]["name"] == "Local" and got["src_registry"]["type"] == "harbor"
    assert got["dest_namespace"] == "mirror" and got["dest_namespace_replace_count"] == 1
    assert got["override"] is True and got["speed"] == 1024 and got["trigger"]["type"] == "manual"
    assert got["filters"] == [{"type": "name", "value": "library/**"},
                              {"type": "tag", "value": "v*", "decoration": "excludes"}]
    assert got["creation_time"].endswith("Z")

    assert api.post("/replication/policies", json=_policy(registry_id)).status_code == 409
    listed = api.get("/replication/policies", params={"name": "to-"})
    assert listed.headers["X-Total-Count"] == "1" and listed.json()[0]["id"] == policy_id

    # a registry a policy replicates with cannot go (Harbor's 412)
    assert api.delete(f"/registries/{registry_id}").status_code == 412

    updated = api.put(f"/replication/policies/{policy_id}", json=_policy(registry_id, name="renamed", enabled=False))
    assert updated.status_code == 200, updated.text
    got = api.get(f"/replication/policies/{policy_id}").json()
    assert got["name"] == "renamed" and "enabled" not in got and "filters" not in got
    assert got["dest_namespace_replace_count"] == -1  # Harbor's legacy mode when none is given

    other = _id(api.post("/replication/policies", json=_policy(registry_id, name="other")))
    assert api.put(f"/replication/policies/{other}", json=_policy(registry_id, name="renamed")).status_code == 409

    for existing in (policy_id, other):
        assert api.delete(f"/replication/policies/{existing}").status_code == 200
    assert api.get(f"/replication/policies/{policy_id}").status_code == 404
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 404
    assert api.put(f"/replication/policies/{policy_id}", json=_policy(registry_id)).status_code == 404


@pytest.mark.parametrize(("fields", "reason"), [
    ({"name": ""}, "empty name"),
    ({"dest_registry": None}, "cannot be both empty"),
    ({"dest_registry": {"id": 99999}}, "registry 99999 not found"),
    ({"src_registry": {"id": 99999}, "dest_registry": None}, "registry 99999 not found"),
    ({"src_registry": {"id": 1}}, "either src_registry or dest_registry"),
    ({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}}}, "Minutes of time"),
    ({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "every day"}}}, "invalid cron string"),
    ({"trigger": {"type": "scheduled"}}, "invalid cron string"),
    ({"trigger": {"type": "sometimes"}}, "invalid trigger type"),
    ({"filters": [{"type": "label", "value": "a"}]}, "isn't string slice"),
    ({"filters": [{"type": "resource", "value": "chart"}]}, "invalid resource filter"),
    ({"filters": [{"type": "colour", "value": "red"}]}, "invalid filter type"),
    ({"filters": [{"type": "tag", "value": "v*", "decoration": "maybe"}]}, "invalid filter decoration"),
    ({"filters": [{"type": "name", "value": "a"}, {"type": "name", "value": "b"}]}, "only one name filter"),
    ({"filters": [{"type": "tag", "value": 3}]}, "must be strings"),
    ({"dest_namespace": "Bad Namespace"}, "invalid destination namespace"),
    ({"dest_namespace_replace_count": -2}, "invalid dest_namespace_replace_count"),
    ({"speed": -5}, "invalid speed"),

])
def test_an_invalid_or_unsupported_policy_is_refused_and_nothing_stored(api, registry_id, fields, reason):
    response = api.post("/replication/policies", json=_policy(registry_id, **{"name": "refused", **fields}))
    assert response.status_code == 400, response.text
    assert reason in _message(response)
    assert api.get("/replication/policies", params={"name": "refused"}).json() == []


def test_a_scheduled_policy_is_on_berths_schedules_until_it_goes(api, registry_id):
    def schedules() -> list[dict[str, object]]:
        return [s for s in api.get("/schedules", params={"page_size": 100}).json()
                if s.get("vendor_type") == "REPLICATION"]

    scheduled = {"type": "scheduled", "trigger_settings": {"cron": "0 30 2 * * *"}}
    policy_id = _id(api.post("/replication/policies", json=_policy(registry_id, name="nightly", trigger=scheduled)))
    got = api.get(f"/replication/policies/{policy_id}").json()
    assert got["trigger"] == scheduled
    assert [(s["vendor_id"], s["cron"]) for s in schedules()] == [(policy_id, "0 30 2 * * *")]
    assert api.put(f"/replication/policies/{policy_id}", json=_policy(registry_id, name="nightly")).status_code == 200
    assert schedules() == []
    assert api.put(f"/replication/policies/{policy_id}",
                   json=_policy(registry_id, name="nightly", trigger=scheduled)).status_code == 200
    assert len(schedules()) == 1
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    assert schedules() == []


def test_policies_are_for_system_administrators_only(api, source, registry_id):
    assert api.post("/users", json={"username": "dev", "email": "dev@example.com", "realname": "dev",
                                    "password": "Passw0rd1"}).status_code == 201
    policy_id = _id(api.post("/replication/policies", json=_policy(registry_id, name="guarded")))
    with httpx.Client(base_url=source.url + API, auth=("dev", "Passw0rd1"), timeout=30.0) as dev:
        assert dev.get("/replication/policies").status_code == 403
        assert dev.get(f"/replication/policies/{policy_id}").status_code == 403
        assert dev.post("/replication/policies", json=_policy(registry_id, name="mine")).status_code == 403
        assert dev.put(f"/replication/policies/{policy_id}", json=_policy(registry_id)).status_code == 403
        assert dev.delete(f"/replication/policies/{policy_id}").status_code == 403
        assert dev.post("/replication/executions", json={"policy_id": policy_id}).status_code == 403
        assert dev.get("/replication/executions").status_code == 403
    with httpx.Client(base_url=source.url + API, timeout=30.0) as anonymous:
        assert anonymous.get("/replication/policies").status_code == 401
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200


@pytest.mark.parametrize(("count", "expected"), [
    (-1, "n/image"), (0, "n/a/b/c/image"), (1, "n/b/c/image"), (2, "n/c/image"), (3, "n/image"),
])
def test_flattening_is_harbors(count, expected):
    assert replace_namespace("a/b/c/image", "n", count) == expected
    assert replace_namespace("a/b/c/image", "", count) == "a/b/c/image"


def test_flattening_deeper_than_the_path_is_refused():
    with pytest.raises(PolicyInvalid, match="flattening level is 4"):
        replace_namespace("a/b/c/image", "n", 4)


def test_filters_are_doublestar_with_matches_and_excludes():
    policy = Policy(name="p", dest_registry_id=1, filters=(
        Filter("name", "library/**"), Filter("tag", "{v1,v2}*", "excludes")))
    assert policy.takes_repository("library/a/b") and not policy.takes_repository("team/a")
    assert policy.takes_tag("latest") and not policy.takes_tag("v1.2")


# --- a push run -------------------------------------------------------------------------------------------


def _run(api: httpx.Client, policy_id: int) -> dict[str, object]:
    execution_id = _id(api.post("/replication/executions", json={"policy_id": policy_id}))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        execution = api.get(f"/replication/executions/{execution_id}").json()
        if execution["status"] != "InProgress":
            return execution
        time.sleep(0.3)
    raise AssertionError(f"execution {execution_id} still running")


def _logs(api: httpx.Client, execution_id: object) -> list[str]:
    tasks = api.get(f"/replication/executions/{execution_id}/tasks").json()
    return [api.get(f"/replication/executions/{execution_id}/tasks/{t['id']}/log").text for t in tasks]


def test_push_replication_copies_exactly_the_filtered_artifacts_and_skips_what_arrived(api, source, peer, registry_id):
    app, other = build_image(seed=8101), build_image(seed=8102)
    index = build_index([build_image(seed=8103), build_image(seed=8104)], [("linux", "amd64"), ("linux", "arm64")])
    signature = build_image(seed=8105, layers=1)
    with V2(source.url, auth=source.auth) as v2:
        for tag in ("1.0", "2.0"):
            v2.push_image("library/app", app, tag)
        v2.push_image("library/app", signature, app.digest.replace(":", "-") + ".sig")
        v2.push_image("library/multi", index, "1.0")
        v2.push_image("team/other", other, "1.0")
    policy_id = _id(api.post("/replication/policies", json=_policy(
        registry_id, name="push-run", dest_namespace="replica", dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": "library/**"}])))

    execution = _run(api, policy_id)
    assert execution["status"] == "Succeed", execution
    assert execution["total"] == 2 and execution["succeed"] == 2 and execution["trigger"] == "manual"
    tasks = api.get(f"/replication/executions/{execution['id']}/tasks").json()
    assert sorted(t["dst_resource"] for t in tasks) == ["replica/app:[1.0,2.0]", "replica/multi:[1.0]"]
    assert all(t["status"] == "Success" and t["resource_type"] == "artifact" for t in tasks)

    with V2(peer.url) as target:
        for tag in ("1.0", "2.0"):
            got = target.get_manifest("replica/app", tag)
            assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == app.digest
        sig = target.get_manifest("replica/app", app.digest.replace(":", "-") + ".sig")
        assert sig.headers["Docker-Content-Digest"] == signature.digest
        assert target.get_manifest("replica/multi", "1.0").headers["Docker-Content-Digest"] == index.digest
        for image in (app, signature, *index.children):
            assert target.get_manifest("replica/multi" if image in index.children else "replica/app",
                                       image.digest).content == image.manifest
            for blob in image.blobs:
                digest = "sha256:" + hashlib.sha256(blob).hexdigest()
                repository = "replica/multi" if image in index.children else "replica/app"
                assert target.http.get(f"/v2/{repository}/blobs/{digest}").content == blob
        assert target.get_manifest("replica/other", "1.0").status_code == 404
        assert target.get_manifest("team/other", "1.0").status_code == 404

    logs = _logs(api, execution["id"])
    assert all("pushed (" in log for log in logs)

    again = _run(api, policy_id)
    assert again["status"] == "Succeed" and again["succeed"] == 2
    logs = _logs(api, again["id"])
    assert all("pushed (" not in log and "the destination has it, skipped" in log for log in logs), logs
    assert api.get("/replication/executions", params={"policy_id": policy_id}).headers["X-Total-Count"] == "2"
    assert api.put(f"/replication/executions/{again['id']}").status_code == 200  # stopping a finished run: no-op

    # override off: a destination tag that points elsewhere stays
    elsewhere = build_image(seed=8106, layers=1)
    with V2(peer.url) as target:
        target.push_image("replica/app", elsewhere, "1.0")
    assert api.put(f"/replication/policies/{policy_id}", json=_policy(
        registry_id, name="push-run", dest_namespace="replica", dest_namespace_replace_count=1, override=False,
        filters=[{"type": "name", "value": "library/app"}])).status_code == 200
    third = _run(api, policy_id)
    assert third["status"] == "Succeed" and third["total"] == 1
    assert "tag 1.0: the destination has " + elsewhere.digest + " and override is off, skipped" in _logs(api, third["id"])[0]
    with V2(peer.url) as target:
        assert target.get_manifest("replica/app", "1.0").headers["Docker-Content-Digest"] == elsewhere.digest
        assert target.get_manifest("replica/app", "2.0").headers["Docker-Content-Digest"] == app.digest


def test_a_disabled_or_unknown_policy_does_not_start(api, registry_id):
    policy_id = _id(api.post("/replication/policies", json=_policy(registry_id, name="off", enabled=False)))
    assert "disabled" in _message(api.post("/replication/executions", json={"policy_id": policy_id}))
    assert api.post("/replication/executions", json={"policy_id": 99999}).status_code == 400
    assert api.get("/replication/executions/99999").status_code == 404
    assert api.put("/replication/executions/99999").status_code == 404
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
