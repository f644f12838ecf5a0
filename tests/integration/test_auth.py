"""Authentication on the wire: the token service, skopeo with robot and user credentials, forged and
stale tokens, first-start admin, throttled logins, and secrets kept out of the logs."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import start_berth

from .helpers import OCI_MANIFEST, V2, build_image, unique, write_oci_layout

PASSWORD = "Passw0rd-auth"


def _user(api: httpx.Client, prefix: str = "user") -> tuple[str, int]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    created = api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test", "password": PASSWORD})
    assert created.status_code == 201, created.text
    return name, int(created.headers["location"].rsplit("/", 1)[1])


def _robot(api: httpx.Client, project: str, actions: list[str], **extra: object) -> dict:
    body = {"name": f"ci-{uuid.uuid4().hex[:8]}", "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": project,
                             "access": [{"resource": "repository", "action": a} for a in actions]}], **extra}
    created = api.post("/api/v2.0/robots", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def _token(url: str, auth: tuple[str, str] | None, *scopes: str, **params: str) -> httpx.Response:
    return httpx.get(f"{url}/service/token", auth=auth,
                     params=[("service", "harbor-registry"), *(("scope", s) for s in scopes), *params.items()])


def _skopeo(skopeo: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    empty = tmp / "no-auth.json"
    empty.write_text('{"auths": {}}')
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(empty)}  # only the credentials given on the command line
    return subprocess.run([skopeo, "--insecure-policy", "--tmpdir", str(tmp), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_skopeo_pushes_with_a_robot_secret_and_pulls_with_a_user_password(skopeo, berth, tmp_path):
    with berth.client() as api:
        project = unique("ci")
        V2(berth.url, auth=berth.auth).create_project(project)
        robot = _robot(api, project, ["push"])
        developer, user_id = _user(api, "dev")
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 2, "member_user": {"user_id": user_id}}).status_code == 201
    image = build_image(seed=31, layers=2)
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    ref = f"docker://{berth.host}/{project}/app:1"
    pushed = _skopeo(skopeo, tmp_path, "copy", "--dest-tls-verify=false",
                     "--dest-creds", f"{robot['name']}:{robot['secret']}", f"oci:{layout}:v1", ref)
    assert pushed.returncode == 0, pushed.stderr
    pulled = _skopeo(skopeo, tmp_path, "inspect", "--tls-verify=false", "--creds", f"{developer}:{PASSWORD}", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["Digest"] == image.digest
    anonymous = _skopeo(skopeo, tmp_path, "inspect", "--tls-verify=false", "--no-creds", ref)
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower()


def test_wrong_passwords_and_disabled_or_expired_robots_are_refused_at_once(skopeo, fresh_berth, tmp_path):
    server = fresh_berth
    with server.client() as api:
        project = unique("ci")
        V2(server.url, auth=server.auth).create_project(project)
        disabled = _robot(api, project, ["pull"])
        expiring = _robot(api, project, ["pull"], duration=30)
        name, _ = _user(api)
        assert api.put(f"/api/v2.0/robots/{disabled['id']}", json={
            "name": disabled["name"], "level": "project", "disable": True, "duration": -1,
            "permissions": [{"kind": "project", "namespace": project,
                             "access": [{"resource": "repository", "action": "pull"}]}]}).status_code == 200
    with sqlite3.connect(server.data_dir / "berth.db") as db:  # let 30 days pass for one robot
        db.execute("UPDATE robots SET expires_at = ? WHERE id = ?", (int(time.time()) - 5, expiring["id"]))
    scope = f"repository:{project}/app:pull"
    for credentials in ((name, "Wrong-passw0rd"), (disabled["name"], disabled["secret"]),
                        (expiring["name"], expiring["secret"]), ("nobody-at-all", PASSWORD)):
        started = time.monotonic()
        refused = _token(server.url, credentials, scope)
        assert refused.status_code == 401, credentials[0]
        assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert time.monotonic() - started < 2.0
        direct = httpx.get(f"{server.url}/v2/", auth=credentials)
        assert direct.status_code == 401 and direct.headers["www-authenticate"] == 'Basic realm="harbor"'
    result = _skopeo(skopeo, tmp_path, "inspect", "--tls-verify=false", "--creds", f"{name}:Wrong-passw0rd",
                     f"docker://{server.host}/{project}/app:1")
    assert result.returncode != 0 and "unauthorized" in result.stderr.lower()


def _signing_key(server) -> tuple[rsa.RSAPrivateKey, str]:  # type: ignore[no-untyped-def]
    path = sorted((server.data_dir / "keys").glob("token-*.pem"))[-1]
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    good = _token(server.url, server.auth, "repository:library/x:pull").json()["token"]
    return key, jwt.get_unverified_header(good)["kid"]


def _claims(repository: str, **overrides: object) -> dict:
    now = int(time.time())
    return {"iss": "harbor-token-issuer", "sub": "admin", "aud": "harbor-registry", "iat": now, "nbf": now,
            "exp": now + 600, "jti": uuid.uuid4().hex,
            "access": [{"type": "repository", "name": repository, "actions": ["pull", "push"]}], **overrides}


def test_forged_expired_and_wrongly_signed_tokens_are_refused(fresh_berth):
    server = fresh_berth
    key, kid = _signing_key(server)
    repository = "library/forged"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    good = jwt.encode(_claims(repository), key, algorithm="RS256", headers={"kid": kid})
    header, payload, signature = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(json.dumps(
        _claims("library/other")).encode()).decode()
    bad = {
        "expired": jwt.encode(_claims(repository, exp=int(time.time()) - 60, iat=int(time.time()) - 700),
                              key, algorithm="RS256", headers={"kid": kid}),
        "another key": jwt.encode(_claims(repository), stranger, algorithm="RS256", headers={"kid": kid}),
        "unknown kid": jwt.encode(_claims(repository), key, algorithm="RS256", headers={"kid": "AAAA:BBBB"}),
        "wrong audience": jwt.encode(_claims(repository, aud="someone-else"), key, algorithm="RS256", headers={"kid": kid}),
        "wrong issuer": jwt.encode(_claims(repository, iss="me"), key, algorithm="RS256", headers={"kid": kid}),
        "alg none": jwt.encode(_claims(repository), None, algorithm="none", headers={"kid": kid}),
        "hs256 with the public key": _hs256(_claims(repository), public_pem, kid),
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "garbage": "not.a.token",
    }
    with httpx.Client(base_url=server.url) as http:
        control = http.post(f"/v2/{repository}/blobs/uploads/", headers={"Authorization": f"Bearer {good}"})
        assert control.status_code == 202, control.text
        for what, token in bad.items():
            response = http.post(f"/v2/{repository}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, what
            assert response.json()["errors"][0]["code"] == "UNAUTHORIZED", what


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def test_a_token_issued_before_its_project_was_recreated_is_refused(berth):
    project = unique("again")
    with berth.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        token = _token(berth.url, berth.auth, f"repository:{project}/app:pull,push").json()["token"]
        assert api.delete(f"/api/v2.0/projects/{project}").status_code == 200
        time.sleep(1.1)  # token times have whole seconds
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    response = httpx.post(f"{berth.url}/v2/{project}/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_the_token_service_grants_per_scope_only_what_rbac_allows(berth):
    with berth.client() as api:
        public, private = unique("open"), unique("closed")
        assert api.post("/api/v2.0/projects", json={"project_name": public, "metadata": {"public": "true"}}).status_code == 201
        assert api.post("/api/v2.0/projects", json={"project_name": private}).status_code == 201
        name, user_id = _user(api)
        assert api.post(f"/api/v2.0/projects/{private}/members",
                        json={"role_id": 3, "member_user": {"user_id": user_id}}).status_code == 201
    response = _token(berth.url, (name, PASSWORD), f"repository:{public}/a:pull,push",
                      f"repository:{private}/b:pull,push,delete repository:nowhere-{uuid.uuid4().hex[:6]}/c:pull",
                      "registry:catalog:*")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 1800 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["iss"] == "harbor-token-issuer" and claims["aud"] == "harbor-registry" and claims["sub"] == name
    granted = {(entry["type"], entry["name"]): entry["actions"] for entry in claims["access"]}
    assert granted[("repository", f"{public}/a")] == ["pull"]
    assert granted[("repository", f"{private}/b")] == ["pull"]
    assert [v for k, v in granted.items() if k[1].startswith("nowhere-")] == [[]]
    assert granted[("registry", "catalog")] == ["*"]
    anonymous = _token(berth.url, None, f"repository:{private}/b:pull").json()["token"]
    assert jwt.decode(anonymous, options={"verify_signature": False})["access"][0]["actions"] == []


@pytest.mark.parametrize("params,status", [
    ({"scope": "repository:library/a"}, 400),
    ({"scope": "repository::pull"}, 400),
    ({"scope": "nonsense"}, 400),
    ({"scope": "repository:library/a:pu$h"}, 400),
    ({"service": "another-registry", "scope": "repository:library/a:pull"}, 400),
])
def test_malformed_token_requests_get_a_400_in_harbors_error_shape(berth, params, status):
    response = httpx.get(f"{berth.url}/service/token", params=params, auth=berth.auth)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_too_many_scopes_and_anonymous_login_are_refused(berth):
    many = [f"repository:library/r{i}:pull" for i in range(40)]
    assert _token(berth.url, berth.auth, *many).status_code == 400
    assert _token(berth.url, None).status_code == 401  # docker login without credentials


def test_first_start_prints_a_generated_admin_password_once_and_creates_a_public_library(tmp_path):
    server = start_berth(tmp_path / "data", admin_password=None, env={"BERTH_LOG_LEVEL": "debug"})
    try:
        match = re.search(r"user 'admin' with the password: (\S+)", server.log())
        assert match, server.log()
        password = match.group(1)
        with httpx.Client(base_url=server.url, auth=("admin", password)) as api:
            assert api.get("/api/v2.0/users/current").json()["username"] == "admin"
            library = api.get("/api/v2.0/projects/library").json()
            assert library["metadata"]["public"] == "true"
        anonymous = httpx.get(f"{server.url}/api/v2.0/projects", params={"name": "library"}).json()
        assert [p["name"] for p in anonymous] == ["library"]
    finally:
        server.stop()
    first_log = server.log()
    assert first_log.count(password) == 1
    again = start_berth(tmp_path / "data", admin_password=None, port=server.port)
    try:
        assert password not in again.log()
        assert httpx.get(f"{again.url}/v2/", auth=("admin", password)).status_code == 200
    finally:
        again.stop()


def test_the_admin_password_comes_from_the_environment_and_pushing_needs_an_existing_project(fresh_berth):
    with fresh_berth.client() as http:
        assert http.get("/v2/").status_code == 200
        missing = http.post("/v2/no-such-project/app/blobs/uploads/")
        assert missing.status_code == 401
        assert "project no-such-project not found" in missing.json()["errors"][0]["message"]
        single = http.post("/v2/lonely/blobs/uploads/")
        assert single.status_code == 401
        assert http.get("/v2/_catalog").json() == {"repositories": []}


def test_failed_logins_are_throttled_per_user_and_per_address_with_a_clear_429(tmp_path):
    server = start_berth(tmp_path / "data", env={"BERTH_LOGIN_FAILURES_PER_USER": "3",
                                                 "BERTH_LOGIN_FAILURES_PER_ADDRESS": "6"}, projects=())
    try:
        with httpx.Client(base_url=server.url) as http:
            for _ in range(3):
                assert http.get("/v2/", auth=("admin", "Wrong-passw0rd")).status_code == 401
            blocked = http.get("/api/v2.0/users/current", auth=("admin", "Wrong-passw0rd"))
            assert blocked.status_code == 429
            assert blocked.json()["errors"][0] == {
                "code": "TOO_MANY_REQUEST", "message": blocked.json()["errors"][0]["message"]}
            assert "too many failed logins" in blocked.json()["errors"][0]["message"]
            # even the right password waits: the check happens before any password is looked at
            assert http.get("/v2/", auth=server.auth).status_code == 429
            assert _token(server.url, server.auth, "repository:library/a:pull").status_code == 429
            for i in range(3):  # three more failures from this address, on other names
                assert http.get("/v2/", auth=(f"someone-{i}", "Wrong-passw0rd")).status_code == 401
            assert http.get("/v2/", auth=("someone-else", "Wrong-passw0rd")).status_code == 429
    finally:
        server.stop()


def test_no_password_secret_or_token_ever_reaches_the_log(tmp_path, skopeo):
    server = start_berth(tmp_path / "data", env={"BERTH_LOG_LEVEL": "debug"}, projects=("ci",))
    secrets: list[str] = [server.admin_password]
    try:
        with server.client() as api:
            name, _ = _user(api)
            secrets.append(PASSWORD)
            robot = _robot(api, "ci", ["push"])
            secrets.append(robot["secret"])
            token = _token(server.url, (name, PASSWORD), "repository:ci/app:pull").json()["token"]
            secrets.append(token)
            refreshed = api.patch(f"/api/v2.0/robots/{robot['id']}", json={}).json()["secret"]
            secrets.append(refreshed)
            assert api.put(f"/api/v2.0/users/{_}/password", json={"new_password": "Another-passw0rd"}).status_code == 200
            secrets.append("Another-passw0rd")
            httpx.get(f"{server.url}/v2/", auth=(name, "Wrong-but-secret-1"))
            secrets.append("Wrong-but-secret-1")
            httpx.get(f"{server.url}/v2/ci/app/tags/list", headers={"Authorization": f"Bearer {token}"})
            login = httpx.post(f"{server.url}/c/login", data={"principal": "admin", "password": server.admin_password})
            assert login.status_code == 200
            secrets.append(login.cookies["sid"])
        image = build_image(seed=5, layers=1)
        layout = write_oci_layout(tmp_path / "layout", {"v1": image})
        pushed = _skopeo(skopeo, tmp_path, "copy", "--dest-tls-verify=false", "--dest-creds",
                         f"{robot['name']}:{refreshed}", f"oci:{layout}:v1", f"docker://{server.host}/ci/app:1")
        assert pushed.returncode == 0, pushed.stderr
    finally:
        server.stop()
    log = server.log()
    assert "login refused" in log  # the log does record the failure, by name and address
    for secret in secrets:
        assert secret not in log


def test_robot_secrets_are_stored_hashed(fresh_berth):
    with fresh_berth.client() as api:
        project = unique("ci")
        V2(fresh_berth.url, auth=fresh_berth.auth).create_project(project)
        robot = _robot(api, project, ["pull"])
        name, _ = _user(api)
    with sqlite3.connect(fresh_berth.data_dir / "berth.db") as db:
        stored = db.execute("SELECT secret_hash FROM robots WHERE id = ?", (robot["id"],)).fetchone()[0]
        password_hash = db.execute("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()[0]
    assert stored.startswith("$argon2id$") and robot["secret"] not in stored
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash
    raw = (fresh_berth.data_dir / "berth.db").read_bytes()
    assert robot["secret"].encode() not in raw and PASSWORD.encode() not in raw


def test_an_oci_manifest_pull_with_a_robot_token_works_like_docker(berth):
    project = unique("ci")
    with berth.client() as api:
        V2(berth.url, auth=berth.auth).create_project(project)
        robot = _robot(api, project, ["push"])
    image = build_image(seed=8, layers=1)
    with V2(berth.url, auth=(robot["name"], robot["secret"])) as v2:
        v2.push_image(f"{project}/app", image, "v1")
    challenge = httpx.get(f"{berth.url}/v2/{project}/app/manifests/v1")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"] == (
        f'Bearer realm="{berth.url}/service/token",service="harbor-registry",scope="repository:{project}/app:pull"')
    token = _token(berth.url, (robot["name"], robot["secret"]), f"repository:{project}/app:pull").json()["token"]
    pulled = httpx.get(f"{berth.url}/v2/{project}/app/manifests/v1",
                       headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST})
    assert pulled.status_code == 200 and pulled.content == image.manifest


def test_a_robot_is_never_given_more_than_its_creator_holds(berth):
    def robot_body(namespace: str, actions: list[str], level: str = "project", kind: str = "project") -> dict:
        return {"name": f"r-{uuid.uuid4().hex[:8]}", "level": level, "duration": -1,
                "permissions": [{"kind": kind, "namespace": namespace,
                                 "access": [{"resource": "repository", "action": a} for a in actions]}]}

    with berth.client() as api:
        mine, theirs = unique("mine"), unique("theirs")
        for project in (mine, theirs):
            assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        name, user_id = _user(api, "owner")
        assert api.post(f"/api/v2.0/projects/{mine}/members",
                        json={"role_id": 1, "member_user": {"user_id": user_id}}).status_code == 201
        # a system robot that may create robots and holds only pull on every project
        creator = api.post("/api/v2.0/robots", json={
            "name": f"maker-{uuid.uuid4().hex[:6]}", "level": "system", "duration": -1,
            "permissions": [{"kind": "system", "namespace": "/", "access": [{"resource": "robot", "action": "create"}]},
                            {"kind": "project", "namespace": "*",
                             "access": [{"resource": "repository", "action": "pull"}]}]}).json()
    with httpx.Client(base_url=berth.url, auth=(name, PASSWORD)) as owner:
        assert owner.post("/api/v2.0/robots", json=robot_body(mine, ["push", "delete"])).status_code == 201
        assert owner.post("/api/v2.0/robots", json=robot_body(theirs, ["pull"])).status_code == 403
        assert owner.post("/api/v2.0/robots", json=robot_body("*", ["pull"], level="system")).status_code == 403
    with httpx.Client(base_url=berth.url, auth=(creator["name"], creator["secret"])) as robot:
        within = robot_body("*", ["pull"], level="system")
        assert robot.post("/api/v2.0/robots", json=within).status_code == 201
        beyond = robot.post("/api/v2.0/robots", json=robot_body("*", ["push"], level="system"))
        assert beyond.status_code == 403 and beyond.json()["errors"][0]["code"] == "DENIED"
        admin_only = robot_body("/", ["create"], level="system", kind="system")
        admin_only["permissions"][0]["access"] = [{"resource": "user", "action": "create"}]
        assert robot.post("/api/v2.0/robots", json=admin_only).status_code == 400


def test_changes_to_robots_members_and_passwords_apply_at_once_despite_remembered_logins(berth):
    project = unique("revoke")
    with berth.client() as api:
        V2(berth.url, auth=berth.auth).create_project(project)
        robot = _robot(api, project, ["push"])
        name, user_id = _user(api, "dev")
        member = api.post(f"/api/v2.0/projects/{project}/members", json={"role_id": 2, "member_user": {"user_id": user_id}})
        member_id = member.headers["location"].rsplit("/", 1)[1]
        robot_auth, user_auth = (robot["name"], robot["secret"]), (name, PASSWORD)
        for auth in (robot_auth, user_auth):  # both logins are now remembered
            assert httpx.post(f"{berth.url}/v2/{project}/app/blobs/uploads/", auth=auth).status_code == 202
        assert api.put(f"/api/v2.0/robots/{robot['id']}", json={
            "name": robot["name"], "level": "project", "disable": True, "duration": -1,
            "permissions": [{"kind": "project", "namespace": project,
                             "access": [{"resource": "repository", "action": "push"}]}]}).status_code == 200
        assert api.delete(f"/api/v2.0/projects/{project}/members/{member_id}").status_code == 200
    assert httpx.post(f"{berth.url}/v2/{project}/app/blobs/uploads/", auth=robot_auth).status_code == 401
    assert httpx.post(f"{berth.url}/v2/{project}/app/blobs/uploads/", auth=user_auth).status_code == 401
    with httpx.Client(base_url=berth.url, auth=user_auth) as user:
        assert user.put(f"/api/v2.0/users/{user_id}/password",
                        json={"old_password": PASSWORD, "new_password": "Changed-passw0rd"}).status_code == 200
        assert user.get("/api/v2.0/users/current").status_code == 401


def test_a_project_robot_cannot_be_pointed_at_another_project(berth):
    with berth.client() as api:
        home, other = unique("home"), unique("other")
        for project in (home, other):
            assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        robot = _robot(api, home, ["pull"])
        moved = api.put(f"/api/v2.0/robots/{robot['id']}", json={
            "name": robot["name"], "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": other,
                             "access": [{"resource": "repository", "action": "push"}]}]})
        assert moved.status_code == 400 and "project id" in moved.json()["errors"][0]["message"]
        assert api.get(f"/api/v2.0/robots/{robot['id']}").json()["permissions"][0]["namespace"] == home


def test_a_deleted_projects_robots_stop_at_once_and_ids_are_not_reused(berth):
    with berth.client() as api:
        project = unique("short-lived")
        created = api.post("/api/v2.0/projects", json={"project_name": project})
        project_id = int(created.headers["location"].rsplit("/", 1)[1])
        robot = _robot(api, project, ["pull"])
        auth = (robot["name"], robot["secret"])
        assert httpx.get(f"{berth.url}/v2/", auth=auth).status_code == 200  # remembered now
        assert api.delete(f"/api/v2.0/projects/{project}").status_code == 200
        assert httpx.get(f"{berth.url}/v2/", auth=auth).status_code == 401
        successor = api.post("/api/v2.0/projects", json={"project_name": unique("successor")})
        assert int(successor.headers["location"].rsplit("/", 1)[1]) > project_id


def test_missing_and_private_projects_look_the_same_to_outsiders(berth):
    with berth.client() as api:
        private = unique("secret")
        assert api.post("/api/v2.0/projects", json={"project_name": private}).status_code == 201
        name, _ = _user(api, "outsider")
        missing = f"missing-{uuid.uuid4().hex[:8]}"
        assert api.get(f"/api/v2.0/projects/{missing}").status_code == 404  # admins may know
    for path in (f"/api/v2.0/projects/{private}", f"/api/v2.0/projects/{missing}",
                 f"/api/v2.0/projects/{private}/members", f"/api/v2.0/projects/{missing}/members"):
        assert httpx.get(f"{berth.url}{path}").status_code == 401, path
        assert httpx.get(f"{berth.url}{path}", auth=(name, PASSWORD)).status_code == 403, path


def test_the_catalog_through_a_token_needs_a_catalog_token(berth):
    private = unique("hidden")
    with berth.client() as api:
        assert api.post("/api/v2.0/projects", json={"project_name": private}).status_code == 201
        assert api.post(f"/v2/{private}/app/blobs/uploads/").status_code == 202
    pull_token = _token(berth.url, berth.auth, f"repository:{private}/app:pull").json()["token"]
    catalog_token = _token(berth.url, berth.auth, "registry:catalog:*").json()["token"]

    def catalog(token: str) -> list[str]:
        return httpx.get(f"{berth.url}/v2/_catalog", params={"n": 10000},
                         headers={"Authorization": f"Bearer {token}"}).json()["repositories"]

    assert f"{private}/app" not in catalog(pull_token)
    assert f"{private}/app" in catalog(catalog_token)


def test_current_permissions_are_listed_relative_to_the_scope_as_harbor_does(berth):
    with berth.client() as api:
        project = unique("perm")
        assert api.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        developer, user_id = _user(api, "dev")
        assert api.post(f"/api/v2.0/projects/{project}/members",
                        json={"role_id": 2, "member_user": {"user_id": user_id}}).status_code == 201
    with httpx.Client(base_url=berth.url, auth=(developer, PASSWORD), timeout=30) as dev:
        def listed(scope: str, relative: bool) -> set[tuple[str, str]]:
            response = dev.get("/api/v2.0/users/current/permissions",
                               params={"scope": scope, "relative": str(relative).lower()})
            assert response.status_code == 200, response.text
            return {(p["resource"], p["action"]) for p in response.json()}

        repository = {"create", "read", "update", "list", "push", "pull"}  # a developer's, from Harbor's table
        # the project comes from the scope's first segments; relative paths are relative to the whole scope
        assert listed(f"/project/{project_id}/repository", True) == {(".", a) for a in repository}
        whole = listed(f"/project/{project_id}", True)
        assert (".", "read") in whole and ("repository", "push") in whole and ("artifact", "create") in whole
        assert not any(resource.startswith("/") or resource == "" for resource, _ in whole)
        # without relative, the namespace's every permission with its full path, whatever the scope's depth
        full = listed(f"/project/{project_id}/repository", False)
        assert full == listed(f"/project/{project_id}", False)
        assert {(f"/project/{project_id}", "read"), (f"/project/{project_id}/repository", "push")} <= full
        assert {("." if r == f"/project/{project_id}" else r.removeprefix(f"/project/{project_id}/"), a)
                for r, a in full} == whole
        assert listed(f"/project/{project}/repository", True) == {(".", a) for a in repository}  # by name too
        assert listed(f"/project/{project_id}/nothing-here", True) == set()
        assert (".", "delete") not in whole  # only a project admin may delete the project


def test_empty_optional_fields_are_left_out_of_bodies_as_harbor_does(berth):
    with berth.client() as api:
        name, _ = _user(api, "plain")  # no comment
    with httpx.Client(base_url=berth.url, auth=(name, PASSWORD), timeout=30) as user:
        me = user.get("/api/v2.0/users/current")
        assert me.status_code == 200, me.text
        body = me.json()
        assert "comment" not in body and "oidc_user_meta" not in body
        # required or `x-omitempty: false` in Harbor's swagger: sent even when false
        assert body["sysadmin_flag"] is False and body["admin_role_in_auth"] is False
        assert body["username"] == name and body["email"] == f"{name}@example.test"
