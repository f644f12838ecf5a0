"""Quotas (usage counted once per blob per project, limits set by admins), search and statistics."""

from __future__ import annotations

import uuid

import httpx
from harborapi import HarborAsyncClient

from .helpers import V2, build_image, unique

PASSWORD = "Passw0rd-quota"


def test_quotas_report_usage_once_per_blob_and_admins_set_limits(berth):
    project = unique("quota")
    image = build_image(seed=91, layers=2)
    with V2(berth.url, auth=berth.auth) as v2:
        created = v2.http.post("/api/v2.0/projects", json={"project_name": project, "storage_limit": 10 * 1024**3})
        project_id = int(created.headers["location"].rsplit("/", 1)[1])
        v2.push_image(f"{project}/one", image, "v1")
        v2.push_image(f"{project}/two", image, "v1")  # the same blobs and manifest again: counted once
        expected = sum(len(blob) for blob in image.blobs) + len(image.manifest)  # Harbor counts manifests too
        quotas = v2.http.get("/api/v2.0/quotas", params={"reference": "project", "reference_id": str(project_id)}).json()
        assert len(quotas) == 1
        quota = quotas[0]
        assert quota["ref"] == {"id": project_id, "name": project, "owner_name": "admin"}
        assert quota["hard"] == {"storage": 10 * 1024**3} and quota["used"] == {"storage": expected}
        assert v2.http.put(f"/api/v2.0/quotas/{quota['id']}", json={"hard": {"storage": -1}}).status_code == 200
        assert v2.http.get(f"/api/v2.0/quotas/{quota['id']}").json()["hard"] == {"storage": -1}
        for bad in ({"hard": {"storage": 0}}, {"hard": {"storage": -5}}, {"hard": {"storage": 1024**5 + 1}},
                    {"hard": {"storage": "lots"}}, {}):
            assert v2.http.put(f"/api/v2.0/quotas/{quota['id']}", json=bad).status_code == 400, bad
        assert v2.http.get(f"/api/v2.0/quotas/{quota['id']}").json()["hard"] == {"storage": -1}
        assert v2.http.get("/api/v2.0/quotas/987654").status_code == 404
        assert v2.http.post("/api/v2.0/projects", json={"project_name": unique("q"), "storage_limit": -7}).status_code == 400
        name = f"user-{uuid.uuid4().hex[:6]}"
        assert v2.http.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                      "password": PASSWORD}).status_code == 201
    assert httpx.get(f"{berth.url}/api/v2.0/quotas", auth=(name, PASSWORD)).status_code == 403
    assert httpx.get(f"{berth.url}/api/v2.0/quotas").status_code == 401


def test_search_finds_projects_and_repositories_the_caller_may_see(berth):
    private, public = unique("findme-private"), unique("findme-public")
    image = build_image(seed=92, layers=1)
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(private)
        v2.create_project(public, public=True)
        v2.push_image(f"{private}/needle", image, "v1")
        v2.push_image(f"{public}/needle", image, "v1")
        found = v2.http.get("/api/v2.0/search", params={"q": "findme-"}).json()
        assert {p["name"] for p in found["project"]} >= {private, public}
        repos = {r["repository_name"]: r for r in found["repository"]}
        assert repos[f"{public}/needle"]["project_public"] is True and repos[f"{public}/needle"]["artifact_count"] == 1
        assert repos[f"{private}/needle"]["project_name"] == private
    anonymous = httpx.get(f"{berth.url}/api/v2.0/search", params={"q": "findme-"}).json()
    assert private not in {p["name"] for p in anonymous["project"]}
    assert {r["repository_name"] for r in anonymous["repository"]} >= {f"{public}/needle"}
    assert f"{private}/needle" not in {r["repository_name"] for r in anonymous["repository"]}


async def test_statistics_count_what_the_caller_sees(berth):
    client = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    stats = await client.get_statistics()
    assert stats.total_project_count == stats.public_project_count + stats.private_project_count
    assert stats.total_repo_count >= 1 and stats.total_storage_consumption > 0
    with berth.client() as api:
        name = f"viewer-{uuid.uuid4().hex[:6]}"
        assert api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                 "password": PASSWORD}).status_code == 201
    mine = httpx.get(f"{berth.url}/api/v2.0/statistics", auth=(name, PASSWORD)).json()
    assert mine["private_project_count"] == 0 and "total_project_count" not in mine
    assert mine["public_project_count"] >= 1  # library
    assert httpx.get(f"{berth.url}/api/v2.0/statistics").status_code == 401
