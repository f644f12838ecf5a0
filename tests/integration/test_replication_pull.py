"""Pull-based replication into berth (from the Debian docker-registry, from a second berth through the
harbor adapter, from a broken registry), label and resource filters, and copy_by_chunk (Range pulls,
PATCH pushes to the docker-registry). Every server is a real process or socket on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from berth.replication.policy import (
    Policy,
    PolicyInvalid,
    destination_projects,
    load_policy,
    named_projects,
    parse_filters,
    pull_target,
    specific_paths,
)
from tests.conftest import Server, start_berth

from .helpers import OCI_INDEX, V2, Image, build_artifact, build_image, build_index, canonical_json, descriptor
from .test_replication import _id, _run

API = "/api/v2.0"
#: the chunk size the local berth copies with (small, so a test layer goes in several pieces)
CHUNK = 4096


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[Server]:
    """The berth that pulls (and, for copy_by_chunk, pushes); retries come fast."""
    server = start_berth(tmp_path_factory.mktemp("local") / "data", projects=("src",), env={
        "BERTH_JOB_RETRY_BASE_SECONDS": "0.05", "BERTH_JOB_POLL_SECONDS": "0.2",
        "BERTH_REPLICATION_CHUNK_SIZE": str(CHUNK)})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Iterator[Server]:
    """A second berth, reached through the harbor adapter."""
    server = start_berth(tmp_path_factory.mktemp("remote") / "data", projects=("team",))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(local: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local.url + API, auth=local.auth, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def peer_id(api, peer) -> int:
    return _id(api.post("/registries", json={"name": "peer", "type": "docker-registry", "url": peer.url}))


@pytest.fixture(scope="module")
def remote_id(api, remote) -> int:
    """The second berth as a `harbor` endpoint, with its admin's credential (which may create projects)."""
    return _id(api.post("/registries", json={
        "name": "remote-berth", "type": "harbor", "url": remote.url,
        "credential": {"type": "basic", "access_key": "admin", "access_secret": remote.admin_password}}))


def _pull_policy(registry_id: int, name: str, **fields: object) -> dict[str, object]:
    return {"name": name, "src_registry": {"id": registry_id}, "dest_registry": None, "enabled": True,
            "trigger": {"type": "manual"}, **fields}


def _logs(api: httpx.Client, execution_id: object) -> dict[str, str]:
    """dst_resource -> the task's log."""
    tasks = api.get(f"/replication/executions/{execution_id}/tasks").json()
    return {t["dst_resource"]: api.get(f"/replication/executions/{execution_id}/tasks/{t['id']}/log").text
            for t in tasks}


def _referrers_tag_index(*referrers: Image) -> bytes:
    """The referrers tag schema's index (what a client pushes to a registry without the referrers API)."""
    return canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [descriptor(r.media_type, r.manifest) for r in referrers]})


def test_pull_from_docker_registry_with_filters_flattening_chunks_and_a_signature(api, local, peer, peer_id):
    app, dev, cli = build_image(seed=8201), build_image(seed=8202, layers=1), build_image(seed=8203, layers=1)
    multi = build_index([build_image(seed=8204, layers=1), build_image(seed=8205, layers=1)],
                        [("linux", "amd64"), ("linux", "arm64")])
    signature = build_image(seed=8206, layers=1)
    sbom = build_artifact(b'{"spdxVersion": "SPDX-2.3"}', subject=app)
    with V2(peer.url) as upstream:
        for tag in ("1.0", "1.1"):
            upstream.push_image("upstream/app", app, tag)
        upstream.push_image("upstream/app", dev, "dev")
        upstream.push_image("upstream/app", signature, app.digest.replace(":", "-") + ".sig")
        upstream.push_image("upstream/app", sbom)
        # docker-registry 2.8 has no referrers API: the referrer is listed under the tag schema's tag
        assert upstream.put_manifest("upstream/app", app.digest.replace(":", "-"), _referrers_tag_index(sbom),
                                     OCI_INDEX).status_code == 201
        upstream.push_image("upstream/tools/cli", cli, "1.0")
        upstream.push_image("upstream/multi", multi, "1.2")
        upstream.push_image("elsewhere/app", dev, "1.0")
    policy_id = _id(api.post("/replication/policies", json=_pull_policy(
        peer_id, "from-peer", dest_namespace="mirror", dest_namespace_replace_count=1, copy_by_chunk=True,
        speed=100_000, filters=[{"type": "name", "value": "upstream/**"}, {"type": "tag", "value": "1.*"}])))
    got = api.get(f"/replication/policies/{policy_id}").json()
    assert got["src_registry"]["id"] == peer_id and got["dest_registry"]["name"] == "Local"
    assert got["copy_by_chunk"] is True

    execution = _run(api, policy_id)
    assert execution["status"] == "Succeed", (execution, _logs(api, execution["id"]))
    logs = _logs(api, execution["id"])
    assert sorted(logs) == ["mirror/app:[1.0,1.1]", "mirror/multi:[1.2]", "mirror/tools/cli:[1.0]"]
    assert "range request(s)" in logs["mirror/app:[1.0,1.1]"]  # the 17 KB layer came in 4 KB Range pieces
    assert api.get("/projects/mirror").json()["metadata"]["public"] == "false"

    with V2(local.url, auth=local.auth) as here:
        for tag in ("1.0", "1.1"):
            assert here.get_manifest("mirror/app", tag).headers["Docker-Content-Digest"] == app.digest
        assert here.get_manifest("mirror/app", "dev").status_code == 404
        assert here.get_manifest("mirror/tools/cli", "1.0").headers["Docker-Content-Digest"] == cli.digest
        assert here.get_manifest("mirror/multi", "1.2").headers["Docker-Content-Digest"] == multi.digest
        sig = here.get_manifest("mirror/app", app.digest.replace(":", "-") + ".sig")
        assert sig.headers["Docker-Content-Digest"] == signature.digest
        referrers = here.http.get(f"/v2/mirror/app/referrers/{app.digest}").json()["manifests"]
        assert [r["digest"] for r in referrers] == [sbom.digest]
        for blob in app.blobs:
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            assert here.http.get(f"/v2/mirror/app/blobs/{digest}").content == blob
        assert here.get_manifest("mirror/app", "1.0").content == app.manifest
        # neither `dev` (tag filter) nor elsewhere/app (name filter; it would flatten to mirror/app too)
        assert sorted(here.list_all("/v2/mirror/app/tags/list", "tags")) == [
            "1.0", "1.1", app.digest.replace(":", "-") + ".sig"]

    again = _run(api, policy_id)
    assert again["status"] == "Succeed" and again["succeed"] == 3
    assert all("fetched (" not in log and "has it, skipped" in log for log in _logs(api, again["id"]).values())


def test_pull_from_berth_through_the_harbor_adapter_with_label_and_resource_filters(
        api, local, remote, peer_id, remote_id):
    web, other = build_image(seed=8201), build_image(seed=8211, layers=1)  # web is the app pulled above
    chart = build_artifact(b"chart", artifact_type=None, config_media_type="application/vnd.cncf.helm.config.v1+json",
                           layer_media_type="application/vnd.cncf.helm.chart.content.v1.tar+gzip")
    attestation = build_artifact(b'{"predicateType": "https://slsa.dev/provenance/v1"}', subject=web,
                                 artifact_type="application/vnd.in-toto+json")
    with httpx.Client(base_url=remote.url + API, auth=remote.auth, timeout=30.0) as there:
        with V2(remote.url, auth=remote.auth) as v2:
            v2.push_image("team/web", web, "1.0")
            v2.push_image("team/web", other, "2.0")
            v2.push_image("team/web", chart, "chart")
            v2.push_image("team/web", attestation)  # a referrer: berth answers the referrers API
        assert there.put("/projects/team", json={"metadata": {"public": "true"}}).status_code == 200
        label = _id(there.post("/labels", json={"name": "prod", "scope": "g"}))
        for reference in ("1.0", "chart"):
            assert there.post(f"/projects/team/repositories/web/artifacts/{reference}/labels",
                              json={"id": label}).status_code == 200
    registry_id = remote_id
    info = api.get(f"/registries/{registry_id}/info").json()
    assert {"type": "label", "style": "list", "values": ["prod"]} in info["supported_resource_filters"]
    assert info["supported_copy_by_chunk"] is True
    plain = api.get(f"/registries/{peer_id}/info").json()
    assert "label" not in [f["type"] for f in plain["supported_resource_filters"]]

    policy_id = _id(api.post("/replication/policies", json=_pull_policy(registry_id, "from-berth", filters=[
        {"type": "label", "value": ["prod"]}, {"type": "resource", "value": "image"}])))
    execution = _run(api, policy_id)
    assert execution["status"] == "Succeed", (execution, _logs(api, execution["id"]))
    logs = _logs(api, execution["id"])
    assert list(logs) == ["team/web:[1.0]"]
    # the same image came from the peer before: its blobs are linked, not fetched again
    for blob in web.blobs:
        assert f"blob sha256:{hashlib.sha256(blob).hexdigest()}: berth has it, linked without fetching" \
            in logs["team/web:[1.0]"]
    assert api.get("/projects/team").json()["metadata"]["public"] == "true"  # as the source project
    with V2(local.url, auth=local.auth) as here:
        assert here.get_manifest("team/web", "1.0").headers["Docker-Content-Digest"] == web.digest
        assert here.get_manifest("team/web", "2.0").status_code == 404
        assert here.get_manifest("team/web", "chart").status_code == 404
        referrers = here.http.get(f"/v2/team/web/referrers/{web.digest}").json()["manifests"]
        assert [r["digest"] for r in referrers] == [attestation.digest]

    excluded = _id(api.post("/replication/policies", json=_pull_policy(registry_id, "not-prod", filters=[
        {"type": "label", "value": ["prod"], "decoration": "excludes"}])))
    execution = _run(api, excluded)
    assert execution["status"] == "Succeed" and list(_logs(api, execution["id"])) == ["team/web:[2.0]"]


@pytest.mark.parametrize(("fields", "reason"), [
    ({"filters": [{"type": "label", "value": ["prod"]}]}, "does not support label filters"),
    ({"filters": [{"type": "resource", "value": "artifact"}]}, "not artifact"),
    ({"filters": [{"type": "resource", "value": "image", "decoration": "excludes"}]}, "only tag and label"),
    ({"filters": [{"type": "label", "value": [1]}]}, "isn't string slice"),
    ({"dest_registry": {"id": 1}}, "either src_registry or dest_registry"),
    ({"src_registry": {"id": 99999}}, "registry 99999 not found"),
])
def test_a_bad_pull_policy_is_refused(api, peer_id, fields, reason):
    response = api.post("/replication/policies", json=_pull_policy(peer_id, "refused", **fields))
    assert response.status_code == 400, response.text
    assert reason in response.json()["errors"][0]["message"]
    assert api.get("/replication/policies", params={"name": "refused"}).json() == []


def test_a_name_filter_without_wildcards_names_its_repositories():
    assert specific_paths("library/{nginx,redis}") == ["library/nginx", "library/redis"]
    assert specific_paths("a/b") == ["a/b"]
    assert specific_paths("library/*") is None and specific_paths("") is None and specific_paths("a/{b}/{c,d}") == [
        "a/b/c", "a/b/d"]


def test_pulled_repositories_need_a_project():
    assert pull_target("library/alpine", "", -1) == "library/alpine"
    assert pull_target("alpine", "mirror", -1) == "mirror/alpine"
    with pytest.raises(PolicyInvalid, match="requires at least 2"):
        pull_target("alpine", "", -1)


@pytest.fixture(scope="module")
def broken() -> Iterator[tuple[str, Image, list[str]]]:
    """A registry that serves `bad/short` (a layer cut off mid-body) and `bad/garbage` (a layer of the
    right length but other bytes): everything else is as a registry answers it. The list: the paths
    it was asked for."""
    asked: list[str] = []
    image = build_image(seed=8221, layers=1)
    manifest, (config, layer) = image.manifest, image.blobs
    blobs = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in (config, layer)}
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str = "application/json", length: int | None = None,
                  digest: str = "") -> None:
            self.send_response(status)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            asked.append(path)
            repository = next((r for r in ("bad/short", "bad/garbage") if path.startswith(f"/v2/{r}/")), "")
            if path == "/v2/":
                self._send(200, b"{}")
            elif path == "/v2/_catalog":
                self._send(200, json.dumps({"repositories": ["bad/garbage", "bad/short"]}).encode())
            elif path.endswith("/tags/list") and repository:
                self._send(200, json.dumps({"name": repository, "tags": ["1.0"]}).encode())
            elif "/manifests/" in path and path.rsplit("/", 1)[1] in ("1.0", image.digest):
                self._send(200, manifest, image.media_type, digest=image.digest)
            elif path.endswith(layer_digest) and repository == "bad/short":
                self._send(200, layer[: len(layer) // 2], "application/octet-stream", length=len(layer))
            elif path.endswith(layer_digest):
                self._send(200, os.urandom(len(layer)), "application/octet-stream")
            elif "/blobs/" in path and path.rsplit("/", 1)[1] in blobs:
                self._send(200, blobs[path.rsplit("/", 1)[1]], "application/octet-stream")
            else:
                self._send(404, b'{"errors": [{"code": "NOT_FOUND", "message": "not found"}]}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", image, asked
    server.shutdown()


def test_a_truncated_or_garbage_blob_fails_the_task_and_is_never_stored(api, local, broken):
    url, image, asked = broken
    layer_digest = "sha256:" + hashlib.sha256(image.blobs[1]).hexdigest()
    registry_id = _id(api.post("/registries", json={"name": "broken", "type": "docker-registry", "url": url}))
    policy_id = _id(api.post("/replication/policies", json=_pull_policy(
        registry_id, "from-broken", filters=[{"type": "name", "value": "bad/{short,garbage,absent}"}])))
    execution = _run(api, policy_id)
    assert execution["status"] == "Failed" and execution["failed"] == 2, execution
    logs = _logs(api, execution["id"])
    short, garbage = logs["bad/short:[1.0]"], logs["bad/garbage:[1.0]"]
    assert f"failed: blob {layer_digest}: the transfer broke after" in short and "the blob is not stored" in short
    assert f"failed: blob {layer_digest}: the source sent content that does not match its descriptor" in garbage
    assert "the blob is not stored" in garbage
    with V2(local.url, auth=local.auth) as here:
        for repository in ("bad/short", "bad/garbage"):
            assert here.get_manifest(repository, "1.0").status_code == 404
            assert here.http.head(f"/v2/{repository}/blobs/{layer_digest}").status_code == 404
    stored = [p for p in Path(local.data_dir).rglob("*") if layer_digest.split(":")[1] in str(p)]
    assert stored == []
    # the name filter names its repositories: they are asked for, the catalog is not (as Harbor does)
    assert "/v2/_catalog" not in asked and "/v2/bad/absent/tags/list" in asked


def test_push_with_copy_by_chunk_and_a_label_filter_to_docker_registry(api, local, peer, peer_id):
    shipped, kept = build_image(seed=8231), build_image(seed=8232, layers=1)
    with V2(local.url, auth=local.auth) as here:
        here.push_image("src/app", shipped, "1.0")
        here.push_image("src/app", kept, "2.0")
    label = _id(api.post("/labels", json={"name": "ship", "scope": "g"}))
    assert api.post("/projects/src/repositories/app/artifacts/1.0/labels", json={"id": label}).status_code == 200
    policy_id = _id(api.post("/replication/policies", json={
        "name": "chunked-push", "dest_registry": {"id": peer_id}, "enabled": True, "copy_by_chunk": True,
        "dest_namespace": "chunked", "filters": [{"type": "label", "value": ["ship"]}]}))
    execution = _run(api, policy_id)
    assert execution["status"] == "Succeed", (execution, _logs(api, execution["id"]))
    log = _logs(api, execution["id"])["chunked/app:[1.0]"]
    big = max(shipped.blobs, key=len)
    assert f"pushed ({len(big)} bytes in {-(-len(big) // CHUNK)} request(s) of at most {CHUNK} bytes)" in log
    with V2(peer.url) as target:
        assert target.get_manifest("chunked/app", "1.0").headers["Docker-Content-Digest"] == shipped.digest
        for blob in shipped.blobs:
            assert target.http.get(f"/v2/chunked/app/blobs/sha256:{hashlib.sha256(blob).hexdigest()}").content == blob
        assert target.get_manifest("chunked/app", "2.0").status_code == 404


def test_label_and_resource_filters_are_harbors():
    policy = Policy(name="p", dest_registry_id=1, filters=parse_filters([
        {"type": "label", "value": ["prod", "eu"]}, {"type": "resource", "value": "image"}]))
    assert policy.takes_labels({"prod", "eu", "x"}) and not policy.takes_labels({"prod"})
    assert policy.takes_kind("IMAGE") and not policy.takes_kind("CHART")
    excluding = Policy(name="p", dest_registry_id=1, filters=parse_filters([
        {"type": "label", "value": ["prod", "eu"], "decoration": "excludes"}]))
    assert excluding.takes_labels({"prod"}) and not excluding.takes_labels({"prod", "eu"})
    assert load_policy(excluding.as_json()) == excluding


# --- a harbor destination's projects, untagged artifacts, Harbor's project listing shortcut ----------------


def test_push_to_harbor_creates_the_destination_project_and_copies_untagged_artifacts(api, local, remote, remote_id):
    tagged, loose = build_image(seed=8241, layers=1), build_image(seed=8242, layers=1)
    with V2(local.url, auth=local.auth) as here:
        here.push_image("src/app", tagged, "p1")
        here.push_image("src/app", loose)  # by digest: an untagged artifact
    assert api.put("/projects/src", json={"metadata": {"public": "true"}}).status_code == 200
    with httpx.Client(base_url=remote.url + API, auth=remote.auth, timeout=30.0) as there:
        assert there.get("/projects/shipped").status_code == 404
        policy_id = _id(api.post("/replication/policies", json={
            "name": "to-harbor", "dest_registry": {"id": remote_id}, "enabled": True, "dest_namespace": "shipped",
            "filters": [{"type": "name", "value": "src/app"}]}))
        execution = _run(api, policy_id)
        assert execution["status"] == "Succeed", (execution, _logs(api, execution["id"]))
        logs = _logs(api, execution["id"])
        assert "shipped/app:[]" in logs and "shipped/app:[p1]" in logs
        assert f"untagged {loose.digest} copied by digest" in logs["shipped/app:[]"]
        # Harbor's PrepareForPush: created through the API, public as the source project is
        project = there.get("/projects/shipped")
        assert project.status_code == 200 and project.json()["metadata"]["public"] == "true"
        untagged = there.get("/projects/shipped/repositories/app/artifacts", params={"q": "tags=nil"}).json()
        assert [a["digest"] for a in untagged] == [loose.digest]
    with V2(remote.url, auth=remote.auth) as v2:
        assert v2.get_manifest("shipped/app", "p1").headers["Docker-Content-Digest"] == tagged.digest
        assert v2.get_manifest("shipped/app", loose.digest).content == loose.manifest

    # Harbor's tag filter on an untagged artifact: a pattern that cannot match the empty tag leaves it out
    assert api.put(f"/replication/policies/{policy_id}", json={
        "name": "to-harbor", "dest_registry": {"id": remote_id}, "enabled": True, "dest_namespace": "shipped",
        "filters": [{"type": "name", "value": "src/app"}, {"type": "tag", "value": "p*"}]}).status_code == 200
    again = _run(api, policy_id)
    assert again["status"] == "Succeed" and list(_logs(api, again["id"])) == ["shipped/app:[p1]"]
    assert "created on the destination" not in "".join(_logs(api, again["id"]).values())

    # an event-based task prepares its destination project itself (no launch task runs before it)
    live = _id(api.post("/replication/policies", json={
        "name": "to-harbor-on-push", "dest_registry": {"id": remote_id}, "enabled": True,
        "dest_namespace": "evented", "trigger": {"type": "event_based"}, "filters": [{"type": "name", "value": "src/live"}]}))
    with V2(local.url, auth=local.auth) as here:
        here.push_image("src/live", tagged, "1.0")
    deadline = time.monotonic() + 30
    while not (ended := [e for e in api.get("/replication/executions", params={"policy_id": live}).json()
                         if e["status"] != "InProgress"]):
        assert time.monotonic() < deadline, "the push's execution did not end"
        time.sleep(0.1)
    assert ended[0]["status"] == "Succeed", _logs(api, ended[0]["id"])
    assert "project evented created on the destination (public)" in _logs(api, ended[0]["id"])["evented/live:[1.0]"]
    with V2(remote.url, auth=remote.auth) as v2:
        assert v2.get_manifest("evented/live", "1.0").headers["Docker-Content-Digest"] == tagged.digest
    assert api.delete(f"/replication/policies/{live}").status_code == 200


def test_pull_from_harbor_lists_only_the_named_project_and_takes_untagged_artifacts(api, local, remote, remote_id):
    kept, loose, elsewhere = (build_image(seed=seed, layers=1) for seed in (8251, 8252, 8253))
    remote.create_project("crew", "other")
    with V2(remote.url, auth=remote.auth) as v2:
        v2.push_image("crew/loose", kept, "1.0")
        v2.push_image("crew/loose", loose)
        v2.push_image("other/thing", elsewhere, "1.0")
    policy_id = _id(api.post("/replication/policies", json=_pull_policy(
        remote_id, "crew-only", dest_namespace="crewcopy", filters=[{"type": "name", "value": "crew/lo*"}])))
    mark = len(remote.log())
    execution = _run(api, policy_id)
    assert execution["status"] == "Succeed", (execution, _logs(api, execution["id"]))
    logs = _logs(api, execution["id"])
    assert sorted(logs) == ["crewcopy/loose:[1.0]", "crewcopy/loose:[]"]
    assert f"untagged {loose.digest} copied by digest" in logs["crewcopy/loose:[]"]
    with V2(local.url, auth=local.auth) as here:
        assert here.get_manifest("crewcopy/loose", "1.0").headers["Docker-Content-Digest"] == kept.digest
        assert here.get_manifest("crewcopy/loose", loose.digest).content == loose.manifest
    # the name filter's first component names the project: only its repositories were listed
    deadline = time.monotonic() + 10
    while "/api/v2.0/projects/crew/repositories" not in remote.log()[mark:] and time.monotonic() < deadline:
        time.sleep(0.1)  # the access log is written in batches
    asked = remote.log()[mark:]
    assert "/api/v2.0/projects/crew/repositories" in asked
    assert "/api/v2.0/projects/other/repositories" not in asked and "/api/v2.0/projects/team/" not in asked


@pytest.mark.parametrize(("tag_filter", "untagged_taken"), [
    (None, True), ({"value": "**"}, True), ({"value": "*"}, True), ({"value": "{,v*}"}, True),
    ({"value": "v*"}, False), ({"value": "v*", "decoration": "excludes"}, True),
    ({"value": "**", "decoration": "excludes"}, False),
])
def test_untagged_artifacts_follow_harbors_tag_filter(tag_filter, untagged_taken):
    policy = Policy(name="p", dest_registry_id=1, filters=parse_filters(
        [{"type": "tag", **tag_filter}] if tag_filter else []))
    assert (policy.selected_tags(()) == []) is untagged_taken
    assert policy.selected_tags(()) in ([], None)


def test_a_tagged_artifact_goes_with_the_tags_the_filter_takes():
    matching = Policy(name="p", dest_registry_id=1, filters=parse_filters([{"type": "tag", "value": "v*"}]))
    assert matching.selected_tags(("v1", "latest")) == ["v1"] and matching.selected_tags(("latest",)) is None
    excluding = Policy(name="p", dest_registry_id=1, filters=parse_filters(
        [{"type": "tag", "value": "v*", "decoration": "excludes"}]))
    assert excluding.selected_tags(("v1", "latest")) == ["latest"] and excluding.selected_tags(("v1",)) is None


def test_harbors_project_shortcut_reads_the_first_component():
    assert named_projects("team/**") == ["team"] and named_projects("{a, b}/x*") == ["a", "b"]
    assert named_projects("te*/app") is None and named_projects("**") is None and named_projects("") is None
    assert destination_projects([("pub/a", "n/a"), ("priv/b", "n/b"), ("pub/c", "m/c")],
                                {"pub": True, "priv": False}) == {"n": False, "m": True}
