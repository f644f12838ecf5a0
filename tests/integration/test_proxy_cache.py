"""Proxy-cache projects against the Debian docker-registry as upstream, skopeo as the client: the first
pull fetches, the second is local (the upstream's log shows no blob fetch), a moved tag is seen, the
cache serves when the upstream is down, pushes are refused, a bad upstream blob is never kept, and
mirror mode serves pulls without a project prefix. Everything on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from berth.references import parse_digest
from berth.storage import paths
from tests.conftest import Server, start_berth, start_peer

from .helpers import (
    OCI_INDEX,
    V2,
    build_artifact,
    build_image,
    canonical_json,
    descriptor,
    next_link,
    sha256,
    write_oci_layout,
)
from .test_skopeo import copy, run_skopeo

API = "/api/v2.0"
MIRROR = "hub"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Iterator[Server]:
    server = start_peer(tmp_path_factory.mktemp("upstream"), log_level="info")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("proxy") / "data", projects=("team",), env={
        "BERTH_MIRROR_PROJECTS": json.dumps({"*": MIRROR}), "BERTH_METRIC_ENABLED": "true",
        "BERTH_PULL_COUNT_FLUSH_SECONDS": "0.2",
    })
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(proxy: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url + API, auth=proxy.auth, timeout=60.0) as client:
        yield client


def _registry(api: httpx.Client, name: str, url: str) -> int:
    response = api.post("/registries", json={"name": name, "type": "docker-registry", "url": url})
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _proxy_project(api: httpx.Client, name: str, registry_id: int, **metadata: str) -> None:
    response = api.post("/projects", json={"project_name": name, "registry_id": registry_id,
                                           "metadata": {"public": "true", **metadata}})
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def cache(api, upstream) -> str:
    """A proxy project over the upstream (also the mirror's project)."""
    _proxy_project(api, MIRROR, _registry(api, "upstream", upstream.url))
    return MIRROR


def _push_upstream(skopeo: str, upstream: Server, tmp: Path, seed: int, reference: str) -> str:
    image = build_image(seed=seed, layers=2)
    layout = write_oci_layout(tmp / f"layout-{seed}", {"v": image})
    copy(skopeo, f"oci:{layout}:v", f"docker://{upstream.host}/{reference}", tmp)
    return image.digest


def _pull(skopeo: str, proxy: Server, reference: str, tmp: Path) -> str:
    """Pull through berth into an OCI layout; the manifest digest skopeo got."""
    out = tmp / f"out-{len(list(tmp.iterdir()))}"
    copy(skopeo, f"docker://{proxy.host}/{reference}", f"oci:{out}:x", tmp)
    index = json.loads((out / "index.json").read_text())
    return index["manifests"][0]["digest"]


def _cached(proxy: Server, project: str, repository: str, digest: str) -> dict:
    """The artifact the cache stored for `digest` (polled: the pull that fetched it may still be ending)."""
    url = f"{proxy.url}{API}/projects/{project}/repositories/{repository.replace('/', '%252F')}/artifacts/{digest}"
    deadline = time.monotonic() + 10
    while (response := httpx.get(url, auth=proxy.auth, timeout=30)).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)
    return response.json()


def _blob_fetches(upstream: Server) -> int:
    return len(re.findall(r'http\.request\.method=GET .*?http\.request\.uri="/v2/[^"]+/blobs/sha256:', upstream.log()))


def test_proxy_project_rules_as_harbor_has_them(api, cache, proxy):
    project = api.get(f"/projects/{cache}").json()
    assert project["registry_id"] > 0
    policy = api.get(f"/retentions/{project['metadata']['retention_id']}").json()
    rule = policy["rules"][0]
    assert rule["template"] == "nDaysSinceLastPull" and rule["params"] == {"nDaysSinceLastPull": 7}
    assert policy["trigger"]["settings"]["cron"] == "0 0 0 * * *"
    for registry_id, message in ((0, "0 is invalid value of registry_id"), (999999, "registry 999999 not found")):
        refused = api.post("/projects", json={"project_name": "nope", "registry_id": registry_id})
        assert refused.status_code == 400 and message in refused.json()["errors"][0]["message"]
    in_use = api.delete(f"/registries/{project['registry_id']}")
    assert in_use.status_code == 412
    assert in_use.json()["errors"][0]["message"] == (
        f"the registry {project['registry_id']} is referenced by proxy cache project, cannot delete it")
    user = {"username": "proxyuser", "password": "Passw0rd!x", "email": "p@example.com", "realname": "p"}
    assert api.post("/users", json=user).status_code == 201
    with httpx.Client(base_url=proxy.url + API, auth=("proxyuser", "Passw0rd!x")) as client:
        forbidden = client.post("/projects", json={"project_name": "mine", "registry_id": project["registry_id"]})
    assert forbidden.status_code == 403
    assert forbidden.json()["errors"][0]["message"] == "Only system admin can create proxy cache project"


def test_first_pull_fetches_the_second_is_local_and_a_moved_tag_is_seen(skopeo, proxy, upstream, cache, tmp_path):
    first = _push_upstream(skopeo, upstream, tmp_path, 71, "team/app:v1")
    before = _blob_fetches(upstream)
    assert _pull(skopeo, proxy, f"{cache}/team/app:v1", tmp_path) == first
    assert _blob_fetches(upstream) == before + 3  # config and two layers
    # the cached artifact gets a pull time (Harbor's retention for proxy projects keeps what was pulled)
    deadline = time.monotonic() + 10
    while _cached(proxy, cache, "team/app", first)["pull_time"].startswith("0001"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _pull(skopeo, proxy, f"{cache}/team/app:v1", tmp_path) == first
    assert _blob_fetches(upstream) == before + 3  # all local: only the tag was revalidated
    # the tag moves upstream: the next pull revalidates and gets the new image
    second = _push_upstream(skopeo, upstream, tmp_path, 72, "team/app:v1")
    assert _pull(skopeo, proxy, f"{cache}/team/app:v1", tmp_path) == second


def test_the_cache_serves_when_the_upstream_is_down(skopeo, api, proxy, tmp_path):
    peer = start_peer(tmp_path / "down")
    try:
        _proxy_project(api, "downstream", _registry(api, "down", peer.url))
        digest = _push_upstream(skopeo, peer, tmp_path, 73, "lib/tool:1.0")
        assert _pull(skopeo, proxy, "downstream/lib/tool:1.0", tmp_path) == digest
        _cached(proxy, "downstream", "lib/tool", digest)
    finally:
        peer.stop()
    assert _pull(skopeo, proxy, "downstream/lib/tool:1.0", tmp_path) == digest
    assert "proxy cache serves its cached copy" in proxy.log()
    never_cached = httpx.get(f"{proxy.url}/v2/downstream/lib/other/manifests/1.0", auth=proxy.auth, timeout=30)
    assert never_cached.status_code == 503 and never_cached.json()["errors"][0]["code"] == "UNAVAILABLE"
    metrics = httpx.get(f"{proxy.url}/metrics", timeout=30).text
    assert re.search(r'berth_proxy_cache_stale_served_total\{reason="unreachable"\} [1-9]', metrics)


def test_pushes_and_deletes_in_a_proxy_project_are_refused(skopeo, proxy, cache, tmp_path):
    layout = write_oci_layout(tmp_path / "layout", {"v": build_image(seed=74, layers=1)})
    command_error = None
    try:
        copy(skopeo, f"oci:{layout}:v", f"docker://{proxy.host}/{cache}/team/pushed:v", tmp_path)
    except AssertionError as exc:
        command_error = str(exc)
    assert command_error is not None and "can not push artifact to a proxy project" in command_error
    upload = httpx.post(f"{proxy.url}/v2/{cache}/team/pushed/blobs/uploads/", auth=proxy.auth, timeout=30)
    assert upload.status_code == 403
    assert upload.json()["errors"][0] == {
        "code": "DENIED", "message": f"can not push artifact to a proxy project: {cache}/team/pushed"}
    deleted = httpx.delete(f"{proxy.url}/v2/{cache}/team/app/manifests/v1", auth=proxy.auth, timeout=30)
    assert deleted.status_code == 403 and deleted.json()["errors"][0]["code"] == "DENIED"


class _BrokenUpstream(http.server.BaseHTTPRequestHandler):
    """A registry whose blobs are wrong: `good` is served whole, `garbage` with other bytes of the same
    length, `tail` with only its last bytes wrong, `cut` stops half way; `slow` is served whole, its
    second half once `release` is set; `moved` is redirected elsewhere (as to a CDN). `gets` counts
    the GETs of each blob."""

    blobs: dict[str, tuple[bytes, str]] = {}
    gets: dict[str, int] = {}
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path.rstrip("/") == "/v2":
            return self._send(200, b"{}", {"Docker-Distribution-API-Version": "registry/2.0"}, body)
        digest = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/cdn/") and digest in self.blobs:  # where `moved` blobs are
            return self._send(200, self.blobs[digest][0], {}, body)
        if "/blobs/" in self.path and digest in self.blobs:
            data, mode = self.blobs[digest]
            if mode == "moved":
                return self._send(307, b"", {"Location": f"/cdn/{digest}"}, body)
            if body:
                self.gets[digest] = self.gets.get(digest, 0) + 1
            if mode == "garbage":
                data = bytes(len(data))
            if mode == "tail":
                data = data[:-8] + bytes(8)
            if mode in ("cut", "slow") and body:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if mode == "slow":
                    self.release.wait(30)
                    self.wfile.write(data[len(data) // 2:])
                self.close_connection = True
                return
            return self._send(200, data, {"Docker-Content-Digest": digest}, body)
        self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}', {}, body)

    def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def broken(api) -> Iterator[str]:
    """A proxy project over a _BrokenUpstream."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _proxy_project(api, "broken", _registry(api, "broken", f"http://127.0.0.1:{server.server_port}"))
    yield "broken"
    server.shutdown()


def _stored(proxy: Server, digest: str) -> Path:
    return proxy.data_dir / "storage" / paths.blob_path(parse_digest(digest))


def test_a_wrong_or_truncated_upstream_blob_is_never_stored_nor_served_whole(proxy, broken):
    # the tail one is larger than what the cache holds back until the digest is checked (1 MiB): its
    # client gets most bytes, never the last ones
    payloads = {mode: (mode.encode() * 300_000) for mode in ("good", "moved", "garbage", "cut", "tail")}
    _BrokenUpstream.blobs = {sha256(data): (data, mode) for mode, data in payloads.items()}
    for mode, data in payloads.items():
        digest = sha256(data)
        url = f"{proxy.url}/v2/{broken}/x/blobs/{digest}"
        for _ in range(2):  # a refused blob is fetched (and refused) again, never served from the cache
            try:
                received = httpx.get(url, auth=proxy.auth, timeout=30).content
            except httpx.HTTPError:
                received = None
            assert (received == data) if mode in ("good", "moved") else (received is None), mode
        if mode in ("good", "moved"):  # stored once the client has it
            deadline = time.monotonic() + 10
            while not _stored(proxy, digest).exists():
                assert time.monotonic() < deadline
                time.sleep(0.05)
        else:
            assert not _stored(proxy, digest).exists(), mode
    deadline = time.monotonic() + 10  # no refused bytes left behind (removed as their fetch ends)
    while list((proxy.data_dir / "storage" / "tmp").iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_concurrent_pulls_of_a_blob_fetch_it_once(proxy, broken, api):
    data = b"slow" * 400_000
    digest = sha256(data)
    _BrokenUpstream.blobs = {digest: (data, "slow")}
    _BrokenUpstream.gets.clear()
    _BrokenUpstream.release.clear()
    urls = [f"{proxy.url}/v2/{broken}/{repository}/blobs/{digest}" for repository in ("y", "y", "z")]
    with contextlib.ExitStack() as stack:
        # all answered while the upstream still holds back the second half: one fetch, three clients
        # (two of them in another repository of the project)
        pulls = [stack.enter_context(stack.enter_context(httpx.Client(auth=proxy.auth, timeout=30)).stream(
            "GET", url)) for url in urls]
        assert [pull.status_code for pull in pulls] == [200, 200, 200]
        _BrokenUpstream.release.set()
        assert all(pull.read() == data for pull in pulls)
    assert _BrokenUpstream.gets == {digest: 1}
    deadline = time.monotonic() + 10  # stored and linked into both repositories once the clients have it
    while api.get(f"/projects/{broken}/repositories/z").status_code != 200 or not _stored(proxy, digest).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert all(httpx.get(url, auth=proxy.auth, timeout=30).content == data for url in urls)
    assert _BrokenUpstream.gets == {digest: 1}


def test_an_object_store_keeps_a_good_upstream_blob_and_refuses_a_bad_one(tmp_path):
    """Without local files (no spool to follow) the blob is relayed through an upload: the same promises."""
    proxy = start_berth(tmp_path / "data", env={"BERTH_STORAGE_DRIVER": "objectstore",
                                                "BERTH_STORAGE_OPTIONS": json.dumps({"url": "memory://"})})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(base_url=proxy.url + API, auth=proxy.auth, timeout=60.0) as api:
            _proxy_project(api, "relayed", _registry(api, "relayed", f"http://127.0.0.1:{server.server_port}"))
        payloads = {mode: (mode.encode() * 300_000) for mode in ("good", "tail")}
        _BrokenUpstream.blobs = {sha256(data): (data, mode) for mode, data in payloads.items()}
        _BrokenUpstream.gets.clear()
        for mode, data in payloads.items():
            url = f"{proxy.url}/v2/relayed/x/blobs/{sha256(data)}"
            for _ in range(2):
                try:
                    received = httpx.get(url, auth=proxy.auth, timeout=30).content
                except httpx.HTTPError:
                    received = None
                assert (received == data) if mode == "good" else (received is None), mode
        # the good one was fetched once (then stored), the bad one every time
        assert _BrokenUpstream.gets == {sha256(payloads["good"]): 1, sha256(payloads["tail"]): 2}
    finally:
        server.shutdown()
        proxy.stop()


def test_mirror_mode_serves_pulls_without_a_project_prefix(skopeo, proxy, upstream, cache, tmp_path):
    digest = _push_upstream(skopeo, upstream, tmp_path, 75, "mirrored/base:3")
    copy(skopeo, f"docker://{upstream.host}/mirrored/base:3", f"docker://{upstream.host}/team/base:3", tmp_path,
         "--preserve-digests")
    # no project `mirrored` in berth: the pull goes through the mirror's proxy project
    assert _pull(skopeo, proxy, "mirrored/base:3", tmp_path) == digest
    # `team` is a project without that repository: the mirror serves it too
    assert _pull(skopeo, proxy, "team/base:3", tmp_path) == digest
    # containerd names the upstream it mirrors (`ns`): the mirror serves, whatever berth holds
    response = httpx.get(f"{proxy.url}/v2/team/base/manifests/3", params={"ns": "registry.example"},
                         auth=proxy.auth, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=30)
    assert response.status_code == 200 and response.headers["Docker-Content-Digest"] == digest
    raw = run_skopeo(skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{proxy.host}/{cache}/mirrored/base:3",
                     tmp=tmp_path)
    assert sha256(raw.encode()) == digest


# --- referrers (Harbor's proxy_referrer_api) ------------------------------------------------------------


def _digests(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(OCI_INDEX)
    return [m["digest"] for m in response.json()["manifests"]]


def test_referrers_are_asked_of_the_upstream_when_the_project_proxies_them(api, proxy):
    subject = build_image(seed=75, layers=1)
    sbom = build_artifact(b'{"spdxVersion": "SPDX-2.3"}', subject=subject)
    signature = build_artifact(b"signature", subject=subject, artifact_type="application/vnd.example.sig")
    with V2(proxy.url, auth=proxy.auth) as v2:
        v2.push_image("team/signed", subject, "1.0")
        v2.push_image("team/signed", sbom)
        v2.push_image("team/signed", signature)
    # berth as its own upstream: a registry with the referrers API (and a private project, so a credential)
    response = api.post("/registries", json={"name": "itself", "type": "docker-registry", "url": proxy.url,
                                             "credential": {"type": "basic", "access_key": "admin",
                                                            "access_secret": proxy.admin_password}})
    assert response.status_code == 201, response.text
    itself = int(response.headers["Location"].rsplit("/", 1)[1])
    _proxy_project(api, "refproxy", itself, proxy_referrer_api="true")
    _proxy_project(api, "reflocal", itself)
    path = f"/v2/refproxy/team/signed/referrers/{subject.digest}"
    with V2(proxy.url, auth=proxy.auth) as v2:
        assert sorted(_digests(v2.http.get(path))) == sorted([sbom.digest, signature.digest])
        filtered = v2.http.get(path, params={"artifactType": "application/vnd.example.sig"})
        assert _digests(filtered) == [signature.digest] and filtered.headers["OCI-Filters-Applied"] == "artifactType"
        # the upstream's pages, with a Link to the next one here
        first = v2.http.get(path, params={"n": "1"})
        assert len(_digests(first)) == 1 and first.headers["Link"].startswith(f"<{path}?")
        second = v2.http.get(next_link(first))
        assert sorted(_digests(first) + _digests(second)) == sorted([sbom.digest, signature.digest])
        # Harbor's default (proxy_referrer_api unset): the referrers the cache holds, none yet
        assert _digests(v2.http.get(f"/v2/reflocal/team/signed/referrers/{subject.digest}")) == []


def test_referrers_through_the_tag_schema_are_remembered_when_the_upstream_is_down(api, proxy, tmp_path):
    subject, lonely = build_image(seed=76, layers=1), build_image(seed=77, layers=1)
    sbom = build_artifact(b'{"spdxVersion": "SPDX-2.3"}', subject=subject)
    peer = start_peer(tmp_path / "referrers")
    path = f"/v2/refcache/lib/app/referrers/{subject.digest}"
    try:
        _proxy_project(api, "refcache", _registry(api, "referrers", peer.url), proxy_referrer_api="true")
        with V2(peer.url) as upstream:
            upstream.push_image("lib/app", subject, "1.0")
            upstream.push_image("lib/app", lonely, "2.0")
            upstream.push_image("lib/app", sbom)
            # distribution 2.8 has no referrers API: the index under the tag schema's tag lists the referrer
            index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                    "manifests": [descriptor(sbom.media_type, sbom.manifest)]})
            tag = subject.digest.replace(":", "-")
            assert upstream.put_manifest("lib/app", tag, index, OCI_INDEX).status_code == 201
        with V2(proxy.url, auth=proxy.auth) as v2:
            assert _digests(v2.http.get(path)) == [sbom.digest]
            assert _digests(v2.http.get(f"/v2/refcache/lib/app/referrers/{lonely.digest}")) == []
    finally:
        peer.stop()
    with V2(proxy.url, auth=proxy.auth) as v2:
        assert _digests(v2.http.get(path)) == [sbom.digest]  # the answer remembered
        # never asked while the upstream was up: what the cache holds (nothing)
        assert _digests(v2.http.get(f"/v2/refcache/lib/app/referrers/{lonely.digest}?artifactType=x")) == []
    assert any("serves its cached copy" in line and subject.digest in line for line in proxy.log().splitlines())
