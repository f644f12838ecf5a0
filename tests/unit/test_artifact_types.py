"""Artifact types by Harbor's rules, from real-looking manifests."""

from __future__ import annotations

import pytest

from berth import mediatypes as mt
from berth.artifact_types import artifact_media_types, artifact_type


def manifest(config_type: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": config_type, "digest": "sha256:" + "0" * 64, "size": 2}, "layers": [], **extra}


@pytest.mark.parametrize("manifest_type,doc,expected", [
    (mt.OCI_MANIFEST, manifest(mt.OCI_CONFIG), "IMAGE"),
    (mt.DOCKER_MANIFEST, manifest(mt.DOCKER_CONFIG), "IMAGE"),
    (mt.OCI_INDEX, {"schemaVersion": 2, "manifests": []}, "IMAGE"),
    (mt.DOCKER_MANIFEST_LIST, {"schemaVersion": 2, "manifests": []}, "IMAGE"),
    (mt.OCI_MANIFEST, manifest("application/vnd.cncf.helm.config.v1+json"), "CHART"),
    (mt.OCI_MANIFEST, manifest("application/vnd.wasm.config.v1+json"), "WASM"),
    # Harbor records the WASM media type, but its artifact type (the config's) wins: IMAGE
    (mt.OCI_MANIFEST, manifest(mt.OCI_CONFIG, annotations={"module.wasm.image/variant": "compat"}), "IMAGE"),
    (mt.OCI_INDEX, {"schemaVersion": 2, "manifests": [],
                    "annotations": {"org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1"}}, "CNAB"),
    (mt.OCI_MANIFEST, manifest("application/vnd.goharbor.harbor.sbom.v1"), "SBOM"),
    (mt.OCI_MANIFEST, manifest("application/vnd.oci.empty.v1+json",
                               artifactType="application/vnd.goharbor.harbor.sbom.v1"), "SBOM"),
    (mt.OCI_MANIFEST, manifest("application/vnd.cncf.model.config.v1+json",
                               artifactType="application/vnd.cncf.model.manifest.v1+json"), "CNAI"),
    (mt.OCI_MANIFEST, manifest("application/vnd.caicloud.model.config.v1alpha1+json"), "MODEL"),
    (mt.OCI_MANIFEST, manifest("application/vnd.oci.empty.v1+json",
                               artifactType="application/vnd.cncf.notary.signature"), "UNKNOWN"),
    (mt.OCI_MANIFEST, manifest("application/spdx+json"), "UNKNOWN"),
])
def test_types_follow_harbors_processors(manifest_type, doc, expected):
    assert artifact_type(*artifact_media_types(manifest_type, doc)) == expected


def test_the_recorded_media_and_artifact_types():
    assert artifact_media_types(mt.OCI_MANIFEST, manifest(mt.OCI_CONFIG)) == (mt.OCI_CONFIG, mt.OCI_CONFIG)
    wasm = manifest(mt.OCI_CONFIG, annotations={"run.oci.handler": "wasm"})
    assert artifact_media_types(mt.OCI_MANIFEST, wasm) == ("application/vnd.wasm.config.v1+json", mt.OCI_CONFIG)
    assert artifact_media_types(mt.OCI_MANIFEST, manifest("a/b", artifactType="x/y")) == ("a/b", "x/y")
    assert artifact_media_types(mt.OCI_INDEX, {"manifests": []}) == (mt.OCI_INDEX, "")
