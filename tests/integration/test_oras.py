"""oras (the Python client) against berth: non-image artifacts, subjects and the referrers API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import oras.client
import oras.oci
import pytest

from .helpers import OCI_INDEX, OCI_MANIFEST, build_artifact, build_image, error_codes, sha256, unique

SBOM_CONFIG_TYPE = "application/vnd.example.sbom.config.v1+json"
SBOM_LAYER_TYPE = "application/spdx+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"


@pytest.fixture
def oras_client(berth) -> oras.client.OrasClient:
    client = oras.client.OrasClient(hostname=berth.host, insecure=True)
    client.auth.set_basic_auth(*berth.auth)
    return client


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """oras only pushes files below the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sbom_file(workdir: Path, seed: int) -> Path:
    document = {
        "spdxVersion": "SPDX-2.3",
        "name": f"app-{seed}",
        "packages": [{"name": f"pkg{i}", "versionInfo": f"1.{seed}.{i}"} for i in range(50)],
    }
    path = workdir / f"sbom-{seed}.spdx.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def config_file(workdir: Path) -> Path:
    path = workdir / "sbom-config.json"
    path.write_text('{"tool":"berth-tests"}')
    return path


def test_oras_pushes_and_pulls_a_non_image_artifact_byte_for_byte(oras_client, berth, v2, workdir):
    name = unique("artifacts/sbom")
    sbom = sbom_file(workdir, 1)
    config = config_file(workdir)
    target = f"{berth.host}/{name}:v1"

    response = oras_client.push(
        target,
        files=[f"{sbom.name}:{SBOM_LAYER_TYPE}"],
        manifest_config=f"{config.name}:{SBOM_CONFIG_TYPE}",
        manifest_annotations={"org.example.kind": "sbom"},
        quiet=True,
    )
    assert response.status_code == 201

    pulled = oras_client.pull(target, outdir=str(workdir / "pulled"))
    assert [Path(p).name for p in pulled] == [sbom.name]
    assert Path(pulled[0]).read_bytes() == sbom.read_bytes()

    manifest = oras_client.get_manifest(target)
    assert manifest["config"]["mediaType"] == SBOM_CONFIG_TYPE
    assert manifest["layers"][0]["mediaType"] == SBOM_LAYER_TYPE
    assert manifest["annotations"] == {"org.example.kind": "sbom"}
    config_blob = v2.http.get(f"/v2/{name}/blobs/{manifest['config']['digest']}")
    assert config_blob.content == config.read_bytes()


def test_oras_chunked_push_stores_the_same_bytes(oras_client, berth, workdir):
    name = unique("artifacts/chunked")
    blob = workdir / "data.bin"
    blob.write_bytes(os.urandom(300_000))
    target = f"{berth.host}/{name}:v1"

    response = oras_client.push(target, files=[blob.name], do_chunked=True, chunk_size=64 * 1024, quiet=True)
    assert response.status_code == 201

    pulled = oras_client.pull(target, outdir=str(workdir / "pulled"))
    assert Path(pulled[0]).read_bytes() == blob.read_bytes()


def test_referrers_api_lists_artifacts_pushed_with_a_subject_and_filters_them_by_artifact_type(
    oras_client, berth, v2, workdir
):
    name = unique("library/referred")
    image = build_image(seed=41, layers=1)
    v2.push_image(name, image, "1")

    # an SBOM through oras with the image as subject: its artifactType is its config media type
    sbom = sbom_file(workdir, 2)
    config = config_file(workdir)
    subject = oras.oci.Subject(mediaType=image.media_type, digest=image.digest, size=len(image.manifest))
    pushed = oras_client.push(
        f"{berth.host}/{name}:sbom",
        files=[f"{sbom.name}:{SBOM_LAYER_TYPE}"],
        manifest_config=f"{config.name}:{SBOM_CONFIG_TYPE}",
        manifest_annotations={"org.example.format": "spdx"},
        subject=subject,
        quiet=True,
    )
    assert pushed.status_code == 201
    assert pushed.headers["OCI-Subject"] == image.digest
    sbom_digest = pushed.headers["Docker-Content-Digest"]

    # a signature with an explicit artifactType, pushed by digest only (no tag) over raw HTTP
    signature = build_artifact(
        b"signature-bytes",
        artifact_type=SIGNATURE_TYPE,
        layer_media_type="application/octet-stream",
        subject=image,
        annotations={"org.example.signer": "ci"},
    )
    for blob in signature.blobs:
        v2.push_blob(name, blob)
    put = v2.put_manifest(name, signature.digest, signature.manifest, OCI_MANIFEST)
    assert put.status_code == 201
    assert put.headers["OCI-Subject"] == image.digest

    listing = v2.http.get(f"/v2/{name}/referrers/{image.digest}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in listing.headers
    body = listing.json()
    assert body["schemaVersion"] == 2 and body["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in body["manifests"]}
    assert set(by_digest) == {sbom_digest, signature.digest}
    assert by_digest[sbom_digest]["artifactType"] == SBOM_CONFIG_TYPE
    assert by_digest[sbom_digest]["annotations"] == {"org.example.format": "spdx"}
    assert by_digest[sbom_digest]["mediaType"] == OCI_MANIFEST
    sbom_manifest = v2.get_manifest(name, sbom_digest).content
    assert by_digest[sbom_digest]["size"] == len(sbom_manifest) and sha256(sbom_manifest) == sbom_digest
    assert by_digest[signature.digest] == signature.descriptor(
        artifactType=SIGNATURE_TYPE, annotations={"org.example.signer": "ci"}
    )

    filtered = v2.http.get(f"/v2/{name}/referrers/{image.digest}", params={"artifactType": SIGNATURE_TYPE})
    assert filtered.status_code == 200
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [signature.digest]

    nothing = v2.http.get(f"/v2/{name}/referrers/{image.digest}", params={"artifactType": "application/none"})
    assert nothing.status_code == 200 and nothing.json()["manifests"] == []

    # the referrers of a referrer, and of an unknown digest, are empty lists, never 404
    for digest in (signature.digest, sha256(b"never pushed")):
        empty = v2.http.get(f"/v2/{name}/referrers/{digest}")
        assert empty.status_code == 200 and empty.json()["manifests"] == []


def test_a_referrer_may_be_pushed_before_its_subject(v2):
    name = unique("library/early")
    image = build_image(seed=42, layers=1)
    early = build_artifact(b"early", subject=image)
    for blob in early.blobs:
        v2.push_blob(name, blob)
    put = v2.put_manifest(name, early.digest, early.manifest, OCI_MANIFEST)
    assert put.status_code == 201 and put.headers["OCI-Subject"] == image.digest
    listing = v2.http.get(f"/v2/{name}/referrers/{image.digest}").json()
    assert [d["digest"] for d in listing["manifests"]] == [early.digest]
    v2.push_image(name, image, "1")
    assert [d["digest"] for d in v2.http.get(f"/v2/{name}/referrers/{image.digest}").json()["manifests"]] == [
        early.digest
    ]


def test_referrers_with_a_malformed_digest_is_a_bad_request(v2):
    name = unique("library/referred")
    v2.push_image(name, build_image(seed=43, layers=1), "1")
    response = v2.http.get(f"/v2/{name}/referrers/sha256:not-hex")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
