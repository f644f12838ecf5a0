"""Who may do what, on the wire: every role, anonymous, outsiders, admins and robots, against a private
and a public project, through /v2 (Docker token flow) and /api/v2.0 (Basic auth).

The expected outcomes are written out from Harbor's role table (shared/reference/harbor/behaviours.md
section f), not computed from berth's code. Every denied call is checked to have changed nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from .helpers import OCI_MANIFEST, V2, build_image, unique


#: SQLite only (make test's time): the decisions are auth/rbac.py's tables, the same whatever database holds the memberships (the API tests on PostgreSQL read those too)
pytestmark = pytest.mark.sqlite_only

PASSWORD = "Passw0rd-matrix"
ROLES = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}
ACTIONS = ("pull", "push", "tag", "delete", "delete_repository", "read_project", "list_members", "add_member", "add_robot", "update_metadata", "read_audit")

_ALL = set(ACTIONS)
_READ = {"pull", "read_project"}
#: (subject) -> allowed actions in a private project it belongs to (Harbor's table)
PRIVATE: dict[str, set[str]] = {
    "anonymous": set(),
    "outsider": set(),
    "limitedGuest": _READ,
    "guest": _READ | {"list_members"},
    "developer": _READ | {"list_members", "push", "tag"},
    "maintainer": _READ | {"list_members", "push", "tag", "delete", "delete_repository"},
    "projectAdmin": _ALL,
    "sysadmin": _ALL,
    "robot-pull": {"pull"},
    "robot-push": {"pull", "push", "tag"},
}
#: in a public project everyone may also pull and read the project
PUBLIC = {subject: allowed | _READ for subject, allowed in PRIVATE.items()}


@dataclass
class World:
    url: str
    admin: tuple[str, str]
    projects: dict[str, str]  # "private"/"public" -> project name
    creds: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)  # (subject, visibility)
    image_digest: str = ""


def _check(response: httpx.Response, *ok: int) -> None:
    assert response.status_code in ok, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"


@pytest.fixture(scope="module")
def world(berth) -> World:
    admin = berth.auth
    assert admin is not None
    projects = {"private": unique("matrix-private"), "public": unique("matrix-public")}
    w = World(berth.url, admin, projects)
    image = build_image(seed=77, layers=1)
    w.image_digest = image.digest
    with V2(berth.url, auth=admin) as v2, berth.client() as api:
        for visibility, project in projects.items():
            v2.create_project(project, public=visibility == "public")
            v2.push_image(f"{project}/app", image, "v1")
            for subject in PRIVATE:
                v2.push_image(f"{project}/del-{subject.lower()}", image, "v1")
                v2.push_image(f"{project}/gone-{subject.lower()}/nested", image, "v1")
        for subject in ("outsider", "sysadmin", *ROLES):
            name = f"{subject.lower()}-{uuid.uuid4().hex[:6]}"
            _check(api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                       "password": PASSWORD, "realname": subject}), 201)
            user_id = int(api.get("/api/v2.0/users/search", params={"username": name}).json()[0]["user_id"])
            if subject == "sysadmin":
                _check(api.put(f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": True}), 200)
            for visibility, project in projects.items():
                if subject in ROLES:
                    _check(api.post(f"/api/v2.0/projects/{project}/members",
                                    json={"role_id": ROLES[subject], "member_user": {"username": name}}), 201)
                w.creds[(subject, visibility)] = (name, PASSWORD)
        for visibility, project in projects.items():
            w.creds[("anonymous", visibility)] = None
            for subject, actions in (("robot-pull", ["pull"]), ("robot-push", ["push"])):
                body = {"name": f"{subject}-{uuid.uuid4().hex[:6]}", "level": "project", "duration": -1,
                        "permissions": [{"kind": "project", "namespace": project,
                                         "access": [{"resource": "repository", "action": a} for a in actions]}]}
                created = api.post("/api/v2.0/robots", json=body)
                _check(created, 201)
                w.creds[(subject, visibility)] = (created.json()["name"], created.json()["secret"])
    return w


def _token(world: World, creds: tuple[str, str] | None, repository: str, actions: str) -> str:
    response = httpx.get(f"{world.url}/service/token", auth=creds,
                         params={"service": "harbor-registry", "scope": f"repository:{repository}:{actions}"})
    _check(response, 200)
    return response.json()["token"]


def _v2(world: World, creds, repository: str, actions: str) -> httpx.Client:  # type: ignore[no-untyped-def]
    token = _token(world, creds, repository, actions)
    return httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _api(world: World, creds) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=world.url, auth=creds, timeout=30)


def _admin(world: World) -> httpx.Client:
    return _api(world, world.admin)


def attempt(world: World, subject: str, visibility: str, action: str) -> bool:
    """Try `action` as `subject`; True when it was allowed. A refusal must leave the state untouched."""
    creds = world.creds[(subject, visibility)]
    project = world.projects[visibility]
    repo = f"{project}/app"
    with _admin(world) as admin:
        if action == "pull":
            with _v2(world, creds, repo, "pull") as c:
                r = c.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
            return _outcome(r, 200)
        if action == "push":
            before = admin.get(f"/v2/{repo}/tags/list").json()
            with _v2(world, creds, repo, "pull,push") as c:
                r = c.post(f"/v2/{repo}/blobs/uploads/")
            allowed = _outcome(r, 202)
            if allowed:
                with _v2(world, creds, repo, "pull,push") as c:
                    _check(c.delete(r.headers["location"]), 204)
            assert admin.get(f"/v2/{repo}/tags/list").json() == before
            return allowed
        if action == "tag":
            tag = f"by-{subject}"
            manifest = admin.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}).content
            with _v2(world, creds, repo, "pull,push") as c:
                r = c.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
            allowed = _outcome(r, 201)
            assert (tag in admin.get(f"/v2/{repo}/tags/list").json()["tags"]) == allowed
            return allowed
        if action == "delete":
            target = f"{project}/del-{subject.lower()}"
            with _v2(world, creds, target, "delete") as c:
                r = c.delete(f"/v2/{target}/manifests/{world.image_digest}")
            allowed = _outcome(r, 202)
            still = admin.get(f"/v2/{target}/manifests/{world.image_digest}", headers={"Accept": OCI_MANIFEST})
            assert still.status_code == (404 if allowed else 200)
            return allowed
    with _api(world, creds) as c, _admin(world) as admin:
        if action == "delete_repository":
            inner = f"gone-{subject.lower()}/nested"
            allowed = _outcome(c.delete(f"/api/v2.0/projects/{project}/repositories/{inner.replace('/', '%252F')}"), 200)
            catalog = admin.get("/v2/_catalog", params={"n": 100000}).json()["repositories"]
            assert (f"{project}/{inner}" in catalog) != allowed
            return allowed
        if action == "read_project":
            return _outcome(c.get(f"/api/v2.0/projects/{project}"), 200)
        if action == "read_audit":  # the project's audit log: log:list, project admins only
            return _outcome(c.get(f"/api/v2.0/projects/{project}/logs"), 200)
        if action == "list_members":
            return _outcome(c.get(f"/api/v2.0/projects/{project}/members"), 200)
        if action == "add_member":
            name = f"target-{uuid.uuid4().hex[:8]}"
            _check(admin.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                         "password": PASSWORD}), 201)
            before = admin.get(f"/api/v2.0/projects/{project}/members", params={"page_size": 100}).json()
            r = c.post(f"/api/v2.0/projects/{project}/members", json={"role_id": 3, "member_user": {"username": name}})
            allowed = _outcome(r, 201)
            after = admin.get(f"/api/v2.0/projects/{project}/members", params={"page_size": 100}).json()
            assert len(after) == len(before) + (1 if allowed else 0)
            return allowed
        if action == "add_robot":
            name = f"made-{uuid.uuid4().hex[:8]}"
            body = {"name": name, "level": "project", "duration": 30,
                    "permissions": [{"kind": "project", "namespace": project,
                                     "access": [{"resource": "repository", "action": "pull"}]}]}
            allowed = _outcome(c.post("/api/v2.0/robots", json=body), 201)
            pid = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]
            robots = admin.get("/api/v2.0/robots", params={"q": f"Level=project,ProjectID={pid}", "page_size": 100}).json()
            assert any(r["name"].endswith(f"+{name}") for r in robots) == allowed
            return allowed
        if action == "update_metadata":
            before = admin.get(f"/api/v2.0/projects/{project}").json()["metadata"].get("auto_scan")
            wanted = "false" if before == "true" else "true"
            allowed = _outcome(c.put(f"/api/v2.0/projects/{project}", json={"metadata": {"auto_scan": wanted}}), 200)
            after = admin.get(f"/api/v2.0/projects/{project}").json()["metadata"].get("auto_scan")
            assert (after == wanted) == allowed
            return allowed
    raise AssertionError(action)


def _outcome(response: httpx.Response, ok: int) -> bool:
    """Allowed (the success status), or refused the way Harbor refuses: 401 or 403 in its error shape."""
    if response.status_code == ok:
        return True
    assert response.status_code in (401, 403), f"{response.request.url}: {response.status_code} {response.text}"
    assert response.json()["errors"][0]["code"] in ("UNAUTHORIZED", "FORBIDDEN", "DENIED")
    return False


@pytest.mark.parametrize("visibility", ["private", "public"])
@pytest.mark.parametrize("subject", list(PRIVATE))
def test_each_subject_can_do_exactly_what_harbors_role_table_allows(world, subject, visibility):
    expected = (PRIVATE if visibility == "private" else PUBLIC)[subject]
    outcomes = {action: attempt(world, subject, visibility, action) for action in ACTIONS}
    allowed = {action for action, ok in outcomes.items() if ok}
    assert allowed == expected, f"{subject} in a {visibility} project: allowed {sorted(allowed)}, expected {sorted(expected)}"


def test_a_token_for_one_repository_does_not_open_another(world):
    creds = world.creds[("developer", "private")]
    project = world.projects["private"]
    token = _token(world, creds, f"{project}/app", "pull,push")
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        other = c.get(f"/v2/{project}/del-guest/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert other.status_code == 401
        assert other.headers["www-authenticate"].startswith("Bearer realm=")
        assert f'scope="repository:{project}/del-guest:pull"' in other.headers["www-authenticate"]


def test_anonymous_catalog_shows_only_public_projects_and_members_see_their_own(world):
    private, public = world.projects["private"], world.projects["public"]

    def catalog(creds) -> list[str]:  # type: ignore[no-untyped-def]
        with _api(world, creds) as c:
            return c.get("/v2/_catalog", params={"n": 10000}).json()["repositories"]

    anonymous = catalog(None)
    assert f"{public}/app" in anonymous and not any(r.startswith(f"{private}/") for r in anonymous)
    member = catalog(world.creds[("guest", "private")])
    assert f"{private}/app" in member and f"{public}/app" in member
    outsider = catalog(world.creds[("outsider", "private")])
    assert not any(r.startswith(f"{private}/") for r in outsider)

