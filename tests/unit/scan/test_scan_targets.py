"""The IMAGE argument of `berth scan`, in skopeo's transport syntax."""

from __future__ import annotations

import pytest

from berth.scan.targets import BadTarget, LayoutTarget, RegistryTarget, parse_target

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, expected", [
    ("oci:/images/app", LayoutTarget("/images/app", None)),
    ("oci:/images/app:v1", LayoutTarget("/images/app", "v1")),
    ("oci:layout:" + DIGEST, LayoutTarget("layout", DIGEST)),
    ("docker://registry.example/team/app:1.2", RegistryTarget("registry.example", "team/app", "1.2")),
    ("docker://127.0.0.1:5000/library/app", RegistryTarget("127.0.0.1:5000", "library/app", "latest")),
    ("docker://127.0.0.1:5000/a/b/c@" + DIGEST, RegistryTarget("127.0.0.1:5000", "a/b/c", DIGEST)),
    ("docker://docker.io/debian:12", RegistryTarget("registry-1.docker.io", "library/debian", "12")),
])
def test_image_argument_names_a_layout_or_a_registry_repository(text, expected) -> None:
    assert parse_target(text) == expected


def test_a_digest_reference_has_no_tag() -> None:
    assert RegistryTarget("h", "r", DIGEST).tag is None and RegistryTarget("h", "r", "1").tag == "1"


@pytest.mark.parametrize("text", [
    "debian:12", "oci:", "docker://registry.example", "docker://host/app@latest", "docker://host/app:1@" + DIGEST,
    "docker://host/app:",
])
def test_malformed_image_arguments_are_refused(text) -> None:
    with pytest.raises(BadTarget):
        parse_target(text)
