"""skopeo against berth: OCI layouts in and out, berth to berth, multi-platform indexes with --all."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import AUTH_FILE

from .helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    V2,
    build_image,
    build_index,
    layout_blob,
    read_oci_layout,
    sha256,
    unique,
    write_oci_layout,
)


def run_skopeo(skopeo: str, *args: str, tmp: Path) -> str:
    command = [skopeo, "--insecure-policy", "--tmpdir", str(tmp), *args]
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return result.stdout


def copy(skopeo: str, source: str, dest: str, tmp: Path, *extra: str) -> None:
    run_skopeo(
        skopeo, "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, source, dest, tmp=tmp
    )


def inspect(skopeo: str, ref: str, tmp: Path, *extra: str) -> dict:
    return json.loads(run_skopeo(skopeo, "inspect", "--tls-verify=false", *extra, ref, tmp=tmp))


def test_skopeo_round_trips_a_multi_layer_oci_image_with_identical_digests(skopeo, berth, start_server, tmp_path):
    image = build_image(seed=11, layers=4)
    source = write_oci_layout(tmp_path / "source", {"v1": image})
    name = unique("library/app")
    ref = f"docker://{berth.host}/{name}:1"

    copy(skopeo, f"oci:{source}:v1", ref, tmp_path)

    details = inspect(skopeo, ref, tmp_path)
    assert details["Digest"] == image.digest
    assert details["Layers"] == image.layer_digests
    assert details["Architecture"] == "amd64" and details["Os"] == "linux"
    raw = run_skopeo(skopeo, "inspect", "--raw", "--tls-verify=false", ref, tmp=tmp_path)
    assert raw.encode() == image.manifest, "the registry must serve the manifest's exact bytes"

    # back out to a fresh OCI layout: same manifest, same blobs
    out = tmp_path / "out"
    copy(skopeo, ref, f"oci:{out}:copied", tmp_path)
    entry, manifest = read_oci_layout(out, "copied")
    assert entry["digest"] == image.digest and entry["mediaType"] == OCI_MANIFEST
    assert manifest == image.manifest
    for blob in image.blobs:
        assert layout_blob(out, sha256(blob)) == blob

    # berth to berth
    other = start_server()
    other_ref = f"docker://{other.host}/mirror/{name}:1"
    copy(skopeo, ref, other_ref, tmp_path)
    assert inspect(skopeo, other_ref, tmp_path)["Digest"] == image.digest
    with V2(other.url, auth=other.auth) as client:
        response = client.get_manifest(f"mirror/{name}", "1")
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == image.digest
        assert response.content == image.manifest
        for blob in image.blobs:
            pulled = client.http.get(f"/v2/mirror/{name}/blobs/{sha256(blob)}")
            assert pulled.status_code == 200 and pulled.content == blob


def test_skopeo_copy_all_pushes_a_two_platform_index_and_each_platform_is_fetchable_by_digest(
    skopeo, berth, v2, tmp_path
):
    amd64 = build_image(seed=21, layers=2, architecture="amd64")
    arm64 = build_image(seed=22, layers=3, architecture="arm64")
    index = build_index([amd64, arm64], [("linux", "amd64"), ("linux", "arm64")])
    source = write_oci_layout(tmp_path / "source", {"multi": index})
    name = unique("library/multi")
    ref = f"docker://{berth.host}/{name}:1"

    copy(skopeo, f"oci:{source}:multi", ref, tmp_path, "--all")

    top = v2.get_manifest(name, "1")
    assert top.status_code == 200
    assert top.headers["Content-Type"] == OCI_INDEX
    assert top.headers["Docker-Content-Digest"] == index.digest
    assert top.content == index.manifest
    for child, arch in ((amd64, "amd64"), (arm64, "arm64")):
        response = v2.get_manifest(name, child.digest)
        assert response.status_code == 200
        assert response.content == child.manifest
        assert response.headers["Docker-Content-Digest"] == child.digest
        # skopeo resolves the platform through the index to this child (Digest names the index it started from)
        details = inspect(skopeo, ref, tmp_path, "--override-arch", arch, "--override-os", "linux")
        assert details["Digest"] == index.digest
        assert details["Architecture"] == arch and details["Layers"] == child.layer_digests
        # and a pull by digest brings the child with all of its blobs
        out = tmp_path / f"out-{arch}"
        copy(skopeo, f"docker://{berth.host}/{name}@{child.digest}", f"oci:{out}:{arch}", tmp_path)
        entry, manifest = read_oci_layout(out, arch)
        assert entry["digest"] == child.digest and manifest == child.manifest
        for blob in child.blobs:
            assert layout_blob(out, sha256(blob)) == blob

    # the whole index comes back out identical
    out = tmp_path / "out-all"
    copy(skopeo, ref, f"oci:{out}:all", tmp_path, "--all")
    entry, manifest = read_oci_layout(out, "all")
    assert entry["digest"] == index.digest and manifest == index.manifest


def test_skopeo_converts_to_docker_schema2_on_push_and_berth_keeps_the_docker_media_type(skopeo, berth, v2, tmp_path):
    image = build_image(seed=31, layers=1)
    source = write_oci_layout(tmp_path / "source", {"v1": image})
    name = unique("library/docker")
    copy(skopeo, f"oci:{source}:v1", f"docker://{berth.host}/{name}:v1", tmp_path, "--format", "v2s2")

    response = v2.get_manifest(name, "v1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert response.json()["mediaType"] == response.headers["Content-Type"]
    assert response.headers["Docker-Content-Digest"] == sha256(response.content)
    details = inspect(skopeo, f"docker://{berth.host}/{name}:v1", tmp_path)
    assert details["Layers"] == image.layer_digests
