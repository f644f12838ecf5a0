"""DELETE /api/v2.0/projects/{p}/repositories/{r}: everything in the repository goes, nothing stale stays."""

from __future__ import annotations

from .helpers import OCI_MANIFEST, build_image, unique


def test_a_deleted_repository_is_gone_and_a_new_one_of_the_same_name_starts_empty(v2, berth):
    project = v2.create_project(unique("del"))
    name = f"{project}/team/app"
    first, second = build_image(seed=91, layers=1), build_image(seed=92, layers=1)
    v2.push_image(name, first, "v1")
    assert v2.get_manifest(name, "v1").content == first.manifest  # now cached
    started = v2.start_upload(name)
    assert started.status_code == 202

    deleted = v2.http.delete(f"/api/v2.0/projects/{project}/repositories/team%252Fapp")
    assert deleted.status_code == 200, deleted.text
    assert v2.get_manifest(name, "v1").status_code == 404
    assert v2.http.get(f"/v2/{name}/tags/list").status_code == 404
    assert v2.http.get(started.headers["location"]).status_code == 404
    assert v2.http.head(f"/v2/{name}/blobs/{first.layer_digests[0]}").status_code == 404
    assert name not in v2.list_all("/v2/_catalog", "repositories")
    again = v2.http.delete(f"/api/v2.0/projects/{project}/repositories/team%252Fapp")
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "NOT_FOUND"

    v2.push_image(name, second, "v1")
    assert v2.get_manifest(name, "v1", accept=OCI_MANIFEST).content == second.manifest
    assert v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["v1"]
    assert "deletable" not in v2.http.get(f"/api/v2.0/projects/{project}/_deletable").json()  # false: left out
    assert v2.http.delete(f"/api/v2.0/projects/{project}/repositories/team%252Fapp").status_code == 200
    assert v2.http.delete(f"/api/v2.0/projects/{project}").status_code == 200
