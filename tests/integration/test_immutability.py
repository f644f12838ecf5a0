"""Tag immutability on a real server: the rules API (CRUD, validation, the limit, duplicates, RBAC,
audit), and immutable tags refused through /v2 (raw client and skopeo) and the Harbor API alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server

from .helpers import V2, Image, build_image, error_codes, unique, write_oci_layout
from .test_audit_log import add_member, make_user, wait_audit
from .test_skopeo import copy as skopeo_copy

PUSH_REFUSED = "Failed to process request due to '{repo}:{tag}' configured as immutable."
DELETE_REFUSED = "the tag {tag} configured as immutable, cannot be deleted"
UPDATE_REFUSED = "the tag {tag} configured as immutable, cannot be updated"


@pytest.fixture
def server(berth: Server) -> Server:
    """The session's berth: SQLite, and PostgreSQL when configured (each test makes its own projects)."""
    return berth


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def v2(server: Server) -> Iterator[V2]:
    with V2(server.url, auth=server.auth) as client:
        yield client


def new_project(api: httpx.Client) -> str:
    name = unique("immu")
    created = api.post("/api/v2.0/projects", json={"project_name": name, "metadata": {"public": "false"}})
    assert created.status_code == 201, created.text
    return name


def rule(tags: str = "**", repos: str = "**", *, tag_decoration: str = "matches",
         repo_decoration: str = "repoMatches", **extra: Any) -> dict[str, Any]:
    return {
        "action": "immutable", "template": "immutable_template", **extra,
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_decoration, "pattern": repos}]},
    }


def rules_path(project: str) -> str:
    return f"/api/v2.0/projects/{project}/immutabletagrules"


def add_rule(api: httpx.Client, project: str, body: dict[str, Any]) -> int:
    created = api.post(rules_path(project), json=body)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(rules_path(project) + "/")
    return int(location.rsplit("/", 1)[1])


def message(response: httpx.Response) -> str:
    return response.json()["errors"][0]["message"]


def artifact_path(repository: str, reference: str = "") -> str:
    project, _, repo = repository.partition("/")
    base = f"/api/v2.0/projects/{project}/repositories/{repo.replace('/', '%252F')}/artifacts"
    return f"{base}/{reference}" if reference else base


# --- the rules API ---------------------------------------------------------------------------------


def test_rules_are_created_listed_updated_and_deleted_in_harbors_shape(api):
    project = new_project(api)
    first = add_rule(api, project, rule(tags="v*", repos="app/**"))
    second = add_rule(api, project, rule(tags="latest", priority=3))

    listed = api.get(rules_path(project))
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    body = listed.json()
    assert [r["id"] for r in body] == [first, second]
    assert body[0] == {
        "id": first, "action": "immutable", "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "app/**"}]},
    }  # disabled false and priority 0 left out, as Harbor's omitempty does
    assert body[1]["priority"] == 3

    paged = api.get(rules_path(project), params={"page": 2, "page_size": 1})
    assert [r["id"] for r in paged.json()] == [second] and 'rel="prev"' in paged.headers["Link"]
    assert [r["id"] for r in api.get(rules_path(project), params={"sort": "-id"}).json()] == [second, first]
    assert [r["id"] for r in api.get(rules_path(project), params={"q": "priority=3"}).json()] == [second]

    # by id too, and with X-Is-Resource-Name
    project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    assert len(api.get(rules_path(str(project_id))).json()) == 2

    updated = api.put(f"{rules_path(project)}/{first}", json={**rule(tags="v*", repos="app/**"), "id": first,
                                                              "disabled": True})
    assert updated.status_code == 200, updated.text
    assert api.get(rules_path(project)).json()[0]["disabled"] is True

    assert api.delete(f"{rules_path(project)}/{first}").status_code == 200
    assert [r["id"] for r in api.get(rules_path(project)).json()] == [second]
    assert api.delete(f"{rules_path(project)}/{first}").status_code == 404


def test_bad_rules_are_refused_with_400_and_nothing_is_stored(api):
    project = new_project(api)
    bad = [
        (rule(tags=""), "tag_selectors[0].pattern can not be empty"),
        ({**rule(), "tag_selectors": []}, "tag_selectors can not be empty"),
        ({**rule(), "scope_selectors": {}}, "scope_selectors can not be empty"),
        (rule(tag_decoration="repoMatches"), "decoration"),
        ({**rule(), "action": "retain"}, "action"),
        ({**rule(), "tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": "x"}]}, "kind"),
        ({**rule(), "tag_selectors": "v*"}, "tag_selectors"),
    ]
    for body, expected in bad:
        response = api.post(rules_path(project), json=body)
        assert response.status_code == 400, (body, response.text)
        assert error_codes(response) == ["BAD_REQUEST"]
        assert expected in message(response), (body, message(response))
    assert api.get(rules_path(project)).headers["X-Total-Count"] == "0"


def test_update_needs_the_paths_id_in_the_body_and_a_rule_of_the_project(api):
    project, other = new_project(api), new_project(api)
    rule_id = add_rule(api, project, rule())
    mismatch = api.put(f"{rules_path(project)}/{rule_id}", json=rule())
    assert mismatch.status_code == 400
    assert message(mismatch) == "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule"
    assert api.put(f"{rules_path(other)}/{rule_id}", json={**rule(), "id": rule_id}).status_code == 404
    assert api.delete(f"{rules_path(other)}/{rule_id}").status_code == 404
    assert api.put(f"{rules_path(project)}/{rule_id + 1000}", json={**rule(), "id": rule_id + 1000}).status_code == 404
    assert api.get(rules_path(unique("missing"))).status_code == 404


def test_duplicates_conflict_and_a_project_holds_at_most_15_rules(api):
    project = new_project(api)
    first = add_rule(api, project, rule(tags="v0"))
    duplicate = api.post(rules_path(project), json={**rule(tags="v0"), "priority": 9})
    assert duplicate.status_code == 409 and message(duplicate) == "immutable rule already exists"
    second = add_rule(api, project, rule(tags="v1"))
    clash = api.put(f"{rules_path(project)}/{second}", json={**rule(tags="v0"), "id": second})
    assert clash.status_code == 409
    for n in range(2, 15):
        add_rule(api, project, rule(tags=f"v{n}"))
    over = api.post(rules_path(project), json=rule(tags="v15"))
    assert over.status_code == 400 and message(over) == "only 15 rules are allowed at most"
    assert api.get(rules_path(project)).headers["X-Total-Count"] == "15"
    assert api.delete(f"{rules_path(project)}/{first}").status_code == 200
    add_rule(api, project, rule(tags="v15"))


def test_project_admins_and_maintainers_manage_rules_developers_and_guests_may_not(server, api):
    project = new_project(api)
    rule_id = add_rule(api, project, rule())
    for role, allowed in ((1, True), (4, True), (2, False), (3, False)):
        name, password, _ = make_user(api, f"immu-role{role}")
        add_member(api, project, name, role)
        with httpx.Client(base_url=server.url, auth=(name, password), timeout=30) as member:
            listed = member.get(rules_path(project))
            created = member.post(rules_path(project), json=rule(tags=f"role-{role}"))
            updated = member.put(f"{rules_path(project)}/{rule_id}", json={**rule(), "id": rule_id, "priority": role})
            if allowed:
                assert (listed.status_code, created.status_code, updated.status_code) == (200, 201, 200)
            else:
                assert {listed.status_code, created.status_code, updated.status_code} == {403}, role
                assert member.delete(f"{rules_path(project)}/{rule_id}").status_code == 403
    assert httpx.get(f"{server.url}{rules_path(project)}").status_code == 401


def test_rule_changes_are_audited(api):
    project = new_project(api)
    rule_id = add_rule(api, project, rule(tags="release-*"))
    assert api.delete(f"{rules_path(project)}/{rule_id}").status_code == 200
    rows = wait_audit(api, f"resource={project}/{rule_id}", 2)
    assert {row["operation"] for row in rows} == {"create", "delete"}
    assert all(row["resource_type"] == "immutable_tag_rule" for row in rows)
    assert any("release-*" in row["operation_description"] for row in rows)


# --- enforcement -----------------------------------------------------------------------------------


def pushed(v2: V2, repository: str, tag: str, seed: int) -> Image:
    image = build_image(seed=seed, layers=1)
    v2.push_image(repository, image, tag)
    return image


def test_push_over_an_immutable_tag_is_refused_and_the_same_digest_may_be_pushed_again(api, v2):
    project = new_project(api)
    repository = f"{project}/team/app"
    add_rule(api, project, rule(tags="v*", repos="team/**"))
    first = pushed(v2, repository, "v1", 1)  # the first push of a matching tag is fine

    other = build_image(seed=2, layers=1)
    for blob in other.blobs:
        v2.push_blob(repository, blob)
    refused = v2.put_manifest(repository, "v1", other.manifest, other.media_type)
    assert refused.status_code == 412, refused.text
    assert error_codes(refused) == ["PRECONDITION"]
    assert message(refused) == PUSH_REFUSED.format(repo="team/app", tag="v1")
    assert v2.get_manifest(repository, "v1").headers["Docker-Content-Digest"] == first.digest

    again = v2.put_manifest(repository, "v1", first.manifest, first.media_type)
    assert again.status_code == 201, again.text
    # a tag no rule matches moves freely; the digest itself may be pushed
    assert v2.put_manifest(repository, "latest", other.manifest, other.media_type).status_code == 201
    assert v2.put_manifest(repository, "latest", first.manifest, first.media_type).status_code == 201
    assert v2.put_manifest(repository, other.digest, other.manifest, other.media_type).status_code == 201
    # ?tag= on a push by digest is held to the same rule
    tagged = v2.put_manifest(repository, other.digest, other.manifest, other.media_type, tag=["v1"])
    assert tagged.status_code == 412


def test_retagging_onto_a_new_name_is_allowed(api, v2):
    project = new_project(api)
    repository = f"{project}/app"
    add_rule(api, project, rule())
    image = pushed(v2, repository, "1.0", 3)
    assert v2.put_manifest(repository, "1.0-copy", image.manifest, image.media_type).status_code == 201
    created = api.post(f"{artifact_path(repository, '1.0')}/tags", json={"name": "stable"})
    assert created.status_code == 201, created.text
    tags = api.get(artifact_path(repository, image.digest), params={"with_immutable_status": "true"}).json()["tags"]
    assert sorted((t["name"], t["immutable"]) for t in tags) == [("1.0", True), ("1.0-copy", True), ("stable", True)]


def test_deleting_an_immutable_tag_or_its_artifact_is_refused_through_v2_and_the_api(api, v2):
    project = new_project(api)
    repository = f"{project}/app"
    rule_id = add_rule(api, project, rule(tags="prod-*"))
    image = pushed(v2, repository, "prod-1", 4)
    v2.put_manifest(repository, "dev", image.manifest, image.media_type)

    by_tag = v2.request("DELETE", f"/v2/{repository}/manifests/prod-1")
    assert by_tag.status_code == 412 and message(by_tag) == DELETE_REFUSED.format(tag="prod-1")
    by_digest = v2.request("DELETE", f"/v2/{repository}/manifests/{image.digest}")
    assert by_digest.status_code == 412 and message(by_digest) == DELETE_REFUSED.format(tag="prod-1")
    tag_api = api.delete(f"{artifact_path(repository, image.digest)}/tags/prod-1")
    assert tag_api.status_code == 412 and error_codes(tag_api) == ["PRECONDITION"]
    assert message(tag_api) == DELETE_REFUSED.format(tag="prod-1")
    artifact_api = api.delete(artifact_path(repository, image.digest))
    assert artifact_api.status_code == 412 and message(artifact_api) == DELETE_REFUSED.format(tag="prod-1")
    repository_api = api.delete(f"/api/v2.0/projects/{project}/repositories/app")
    assert repository_api.status_code == 412

    # a tag no rule holds goes as usual; everything is still there
    assert v2.request("DELETE", f"/v2/{repository}/manifests/dev").status_code == 202
    assert v2.get_manifest(repository, "prod-1").status_code == 200

    # a disabled rule holds nothing
    disabled = api.put(f"{rules_path(project)}/{rule_id}", json={**rule(tags="prod-*"), "id": rule_id,
                                                                 "disabled": True})
    assert disabled.status_code == 200
    assert api.delete(artifact_path(repository, image.digest)).status_code == 200


def test_copy_does_not_move_an_immutable_tag_of_the_target(api, v2):
    project = new_project(api)
    add_rule(api, project, rule(tags="v1", repos="target"))
    old = pushed(v2, f"{project}/target", "v1", 5)
    new = pushed(v2, f"{project}/source", "v1", 6)
    copied = api.post(artifact_path(f"{project}/target"), params={"from": f"{project}/source@{new.digest}"})
    assert copied.status_code == 412, copied.text
    assert message(copied) == UPDATE_REFUSED.format(tag="v1")
    assert v2.get_manifest(f"{project}/target", "v1").headers["Docker-Content-Digest"] == old.digest


def test_with_immutable_status_marks_each_tag(api, v2):
    project = new_project(api)
    repository = f"{project}/web"
    add_rule(api, project, rule(tags="{latest,stable}", repos="{web,api}"))
    add_rule(api, project, rule(tags="v?", repos="web", tag_decoration="matches"))
    image = pushed(v2, repository, "latest", 7)
    for tag in ("v1", "v10", "dev"):
        v2.put_manifest(repository, tag, image.manifest, image.media_type)

    listed = api.get(artifact_path(repository), params={"with_immutable_status": "true"}).json()
    assert {t["name"]: t["immutable"] for t in listed[0]["tags"]} == {
        "latest": True, "v1": True, "v10": False, "dev": False}
    tags = api.get(f"{artifact_path(repository, 'latest')}/tags", params={"with_immutable_status": "true"}).json()
    assert {t["name"]: t["immutable"] for t in tags} == {"latest": True, "v1": True, "v10": False, "dev": False}
    plain = api.get(artifact_path(repository, "latest")).json()
    assert not any(t.get("immutable") for t in plain["tags"])


def test_rules_apply_at_once_on_the_node_that_changed_them(api, v2):
    project = new_project(api)
    repository = f"{project}/app"
    image = pushed(v2, repository, "v1", 8)
    v2.put_manifest(repository, "v2", image.manifest, image.media_type)
    assert v2.request("DELETE", f"/v2/{repository}/manifests/v2").status_code == 202
    rule_id = add_rule(api, project, rule())
    assert v2.request("DELETE", f"/v2/{repository}/manifests/v1").status_code == 412
    assert api.delete(f"{rules_path(project)}/{rule_id}").status_code == 200
    assert v2.request("DELETE", f"/v2/{repository}/manifests/v1").status_code == 202


def test_skopeo_cannot_push_over_an_immutable_tag(server, api, skopeo, tmp_path: Path):
    project = new_project(api)
    add_rule(api, project, rule(tags="1.*"))
    ref = f"docker://{server.host}/{project}/app:1.0"
    first, second = build_image(seed=9, layers=2), build_image(seed=10, layers=2)
    skopeo_copy(skopeo, f"oci:{write_oci_layout(tmp_path / 'a', {'x': first})}:x", ref, tmp_path)
    # the same image again is fine; another one under the tag is refused
    skopeo_copy(skopeo, f"oci:{write_oci_layout(tmp_path / 'a', {'x': first})}:x", ref, tmp_path)
    with pytest.raises(AssertionError, match="immutable"):
        skopeo_copy(skopeo, f"oci:{write_oci_layout(tmp_path / 'b', {'x': second})}:x", ref, tmp_path)
    with V2(server.url, auth=server.auth) as v2:
        assert v2.get_manifest(f"{project}/app", "1.0").headers["Docker-Content-Digest"] == first.digest
