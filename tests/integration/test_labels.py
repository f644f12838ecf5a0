"""Global and project labels: who manages them, attaching them to artifacts, filtering by them."""

from __future__ import annotations

import uuid

import httpx
from harborapi import HarborAsyncClient
from harborapi.models import Label

from .helpers import V2, build_image, unique

PASSWORD = "Passw0rd-labels"


def _id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_labels_are_made_attached_filtered_and_removed(berth):
    project, other = unique("labelled"), unique("elsewhere")
    first, second = build_image(seed=101, layers=1), build_image(seed=102, layers=1)
    with V2(berth.url, auth=berth.auth) as v2:
        api = v2.http
        v2.create_project(project)
        v2.create_project(other)
        v2.push_image(f"{project}/app", first, "v1")
        v2.push_image(f"{project}/app", second, "v2")
        project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        other_id = api.get(f"/api/v2.0/projects/{other}").json()["project_id"]
        prod = _id(api.post("/api/v2.0/labels", json={"name": f"prod-{uuid.uuid4().hex[:6]}", "scope": "g", "color": "#00ff00"}))
        team = _id(api.post("/api/v2.0/labels", json={"name": "team", "scope": "p", "project_id": project_id}))
        foreign = _id(api.post("/api/v2.0/labels", json={"name": "team", "scope": "p", "project_id": other_id}))
        assert api.post("/api/v2.0/labels", json={"name": "team", "scope": "p", "project_id": project_id}).status_code == 409
        for bad in ({"name": "", "scope": "g"}, {"name": "x", "scope": "z"}, {"name": "x", "scope": "p"},
                    {"name": "x", "scope": "g", "color": "green"}):
            assert api.post("/api/v2.0/labels", json=bad).status_code == 400, bad
        base = f"/api/v2.0/projects/{project}/repositories/app/artifacts"
        assert api.post(f"{base}/v1/labels", json={"id": prod}).status_code == 200
        assert api.post(f"{base}/v1/labels", json={"id": team}).status_code == 200
        assert api.post(f"{base}/v2/labels", json={"id": team}).status_code == 200
        assert api.post(f"{base}/v1/labels", json={"id": prod}).status_code == 409
        assert api.post(f"{base}/v1/labels", json={"id": foreign}).status_code == 400
        v1 = api.get(f"{base}/v1", params={"with_label": "true"}).json()
        assert sorted(label["id"] for label in v1["labels"]) == sorted([prod, team])

        def digests(q: str) -> set[str]:
            response = api.get(base, params={"q": q})
            assert response.status_code == 200, response.text
            return {a["digest"] for a in response.json()}

        assert digests(f"labels={prod}") == {first.digest}
        assert digests(f"labels=({prod} {team})") == {first.digest}
        assert digests(f"labels={{{prod} {team}}}") == {first.digest, second.digest}
        assert api.get(base, params={"q": "labels=prod"}).status_code == 400
        listed = api.get("/api/v2.0/labels", params={"scope": "p", "project_id": project_id}).json()
        assert [label["name"] for label in listed] == ["team"]
        assert api.put(f"/api/v2.0/labels/{team}", json={"name": "squad", "color": "#123"}).status_code == 200
        assert api.get(f"/api/v2.0/labels/{team}").json()["name"] == "squad"
        assert api.delete(f"{base}/v2/labels/{team}").status_code == 200
        assert api.delete(f"{base}/v2/labels/{team}").status_code == 404
        assert api.delete(f"/api/v2.0/labels/{prod}").status_code == 200  # off every artifact too
        assert [label["id"] for label in api.get(f"{base}/v1", params={"with_label": "true"}).json()["labels"]] == [team]
    anonymous = httpx.get(f"{berth.url}/api/v2.0/labels", params={"scope": "g"})
    assert anonymous.status_code == 200  # global labels are listed for everyone, as in Harbor
    assert httpx.get(f"{berth.url}/api/v2.0/labels", params={"scope": "p", "project_id": project_id}).status_code == 401


def test_who_may_manage_and_attach_labels(berth):
    project = unique("label-roles")
    image = build_image(seed=103, layers=1)
    with V2(berth.url, auth=berth.auth) as v2:
        api = v2.http
        v2.create_project(project)
        v2.push_image(f"{project}/app", image, "v1")
        project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        label = _id(api.post("/api/v2.0/labels", json={"name": "qa", "scope": "p", "project_id": project_id}))
        users = {}
        for role_id, role in ((2, "developer"), (4, "maintainer"), (3, "guest")):
            name = f"{role}-{uuid.uuid4().hex[:6]}"
            assert api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                     "password": PASSWORD}).status_code == 201
            assert api.post(f"/api/v2.0/projects/{project}/members",
                            json={"role_id": role_id, "member_user": {"username": name}}).status_code == 201
            users[role] = (name, PASSWORD)
    base = f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1/labels"
    with httpx.Client(base_url=berth.url, auth=users["developer"]) as developer:
        assert developer.post("/api/v2.0/labels", json={"name": "dev", "scope": "p", "project_id": project_id}).status_code == 403
        assert developer.post("/api/v2.0/labels", json={"name": "dev", "scope": "g"}).status_code == 403
        assert developer.post(base, json={"id": label}).status_code == 200  # artifact-label create
    with httpx.Client(base_url=berth.url, auth=users["maintainer"]) as maintainer:
        assert maintainer.post("/api/v2.0/labels", json={"name": "mnt", "scope": "p", "project_id": project_id}).status_code == 201
    with httpx.Client(base_url=berth.url, auth=users["guest"]) as guest:
        assert guest.delete(f"{base}/{label}").status_code == 403
        assert guest.get("/api/v2.0/labels", params={"scope": "p", "project_id": project_id}).status_code == 200


async def test_harborapi_manages_labels(berth):
    client = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    name = f"hapi-{uuid.uuid4().hex[:6]}"
    location = await client.create_label(Label(name=name, scope="g", color="#abcdef", description="from harborapi"))
    label_id = int(location.rsplit("/", 1)[1])
    label = await client.get_label(label_id)
    assert label.name == name and label.color == "#abcdef"
    assert any(item.id == label_id for item in await client.get_labels(scope="g", name=name))
    await client.update_label(label_id, Label(description="changed"))
    assert (await client.get_label(label_id)).description == "changed"
    await client.delete_label(label_id)
