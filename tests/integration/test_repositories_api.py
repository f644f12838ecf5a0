"""The Harbor repository API: lists with visibility, q and sort; get, describe, delete; pull counts."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from harborapi import HarborAsyncClient
from harborapi.exceptions import Forbidden, NotFound
from harborapi.models import Repository

from tests.conftest import start_berth

from .helpers import OCI_MANIFEST, V2, build_image, build_index, unique

PASSWORD = "Passw0rd-repos"


@pytest.fixture(scope="module")
def seeded(berth):
    """A private and a public project with repositories, and a guest of the private one."""
    private, public = unique("repos-private"), unique("repos-public")
    image = build_image(seed=61, layers=1)
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(private)
        v2.create_project(public, public=True)
        for name in ("app", "team/api", "team/web"):
            v2.push_image(f"{private}/{name}", image, "v1")
        v2.push_image(f"{public}/tool", image, "v1")
        v2.push_image(f"{private}/app", build_image(seed=62, layers=1), "v2")
        guest = f"guest-{uuid.uuid4().hex[:6]}"
        assert v2.http.post("/api/v2.0/users", json={"username": guest, "email": f"{guest}@example.test",
                                                      "password": PASSWORD}).status_code == 201
        assert v2.http.post(f"/api/v2.0/projects/{private}/members",
                            json={"role_id": 3, "member_user": {"username": guest}}).status_code == 201
    return {"private": private, "public": public, "guest": guest}


def _names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()]


def test_project_repositories_list_with_counts_q_sort_and_pages(berth, seeded):
    private = seeded["private"]
    with berth.client() as api:
        listed = api.get(f"/api/v2.0/projects/{private}/repositories", params={"sort": "name"})
        assert _names(listed) == [f"{private}/app", f"{private}/team/api", f"{private}/team/web"]
        assert listed.headers["x-total-count"] == "3"
        app = listed.json()[0]
        assert app["artifact_count"] == 2 and app["pull_count"] == 0 and app["project_id"] > 0
        assert _names(api.get(f"/api/v2.0/projects/{private}/repositories",
                              params={"q": "name=~team", "sort": "-name"})) == [f"{private}/team/web", f"{private}/team/api"]
        newest_first = _names(api.get(f"/api/v2.0/projects/{private}/repositories"))
        assert newest_first[0] == f"{private}/team/web"
        page = api.get(f"/api/v2.0/projects/{private}/repositories", params={"page": 2, "page_size": 2, "sort": "name"})
        assert _names(page) == [f"{private}/team/web"] and 'rel="prev"' in page.headers["link"]
        assert api.get(f"/api/v2.0/projects/{private}/repositories", params={"q": "name=[a"}).status_code == 400


def test_all_repositories_show_what_the_caller_may_see(berth, seeded):
    private, public = seeded["private"], seeded["public"]
    anonymous = _names(httpx.get(f"{berth.url}/api/v2.0/repositories", params={"page_size": 100, "q": "name=~repos-"}))
    assert f"{public}/tool" in anonymous and not any(n.startswith(private) for n in anonymous)
    guest = _names(httpx.get(f"{berth.url}/api/v2.0/repositories", auth=(seeded["guest"], PASSWORD),
                             params={"page_size": 100, "q": f"name=~{private}"}))
    assert sorted(guest) == [f"{private}/app", f"{private}/team/api", f"{private}/team/web"]
    assert httpx.get(f"{berth.url}/api/v2.0/projects/{private}/repositories").status_code == 401


def test_get_describe_and_delete_with_harbor_encoded_names(berth, seeded):
    private = seeded["private"]
    with berth.client() as api:
        got = api.get(f"/api/v2.0/projects/{private}/repositories/team%252Fapi")
        assert got.status_code == 200 and got.json()["name"] == f"{private}/team/api"
        assert api.put(f"/api/v2.0/projects/{private}/repositories/team%252Fapi",
                       json={"description": "the API"}).status_code == 200
        assert api.get(f"/api/v2.0/projects/{private}/repositories/team%252Fapi").json()["description"] == "the API"
        assert api.get(f"/api/v2.0/projects/{private}/repositories/nope").status_code == 404
    with httpx.Client(base_url=berth.url, auth=(seeded["guest"], PASSWORD)) as guest:
        assert guest.get(f"/api/v2.0/projects/{private}/repositories/app").status_code == 200
        refused = guest.put(f"/api/v2.0/projects/{private}/repositories/app", json={"description": "mine"})
        assert refused.status_code == 403
        assert guest.delete(f"/api/v2.0/projects/{private}/repositories/app").status_code == 403


async def test_harborapi_drives_the_repository_endpoints(berth, seeded):
    private = seeded["private"]
    client = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    repositories = await client.get_repositories(private)
    assert {r.name for r in repositories} >= {f"{private}/app", f"{private}/team/web"}
    web = await client.get_repository(private, "team/web")
    assert web.artifact_count == 1
    await client.update_repository(private, "team/web", Repository(description="the web"))
    assert (await client.get_repository(private, "team/web")).description == "the web"
    await client.delete_repository(private, "team/web")
    with pytest.raises(NotFound):
        await client.get_repository(private, "team/web")
    guest = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username=seeded["guest"], secret=PASSWORD,
                              timeout=30, retry=None)
    with pytest.raises(Forbidden):
        await guest.update_repository(private, "app", Repository(description="x"))


def test_manifest_gets_count_as_pulls_and_heads_do_not(tmp_path):
    server = start_berth(tmp_path / "data", env={"BERTH_PULL_COUNT_FLUSH_SECONDS": "0.2"}, projects=("counted",))
    try:
        image = build_image(seed=63, layers=1)
        index = build_index([image], [("linux", "amd64")])
        with V2(server.url, auth=server.auth) as v2:
            v2.push_image("counted/app", image, "v1")
            v2.push_image("counted/app", index, "multi")
            for _ in range(3):
                assert v2.get_manifest("counted/app", "v1", accept=OCI_MANIFEST).status_code == 200
            assert v2.http.head("/v2/counted/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
            deadline = time.monotonic() + 10
            while True:
                repo = v2.http.get("/api/v2.0/projects/counted/repositories/app").json()
                if repo["pull_count"] == 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert repo["pull_count"] == 3 and repo["artifact_count"] == 2
            art = v2.http.get("/api/v2.0/projects/counted/repositories/app/artifacts/v1").json()
            assert art["pull_time"] != "0001-01-01T00:00:00.000Z"
            assert [t["pull_time"] != "0001-01-01T00:00:00.000Z" for t in art["tags"]] == [True]
            multi = v2.http.get("/api/v2.0/projects/counted/repositories/app/artifacts/multi").json()
            assert multi["pull_time"] == "0001-01-01T00:00:00.000Z"  # never pulled
    finally:
        server.stop()
