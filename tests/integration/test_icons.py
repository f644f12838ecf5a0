"""GET /api/v2.0/icons/{digest}: the icon each artifact's `icon` names is served, to anyone, as Harbor
serves it (content type and base64 content); unknown and malformed digests get Harbor's errors."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from .helpers import V2, build_artifact, build_image, sha256, unique
from .test_artifacts_api import NOTATION, helm_chart

COSIGN = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture(scope="module")
def icons_world(berth):
    project = unique("icons")
    image = build_image(seed=81, layers=1)
    accessories = {
        "signature.notation": build_artifact(b"notation signature", artifact_type=NOTATION, subject=image),
        "signature.cosign": build_artifact(b"cosign signature", artifact_type=COSIGN, subject=image),
        "subject.accessory": build_artifact(b'{"spdxVersion":"SPDX-2.3"}', subject=image),
    }
    vendor = build_artifact(b"x", artifact_type=None, config_media_type="application/vnd.acme.rocket.config.v1+json")
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "v1")
        for accessory in accessories.values():
            v2.push_image(f"{project}/app", accessory, accessory.digest)
        v2.push_image(f"{project}/chart", helm_chart(), "1.0.0")
        v2.push_image(f"{project}/rocket", vendor, "1")
    with berth.client() as api:
        def artifact(repository: str) -> dict:
            listed = api.get(f"/api/v2.0/projects/{project}/repositories/{repository}/artifacts",
                             params={"with_accessory": "true"})
            assert listed.status_code == 200, listed.text
            return listed.json()[0]
        return {"image": artifact("app"), "chart": artifact("chart"), "rocket": artifact("rocket")}


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_artifact_and_signature_names_an_icon_anyone_can_fetch(berth, icons_world):
    image, chart, rocket = icons_world["image"], icons_world["chart"], icons_world["rocket"]
    assert (image["type"], chart["type"], rocket["type"]) == ("IMAGE", "CHART", "ROCKET")
    accessory_icons = {a["type"]: a["icon"] for a in image["accessories"]}
    assert accessory_icons["subject.accessory"] == ""  # as Harbor: no icon for a plain referrer
    named = [image["icon"], chart["icon"], rocket["icon"],
             accessory_icons["signature.notation"], accessory_icons["signature.cosign"]]
    assert len(set(named)) == len(named)  # each kind its own picture
    with berth.client(auth=None) as anonymous:
        for digest in named:
            response = anonymous.get(f"/api/v2.0/icons/{digest}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == {"content-type", "content"} and body["content-type"] == "image/png"
            content = base64.b64decode(body["content"], validate=True)
            assert png_size(content) == (50, 50)
            assert f"sha256:{hashlib.sha256(content).hexdigest()}" == digest


@pytest.mark.parametrize(("digest", "status", "code"), [
    (sha256(b"no such icon"), 404, "NOT_FOUND"),
    ("sha512:" + "0" * 128, 404, "NOT_FOUND"),
    ("sha256:abc", 400, "BAD_REQUEST"),
    ("not-a-digest", 400, "BAD_REQUEST"),
    ("md5:" + "0" * 32, 400, "BAD_REQUEST"),
])
def test_unknown_and_malformed_icon_digests_get_harbors_errors(berth, digest, status, code):
    with berth.client(auth=None) as anonymous:
        response = anonymous.get(f"/api/v2.0/icons/{digest}")
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert [e["code"] for e in errors] == [code] and digest[:20] in errors[0]["message"]
