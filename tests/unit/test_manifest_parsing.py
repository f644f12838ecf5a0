"""Manifest validation without a server."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth import mediatypes
from berth.references import digest_of
from berth.services.errors import ManifestInvalid
from berth.services.manifests import parse_manifest

CONFIG = digest_of(b"{}")
LAYER = digest_of(b"layer")


def image(**extra) -> dict:
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER, "size": 5}],
    }
    doc.update(extra)
    return doc


def test_image_manifest_names_its_config_and_layers() -> None:
    parsed = parse_manifest(orjson.dumps(image()), mediatypes.OCI_MANIFEST)
    assert parsed.media_type == mediatypes.OCI_MANIFEST
    assert parsed.blobs == (CONFIG, LAYER)
    assert parsed.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_artifact_type_and_subject_are_recorded() -> None:
    subject = {"mediaType": mediatypes.OCI_MANIFEST, "digest": digest_of(b"s"), "size": 1}
    doc = image(artifactType="application/vnd.example.sbom", subject=subject, annotations={"a": "b"})
    parsed = parse_manifest(orjson.dumps(doc), None)
    assert parsed.artifact_type == "application/vnd.example.sbom"
    assert parsed.subject == subject["digest"]
    assert parsed.annotations == {"a": "b"}


def test_index_lists_children() -> None:
    child = {"mediaType": mediatypes.OCI_MANIFEST, "digest": LAYER, "size": 5}
    doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [child]}
    parsed = parse_manifest(orjson.dumps(doc), mediatypes.OCI_INDEX)
    assert parsed.children == (LAYER,) and parsed.blobs == ()
    assert parsed.artifact_type is None


def test_foreign_layers_with_urls_are_not_required() -> None:
    doc = image()
    doc["mediaType"] = mediatypes.DOCKER_MANIFEST
    doc["layers"].append(
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": digest_of(b"foreign"),
            "size": 7,
            "urls": ["https://example.invalid/layer"],
        }
    )
    assert parse_manifest(orjson.dumps(doc), mediatypes.DOCKER_MANIFEST).blobs == (CONFIG, LAYER)


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (b"not json", mediatypes.OCI_MANIFEST, "not valid JSON"),
        (b"[]", mediatypes.OCI_MANIFEST, "JSON object"),
        (orjson.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}), mediatypes.DOCKER_SCHEMA1_SIGNED, "schema1"),
        (orjson.dumps(image(schemaVersion=3)), mediatypes.OCI_MANIFEST, "schemaVersion"),
        (orjson.dumps(image()), mediatypes.DOCKER_MANIFEST, "does not match"),
        (orjson.dumps(image(config={"digest": "sha256:zz", "size": 1, "mediaType": "x"})), None, "invalid digest"),
        (orjson.dumps(image(layers={})), None, "layers list"),
        (orjson.dumps(image(config={"digest": CONFIG, "size": -1, "mediaType": "x"})), None, "size"),
        (orjson.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX}), None, "manifests list"),
        (orjson.dumps(image(annotations={"a": 1})), None, "annotations"),
        (orjson.dumps({"schemaVersion": 2}), "application/vnd.example+json", "unsupported manifest media type"),
    ],
)
def test_invalid_manifests_are_refused_with_a_reason(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ManifestInvalid, match=message):
        parse_manifest(body, content_type)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_either_parse_or_raise_manifest_invalid(body: bytes) -> None:
    try:
        parse_manifest(body, mediatypes.OCI_MANIFEST)
    except ManifestInvalid:
        pass


def test_cosign_tags_name_their_subject():
    from berth.services.manifests import cosign_subject

    hexdigest = "a" * 64
    assert cosign_subject(f"sha256-{hexdigest}.sig") == f"sha256:{hexdigest}"
    assert cosign_subject(f"sha256-{hexdigest}.att") == f"sha256:{hexdigest}"
    assert cosign_subject(f"sha256-{hexdigest}.sbom") == f"sha256:{hexdigest}"
    for tag in ("latest", f"sha256-{hexdigest}.zip", f"sha256-{hexdigest[:-1]}.sig", f"sha512-{hexdigest}.sig"):
        assert cosign_subject(tag) is None
