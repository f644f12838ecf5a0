"""The Harbor artifact API on real pushes: types, extra_attrs, references, accessories, tags, q and
sort, deletes that follow Harbor's rules, and harborapi reading it all."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from harborapi import HarborAsyncClient
from harborapi.exceptions import Conflict, NotFound
from harborapi.models import Tag

from tests.charts import chart_archive

from .helpers import (
    OCI_MANIFEST,
    V2,
    Image,
    build_artifact,
    build_image,
    build_index,
    canonical_json,
    descriptor,
    sha256,
    unique,
)

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
NOTATION = "application/vnd.cncf.notary.signature"
NEVER = "0001-01-01T00:00:00.000Z"


def chart_package() -> bytes:
    """A .tgz laid out as `helm package` makes it, with a subchart whose files must not count."""
    files = {
        "web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.2.3\ndependencies:\n"
                          "  - name: redis\n    version: 17.0.0\n    repository: https://charts.example.test\n",
        "web/values.yaml": "replicas: 2\nimage: web:1.2.3\n",
        "web/README.md": "# web\nA web app.\n",
        "web/charts/redis/values.yaml": "subchart: true\n",
    }
    return chart_archive(files)


def helm_chart() -> Image:
    """A chart as `helm push` lays it out: the Chart.yaml as JSON config, the packaged chart as layer."""
    config = json.dumps({"name": "web", "version": "1.2.3", "apiVersion": "v2", "description": "a web app"}).encode()
    chart = chart_package()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(HELM_CONFIG, config),
           "layers": [descriptor(HELM_LAYER, chart)]}
    return Image(canonical_json(doc), OCI_MANIFEST, [config, chart])


@pytest.fixture(scope="module")
def world(berth):
    project = unique("arts")
    image = build_image(seed=71, layers=2, architecture="arm64")
    children = [build_image(seed=72, layers=1), build_image(seed=73, layers=1, architecture="arm64")]
    index = build_index(children, [("linux", "amd64"), ("linux", "arm64")])
    signature = build_artifact(b"signature bytes", artifact_type=NOTATION, subject=image)
    sbom = build_artifact(b'{"spdxVersion":"SPDX-2.3"}', subject=image)
    chart = helm_chart()
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "v1")
        v2.push_image(f"{project}/app", signature, signature.digest)
        v2.push_image(f"{project}/app", sbom, sbom.digest)
        v2.push_image(f"{project}/multi", index, "latest")
        v2.push_image(f"{project}/charts/web", chart, "1.2.3")
    return {"project": project, "image": image, "index": index, "children": children, "signature": signature,
            "sbom": sbom, "chart": chart}


def _api(berth) -> httpx.Client:  # type: ignore[no-untyped-def]
    return berth.client()


def test_an_image_shows_its_type_config_tags_and_accessories(berth, world):
    project, image = world["project"], world["image"]
    with _api(berth) as api:
        listed = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts", params={"with_accessory": "true"})
        assert listed.status_code == 200 and listed.headers["x-total-count"] == "1"  # accessories sit under it
        art = listed.json()[0]
        assert art["digest"] == image.digest and art["type"] == "IMAGE"
        assert art["media_type"] == "application/vnd.oci.image.config.v1+json"
        assert art["manifest_media_type"] == OCI_MANIFEST and art["repository_name"] == f"{project}/app"
        assert art["extra_attrs"]["architecture"] == "arm64" and art["extra_attrs"]["os"] == "linux"
        assert [t["name"] for t in art["tags"]] == ["v1"] and art["pull_time"] == NEVER
        kinds = {a["digest"]: a["type"] for a in art["accessories"]}
        assert kinds == {world["signature"].digest: "signature.notation", world["sbom"].digest: "subject.accessory"}
        assert all(a["subject_artifact_digest"] == image.digest for a in art["accessories"])
        by_tag = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1")
        assert by_tag.json()["id"] == art["id"] and "accessories" not in by_tag.json()
        assert api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/{image.digest}").status_code == 200
        assert api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/nope").status_code == 404
        assert api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/bad%20ref").status_code == 400


def test_an_index_lists_its_children_as_references_and_hides_them(berth, world):
    project, index = world["project"], world["index"]
    with _api(berth) as api:
        listed = api.get(f"/api/v2.0/projects/{project}/repositories/multi/artifacts").json()
        assert [a["digest"] for a in listed] == [index.digest]
        references = listed[0]["references"]
        assert [r["child_digest"] for r in references] == [c.digest for c in world["children"]]
        assert references[1]["platform"]["architecture"] == "arm64" and references[0]["child_id"] > 0
        assert listed[0]["type"] == "IMAGE" and "extra_attrs" not in listed[0]  # empty: left out, as in Harbor
        child = api.get(f"/api/v2.0/projects/{project}/repositories/multi/artifacts/{world['children'][0].digest}")
        assert child.status_code == 200 and child.json()["extra_attrs"]["architecture"] == "amd64"
        refused = api.delete(f"/api/v2.0/projects/{project}/repositories/multi/artifacts/{world['children'][0].digest}")
        assert refused.status_code == 412 and refused.json()["errors"][0]["code"] == "VIOLATE_FOREIGN_KEY_CONSTRAINT"


def test_a_helm_chart_is_a_chart_with_its_chart_yaml_as_extra_attrs(berth, world):
    project = world["project"]
    with _api(berth) as api:
        chart = api.get(f"/api/v2.0/projects/{project}/repositories/charts%252Fweb/artifacts/1.2.3").json()
        assert chart["type"] == "CHART" and chart["media_type"] == HELM_CONFIG
        assert chart["extra_attrs"] == {"name": "web", "version": "1.2.3", "apiVersion": "v2", "description": "a web app"}


def test_additions_give_build_history_and_chart_files(berth, world):
    project, image = world["project"], world["image"]
    with _api(berth) as api:
        art = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1").json()
        link = art["addition_links"]["build_history"]
        assert link == {"href": f"/api/v2.0/projects/{project}/repositories/app/artifacts/{image.digest}"
                                f"/additions/build_history", "absolute": False}
        history = api.get(link["href"])
        assert history.status_code == 200 and history.headers["content-type"].startswith("application/json")
        assert history.json() == json.loads(image.blobs[0])["history"]
        base = f"/api/v2.0/projects/{project}/repositories/charts%252Fweb/artifacts/1.2.3/additions"
        chart = api.get(f"/api/v2.0/projects/{project}/repositories/charts%252Fweb/artifacts/1.2.3").json()
        assert set(chart["addition_links"]) == {"values.yaml", "readme.md", "dependencies"}
        assert "charts%252Fweb" in chart["addition_links"]["readme.md"]["href"]
        values = api.get(f"{base}/values.yaml")
        assert values.text == "replicas: 2\nimage: web:1.2.3\n" and values.headers["content-type"].startswith("text/plain")
        assert api.get(f"{base}/readme.md").text == "# web\nA web app.\n"
        assert api.get(f"{base}/dependencies").json() == [
            {"name": "redis", "version": "17.0.0", "repository": "https://charts.example.test"}]
        wrong = api.get(f"{base}/build_history")
        assert wrong.status_code == 400 and "isn't supported for CHART" in wrong.json()["errors"][0]["message"]
        index = api.get(f"/api/v2.0/projects/{project}/repositories/multi/artifacts/latest").json()
        assert "addition_links" not in index


def test_q_and_sort_over_artifacts(berth, world):
    project = world["project"]
    untagged = build_image(seed=74, layers=1)
    with V2(berth.url, auth=berth.auth) as v2:
        v2.push_image(f"{project}/sorted", build_image(seed=75, layers=1), "old")
        v2.push_image(f"{project}/sorted", untagged, untagged.digest)
        v2.push_image(f"{project}/sorted", build_image(seed=76, layers=1), "new")
    base = f"/api/v2.0/projects/{project}/repositories/sorted/artifacts"
    with _api(berth) as api:
        def tags(**params: str) -> list[list[str]]:
            response = api.get(base, params=params)
            assert response.status_code == 200, response.text
            return [[t["name"] for t in a.get("tags") or []] for a in response.json()]

        assert tags() == [["new"], [], ["old"]]  # newest first
        assert tags(sort="push_time") == [["old"], [], ["new"]]
        assert tags(q="tags=nil") == [[]]
        assert tags(q="tags=*", sort="push_time") == [["old"], ["new"]]
        assert tags(q="tags=~ne") == [["new"]]
        assert tags(q=f"digest={untagged.digest}") == [[]]
        assert tags(q="type=IMAGE", page_size="1") == [["new"]]
        assert tags(q="colour=red,tags=nil", sort="colour,-bogus") == [[]]  # unknown keys ignored, as in Harbor
        for bad in ("tags", "colour=[1~", "tags=[1~2]"):
            assert api.get(base, params={"q": bad}).status_code == 400


def test_tags_are_created_listed_and_deleted_and_v2_follows(berth, world):
    project, image = world["project"], world["image"]
    base = f"/api/v2.0/projects/{project}/repositories/app/artifacts/{image.digest}/tags"
    with _api(berth) as api:
        assert api.get(f"/v2/{project}/app/manifests/stable", headers={"Accept": OCI_MANIFEST}).status_code == 404
        created = api.post(base, json={"name": "stable"})
        assert created.status_code == 201, created.text
        assert api.get(f"/v2/{project}/app/manifests/stable", headers={"Accept": OCI_MANIFEST}).content == image.manifest
        assert "stable" in api.get(f"/v2/{project}/app/tags/list").json()["tags"]
        assert api.post(base, json={"name": "stable"}).status_code == 409
        assert api.post(base, json={"name": "bad tag!"}).status_code == 400
        names = [t["name"] for t in api.get(base, params={"sort": "name"}).json()]
        assert names == ["stable", "v1"]
        assert [t["name"] for t in api.get(base, params={"q": "name=v1"}).json()] == ["v1"]
        assert api.delete(f"{base}/stable").status_code == 200
        assert api.get(f"/v2/{project}/app/manifests/stable", headers={"Accept": OCI_MANIFEST}).status_code == 404
        assert api.delete(f"{base}/stable").status_code == 404


def test_deleting_an_artifact_takes_its_accessories_and_untagged_children(berth, world):
    project = unique("arts-del")
    image = build_image(seed=81, layers=1)
    signature = build_artifact(b"sig", artifact_type=NOTATION, subject=image)
    kids = [build_image(seed=82, layers=1), build_image(seed=83, layers=1)]
    index = build_index(kids, [("linux", "amd64"), ("linux", "arm64")])
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "v1")
        v2.push_image(f"{project}/app", signature, signature.digest)
        v2.push_image(f"{project}/app", index, "multi")
        v2.push_image(f"{project}/app", kids[1], "kept")  # a tagged child stays
        assert v2.http.delete(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1").status_code == 200
        assert v2.get_manifest(f"{project}/app", image.digest).status_code == 404
        assert v2.get_manifest(f"{project}/app", signature.digest).status_code == 404
        assert v2.http.delete(f"/api/v2.0/projects/{project}/repositories/app/artifacts/multi").status_code == 200
        assert v2.get_manifest(f"{project}/app", kids[0].digest).status_code == 404
        assert v2.get_manifest(f"{project}/app", kids[1].digest).status_code == 200
        remaining = v2.http.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json()
        assert [a["digest"] for a in remaining] == [kids[1].digest]


def test_roles_decide_who_reads_tags_and_deletes(berth, world):
    project, image = world["project"], world["image"]
    password = "Passw0rd-arts"
    names = {}
    with _api(berth) as api:
        for role_id, role in ((3, "guest"), (2, "developer")):
            name = f"{role}-{uuid.uuid4().hex[:6]}"
            assert api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                     "password": password}).status_code == 201
            assert api.post(f"/api/v2.0/projects/{project}/members",
                            json={"role_id": role_id, "member_user": {"username": name}}).status_code == 201
            names[role] = name
    base = f"/api/v2.0/projects/{project}/repositories/app/artifacts"
    with httpx.Client(base_url=berth.url, auth=(names["guest"], password)) as guest:
        assert guest.get(base).status_code == 200
        assert guest.post(f"{base}/v1/tags", json={"name": "by-guest"}).status_code == 403
        assert guest.delete(f"{base}/v1").status_code == 403
    with httpx.Client(base_url=berth.url, auth=(names["developer"], password)) as developer:
        assert developer.post(f"{base}/v1/tags", json={"name": "by-developer"}).status_code == 201
        assert developer.delete(f"{base}/v1/tags/by-developer").status_code == 403
        assert developer.delete(f"{base}/{image.digest}").status_code == 403
    assert httpx.get(f"{berth.url}{base}").status_code == 401


async def test_harborapi_reads_artifacts_and_manages_tags(berth, world):
    project = world["project"]
    client = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    artifacts = await client.get_artifacts(project, "app", with_accessory=True, with_label=True,
                                           with_immutable_status=True)
    assert len(artifacts) == 1 and artifacts[0].type == "IMAGE" and not artifacts[0].labels
    assert artifacts[0].extra_attrs.root["architecture"] == "arm64"
    artifact = await client.get_artifact(project, "app", "v1")
    assert artifact.digest == world["image"].digest
    await client.create_artifact_tag(project, "app", "v1", Tag(name="from-harborapi"))
    assert {t.name for t in await client.get_artifact_tags(project, "app", "v1")} >= {"v1", "from-harborapi"}
    with pytest.raises(Conflict):
        await client.create_artifact_tag(project, "app", "v1", Tag(name="from-harborapi"))
    await client.delete_artifact_tag(project, "app", "v1", "from-harborapi")
    chart = await client.get_artifact(project, "charts/web", "1.2.3")
    assert chart.type == "CHART"
    await client.delete_artifact(project, "charts/web", "1.2.3")
    with pytest.raises(NotFound):
        await client.get_artifact(project, "charts/web", "1.2.3")


def test_copying_an_artifact_brings_its_tags_children_accessories_and_blobs(berth, world):
    source, target = world["project"], unique("arts-copy")
    image, index, signature = world["image"], world["index"], world["signature"]
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(target)
        api = v2.http
        copied = api.post(f"/api/v2.0/projects/{target}/repositories/mirror/artifacts", params={"from": f"{source}/app:v1"})
        assert copied.status_code == 201, copied.text
        assert copied.headers["location"].endswith(f"/artifacts/{image.digest}")
        assert v2.get_manifest(f"{target}/mirror", "v1").content == image.manifest
        for blob in image.blobs:
            assert api.get(f"/v2/{target}/mirror/blobs/{sha256(blob)}").content == blob
        art = api.get(f"/api/v2.0/projects/{target}/repositories/mirror/artifacts/v1", params={"with_accessory": "true"}).json()
        assert signature.digest in {a["digest"] for a in art["accessories"]}
        by_digest = api.post(f"/api/v2.0/projects/{target}/repositories/multi/artifacts",
                             params={"from": f"{source}/multi@{index.digest}"})
        assert by_digest.status_code == 201
        refs = api.get(f"/api/v2.0/projects/{target}/repositories/multi/artifacts/{index.digest}").json()["references"]
        assert all(r["child_id"] for r in refs) and len(refs) == 2
        again = api.post(f"/api/v2.0/projects/{target}/repositories/mirror/artifacts", params={"from": f"{source}/app:v1"})
        assert again.status_code == 201  # copying twice is harmless
        accessory = api.post(f"/api/v2.0/projects/{target}/repositories/mirror/artifacts",
                             params={"from": f"{source}/app@{signature.digest}"})
        assert accessory.status_code == 403 and accessory.json()["errors"][0]["code"] == "DENIED"
        for bad in ("nothing", f"{source}/app", "app:v1", f"{source}/app:bad tag"):
            response = api.post(f"/api/v2.0/projects/{target}/repositories/x/artifacts", params={"from": bad})
            assert response.status_code in (400, 404), (bad, response.text)
        missing = api.post(f"/api/v2.0/projects/{target}/repositories/x/artifacts", params={"from": f"{source}/app:nope"})
        assert missing.status_code == 404


def test_copying_needs_read_on_the_source_and_push_on_the_target(berth, world):
    source = world["project"]
    mine = unique("arts-mine")
    password = "Passw0rd-copy"
    name = f"copier-{uuid.uuid4().hex[:6]}"
    with berth.client() as api:
        assert api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                 "password": password}).status_code == 201
    with httpx.Client(base_url=berth.url, auth=(name, password)) as user:
        assert user.post("/api/v2.0/projects", json={"project_name": mine}).status_code == 201  # its projectAdmin
        refused = user.post(f"/api/v2.0/projects/{mine}/repositories/app/artifacts", params={"from": f"{source}/app:v1"})
        assert refused.status_code == 403  # no read on the source project
        assert user.get(f"/api/v2.0/projects/{mine}/repositories").json() == []
    with berth.client() as api:  # now a guest of the source, and of a target it cannot push to
        assert api.post(f"/api/v2.0/projects/{source}/members",
                        json={"role_id": 3, "member_user": {"username": name}}).status_code == 201
        target = unique("arts-readonly")
        assert api.post("/api/v2.0/projects", json={"project_name": target}).status_code == 201
        assert api.post(f"/api/v2.0/projects/{target}/members",
                        json={"role_id": 3, "member_user": {"username": name}}).status_code == 201
    with httpx.Client(base_url=berth.url, auth=(name, password)) as user:
        refused = user.post(f"/api/v2.0/projects/{target}/repositories/app/artifacts", params={"from": f"{source}/app:v1"})
        assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "FORBIDDEN"
        assert user.get(f"/api/v2.0/projects/{target}/repositories").json() == []
        allowed = user.post(f"/api/v2.0/projects/{mine}/repositories/app/artifacts", params={"from": f"{source}/app:v1"})
        assert allowed.status_code == 201  # reads the source as a guest, pushes to its own project


def test_cosign_tag_scheme_signatures_are_accessories_of_their_subject(berth):
    project = unique("cosigned")
    image = build_image(seed=111, layers=1)
    hexdigest = image.digest.split(":", 1)[1]
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"example.test/{project}/app"},
                                       "image": {"docker-manifest-digest": image.digest},
                                       "type": "cosign container image signature"}, "optional": None}).encode()
    config = json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": descriptor("application/vnd.oci.image.config.v1+json", config),
           "layers": [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", payload,
                                 annotations={"dev.cosignproject.cosign/signature": "MEUCIQ..."})]}
    signature = Image(canonical_json(doc), OCI_MANIFEST, [config, payload])
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "v1")
        response = v2.push_image(f"{project}/app", signature, f"sha256-{hexdigest}.sig")
        assert "oci-subject" not in response.headers  # no subject field: nothing to announce
        api = v2.http
        listed = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts", params={"with_accessory": "true"}).json()
        assert [a["digest"] for a in listed] == [image.digest]
        assert [(a["digest"], a["type"]) for a in listed[0]["accessories"]] == [(signature.digest, "signature.cosign")]
        referrers = api.get(f"/v2/{project}/app/referrers/{image.digest}").json()
        assert signature.digest in [m["digest"] for m in referrers["manifests"]]
        assert api.delete(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1").status_code == 200
        assert v2.get_manifest(f"{project}/app", f"sha256-{hexdigest}.sig").status_code == 404
