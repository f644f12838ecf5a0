"""Project storage quotas held on push, as Harbor holds them: 403 DENIED with Harbor's message when a
blob upload, mount or manifest would go over the limit, nothing stored by a refused request, each
blob counted once per project, and concurrent pushes never ending over the limit."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx

from berth.quotas import format_size
from tests.conftest import AUTH_FILE

from .helpers import V2, build_image, sha256, unique, with_query, write_oci_layout


def overflow(delta: int, used: int, hard: int) -> str:
    return (f"adding {format_size(delta)} of storage resource, which when updated to current usage of "
            f"{format_size(used)} will exceed the configured upper limit of {format_size(hard)}.")


def image_size(image) -> int:
    return sum(len(blob) for blob in image.blobs) + len(image.manifest)


def new_project(v2: V2, limit: int) -> tuple[str, int]:
    """A project with a storage limit; returns its name and its quota's id."""
    name = unique("quota")
    created = v2.http.post("/api/v2.0/projects", json={"project_name": name, "storage_limit": limit})
    assert created.status_code == 201, created.text
    project_id = int(created.headers["location"].rsplit("/", 1)[1])
    quotas = v2.http.get("/api/v2.0/quotas", params={"reference": "project", "reference_id": str(project_id)}).json()
    return name, quotas[0]["id"]


def used(v2: V2, quota_id: int) -> int:
    return v2.http.get(f"/api/v2.0/quotas/{quota_id}").json()["used"]["storage"]


def set_hard(v2: V2, quota_id: int, hard: int) -> None:
    assert v2.http.put(f"/api/v2.0/quotas/{quota_id}", json={"hard": {"storage": hard}}).status_code == 200


def upload(v2: V2, repository: str, data: bytes) -> httpx.Response:
    """POST then PUT with the whole blob: the closing PUT's response."""
    started = v2.start_upload(repository)
    assert started.status_code == 202, started.text
    return v2.http.put(with_query(started.headers["Location"], digest=sha256(data)), content=data,
                       headers={"Content-Type": "application/octet-stream"})


def assert_denied(response: httpx.Response, message: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json() == {"errors": [{"code": "DENIED", "message": message}]}


@contextmanager
def quota_enforcement(v2: V2, enabled: bool):
    """Set quota_per_project_enable for the block (the server is shared: always restored)."""
    assert v2.http.put("/api/v2.0/configurations", json={"quota_per_project_enable": enabled}).status_code == 200
    try:
        yield
    finally:
        v2.http.put("/api/v2.0/configurations", json={"quota_per_project_enable": True})


def test_a_push_that_fits_succeeds_and_a_blob_over_the_limit_is_denied_with_nothing_stored(v2):
    image = build_image(seed=301, layers=2)
    limit = image_size(image) + 1000
    project, quota_id = new_project(v2, limit)
    v2.push_image(f"{project}/app", image, "v1")
    assert used(v2, quota_id) == image_size(image)

    big = os.urandom(2000)
    refused = upload(v2, f"{project}/app", big)
    assert_denied(refused, overflow(len(big), image_size(image), limit))
    assert used(v2, quota_id) == image_size(image)
    assert v2.http.head(f"/v2/{project}/app/blobs/{sha256(big)}").status_code == 404
    # the monolithic POST ?digest= is held to the same limit
    monolithic = v2.http.post(f"/v2/{project}/app/blobs/uploads/", params={"digest": sha256(big)}, content=big)
    assert_denied(monolithic, overflow(len(big), image_size(image), limit))

    # what the project holds already costs nothing again, in any of its repositories
    v2.push_image(f"{project}/copy", image, "v1")
    assert used(v2, quota_id) == image_size(image)
    # and a blob that fits still goes in
    small = os.urandom(600)
    assert upload(v2, f"{project}/app", small).status_code == 201
    assert used(v2, quota_id) == image_size(image) + 600


def test_a_manifest_over_the_limit_is_denied_and_the_artifact_is_not_there(v2):
    image = build_image(seed=302, layers=1)
    blobs = sum(len(blob) for blob in image.blobs)
    limit = blobs + len(image.manifest) - 1
    project, quota_id = new_project(v2, limit)
    for blob in image.blobs:
        v2.push_blob(f"{project}/app", blob)
    assert used(v2, quota_id) == blobs
    refused = v2.put_manifest(f"{project}/app", "v1", image.manifest, image.media_type)
    assert_denied(refused, overflow(len(image.manifest), blobs, limit))
    assert used(v2, quota_id) == blobs
    assert v2.get_manifest(f"{project}/app", "v1").status_code == 404
    assert v2.get_manifest(f"{project}/app", image.digest).status_code == 404
    assert v2.http.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json() == []

    set_hard(v2, quota_id, limit + 1)  # exactly full is allowed
    assert v2.put_manifest(f"{project}/app", "v1", image.manifest, image.media_type).status_code == 201
    assert used(v2, quota_id) == limit + 1


def test_a_cross_repository_mount_of_a_blob_new_to_the_project_is_charged(v2):
    image = build_image(seed=303, layers=1)
    source = unique("quota-src")
    v2.create_project(source)
    v2.push_image(f"{source}/app", image, "v1")
    layer = image.blobs[-1]
    project, quota_id = new_project(v2, len(layer) - 1)
    mounted = v2.http.post(f"/v2/{project}/app/blobs/uploads/", params={"mount": sha256(layer), "from": f"{source}/app"})
    assert_denied(mounted, overflow(len(layer), 0, len(layer) - 1))
    assert v2.http.head(f"/v2/{project}/app/blobs/{sha256(layer)}").status_code == 404
    set_hard(v2, quota_id, len(layer))
    mounted = v2.http.post(f"/v2/{project}/app/blobs/uploads/", params={"mount": sha256(layer), "from": f"{source}/app"})
    assert mounted.status_code == 201
    assert used(v2, quota_id) == len(layer)
    # mounting it into a second repository of the same project is free
    again = v2.http.post(f"/v2/{project}/other/blobs/uploads/", params={"mount": sha256(layer), "from": f"{source}/app"})
    assert again.status_code == 201 and used(v2, quota_id) == len(layer)


def test_deleting_frees_room(v2):
    image = build_image(seed=304, layers=2)
    limit = image_size(image) + 1500
    project, quota_id = new_project(v2, limit)
    v2.push_image(f"{project}/app", image, "v1")
    big = os.urandom(5000)
    assert_denied(upload(v2, f"{project}/next", big), overflow(5000, image_size(image), limit))
    # a blob another repository of the project still holds frees nothing; the last one out frees it
    shared = os.urandom(700)
    assert upload(v2, f"{project}/app", shared).status_code == 201
    assert upload(v2, f"{project}/next", shared).status_code == 201
    assert used(v2, quota_id) == image_size(image) + 700
    assert v2.http.delete(f"/v2/{project}/app/blobs/{sha256(shared)}").status_code == 202
    assert used(v2, quota_id) == image_size(image) + 700
    assert v2.http.delete(f"/v2/{project}/next/blobs/{sha256(shared)}").status_code == 202
    assert used(v2, quota_id) == image_size(image)
    # deleting the artifact frees its manifest (its layers stay linked to the repository, as blobs do)
    assert v2.http.delete(f"/v2/{project}/app/manifests/{image.digest}").status_code == 202
    assert used(v2, quota_id) == image_size(image) - len(image.manifest)
    # deleting the repository frees everything only it held, and the refused push now fits
    assert v2.http.delete(f"/api/v2.0/projects/{project}/repositories/app").status_code == 200
    assert used(v2, quota_id) == 0
    assert upload(v2, f"{project}/next", big).status_code == 201
    assert used(v2, quota_id) == 5000


def test_with_quotas_disabled_pushes_go_over_and_are_refused_again_once_enabled(v2):
    image = build_image(seed=306, layers=2)
    project, quota_id = new_project(v2, 1024)
    with quota_enforcement(v2, False):
        v2.push_image(f"{project}/app", image, "v1")
        assert used(v2, quota_id) == image_size(image)  # still counted
    over = image_size(image)
    # over the limit already: even starting an upload is refused (Harbor asks for 0 bytes there)
    message = (f"subtracting 0 B of storage resource, which when updated to current usage of "
               f"{format_size(over)} will exceed the configured upper limit of 1.0 KiB.")
    assert_denied(v2.start_upload(f"{project}/app"), message)
    empty = v2.http.post(f"/v2/{project}/app/blobs/uploads/", params={"digest": sha256(b"")}, content=b"")
    assert_denied(empty, message)  # any POST but a mount, even of an empty blob
    set_hard(v2, quota_id, -1)  # unlimited
    assert upload(v2, f"{project}/app", os.urandom(5000)).status_code == 201
    assert used(v2, quota_id) == over + 5000


def test_concurrent_pushes_near_the_limit_never_end_over_it(berth):
    size, fits, pushes = 10_000, 3, 8
    with V2(berth.url, auth=berth.auth) as v2:
        project, quota_id = new_project(v2, size * fits + size // 2)
    blobs = [os.urandom(size) for _ in range(pushes)]

    def push(i: int) -> int:
        with V2(berth.url, auth=berth.auth) as client:
            return upload(client, f"{project}/r{i}", blobs[i]).status_code

    with ThreadPoolExecutor(pushes) as pool:
        codes = list(pool.map(push, range(pushes)))
    assert sorted(codes) == [201] * fits + [403] * (pushes - fits)
    with V2(berth.url, auth=berth.auth) as v2:
        assert used(v2, quota_id) == size * fits
        # the same blob pushed concurrently into several repositories is counted once
        shared = os.urandom(size // 4)

        def push_shared(i: int) -> int:
            with V2(berth.url, auth=berth.auth) as client:
                return upload(client, f"{project}/s{i}", shared).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(push_shared, range(4))) == [201] * 4
        assert used(v2, quota_id) == size * fits + size // 4


def test_skopeo_push_over_the_quota_fails_and_says_why(skopeo, berth, tmp_path):
    image = build_image(seed=307, layers=3)
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    with V2(berth.url, auth=berth.auth) as v2:
        project, quota_id = new_project(v2, image_size(image) - 1)
    command = [skopeo, "--insecure-policy", "--tmpdir", str(tmp_path), "copy", "--quiet", "--dest-tls-verify=false",
               f"oci:{layout}:v1", f"docker://{berth.host}/{project}/app:v1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)})
    assert result.returncode != 0
    print(result.stderr)
    assert "denied" in result.stderr.lower() and "will exceed the configured upper limit" in result.stderr
    with V2(berth.url, auth=berth.auth) as v2:
        assert used(v2, quota_id) < image_size(image)
        assert v2.get_manifest(f"{project}/app", "v1").status_code == 404
        set_hard(v2, quota_id, image_size(image))
    subprocess.run(command, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)})
    with V2(berth.url, auth=berth.auth) as v2:
        assert used(v2, quota_id) == image_size(image)
        assert v2.get_manifest(f"{project}/app", "v1").status_code == 200


def test_copying_an_artifact_into_a_project_is_held_to_its_quota(v2):
    image = build_image(seed=308, layers=2)
    source = unique("quota-src")
    v2.create_project(source)
    v2.push_image(f"{source}/app", image, "v1")
    project, quota_id = new_project(v2, image_size(image) - 1)
    copied = v2.http.post(f"/api/v2.0/projects/{project}/repositories/mirror/artifacts",
                          params={"from": f"{source}/app:v1"})
    assert copied.status_code == 403, copied.text
    [error] = copied.json()["errors"]
    assert error["code"] == "DENIED" and "will exceed the configured upper limit of" in error["message"]
    assert v2.get_manifest(f"{project}/mirror", "v1").status_code == 404
    assert used(v2, quota_id) == 0  # refused before anything was linked
    set_hard(v2, quota_id, image_size(image))
    copied = v2.http.post(f"/api/v2.0/projects/{project}/repositories/mirror/artifacts",
                          params={"from": f"{source}/app:v1"})
    assert copied.status_code == 201, copied.text
    assert used(v2, quota_id) == image_size(image)
