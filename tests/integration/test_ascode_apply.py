"""`berth apply` / `berth export` against a running berth, through the real CLI: a file with every
kind is applied and each object checked through the API; a second apply changes nothing; one
changed field is exactly what the plan shows; --prune removes what the file no longer names; an
export applied with --plan shows no change; bad files and refusals are reported as the issue asks."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import BERTH, start_berth

FILE = """\
version: 1
registries:
  upstream:
    type: harbor
    url: {url}
    description: the registry itself, as an upstream
    credential: {{type: basic, access_key: admin, access_secret: "${{UPSTREAM_SECRET}}"}}
usergroups:
  ci: {{group_type: 2}}
labels:
  approved: {{color: "#48960C", description: passed review}}
projects:
  prod-web:
    public: false
    storage_limit: 1073741824
    metadata: {{auto_scan: "true", prevent_vul: "true", severity: high}}
    cve_allowlist: {{items: [{{cve_id: CVE-2024-0001}}], expires_at: 1798761600}}
    members:
      - {{role_id: 2, member_group: {{group_name: ci}}}}
      - {{role_id: 1, member_user: {{username: admin}}}}
    labels:
      hotfix: {{color: "#C92100"}}
    immutable_rules:
      - tag_selectors: [{{kind: doublestar, decoration: matches, pattern: "v*.*.*"}}]
        scope_selectors: {{repository: [{{kind: doublestar, decoration: repoMatches, pattern: "**"}}]}}
    retention:
      algorithm: or
      rules:
        - action: retain
          template: latestPushedK
          params: {{latestPushedK: 10}}
          tag_selectors: [{{kind: doublestar, decoration: matches, pattern: "**"}}]
          scope_selectors: {{repository: [{{kind: doublestar, decoration: repoMatches, pattern: "**"}}]}}
      trigger: {{kind: Schedule, settings: {{cron: "0 0 0 * * 0"}}}}
    webhooks:
      ci-notify: {{enabled: true, event_types: [PUSH_ARTIFACT], targets: [{{type: http, address: "http://127.0.0.1:9/hook"}}]}}
    trust_policy: {{mode: audit}}
  hub-cache:
    registry: upstream
    public: true
robots:
  prod-web+ci-push:
    level: project
    duration: 90
    description: CI push
    permissions: [{{kind: project, namespace: prod-web, access: [{{resource: repository, action: push}}, {{resource: repository, action: pull}}]}}]
    secret_file: secrets/ci-push.secret
  auditor:
    level: system
    duration: 30
    permissions: [{{kind: system, namespace: /, access: [{{resource: audit-log, action: list}}]}}]
replication_policies:
  mirror-base:
    src_registry: upstream
    dest_namespace: mirror
    filters: [{{type: name, value: "library/**"}}]
    trigger: {{type: scheduled, trigger_settings: {{cron: "0 0 3 * * *"}}}}
    speed: 10240
    enabled: true
scanners:
  second:
    url: {scanner_url}
    auth: Bearer
    access_credential: "${{SCANNER_TOKEN}}"
    description: a second registration of the built-in adapter
system:
  cve_allowlist: {{items: [{{cve_id: CVE-2024-0002}}], expires_at: 1798761600}}
  gc_schedule: {{schedule: {{type: Weekly, cron: "0 0 0 * * 0"}}, parameters: {{delete_untagged: true, workers: 1}}}}
  scan_all_schedule: {{schedule: {{type: Daily, cron: "0 0 2 * * *"}}}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_berth(tmp_path_factory.mktemp("ascode") / "data", projects=())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=f"{server.url}/api/v2.0", auth=server.auth, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, server) -> Path:
    folder = tmp_path_factory.mktemp("registry-as-code")
    # the scanner's URL differs from the built-in registration's (one registration a URL)
    text = FILE.format(url=server.url, scanner_url=f"http://localhost:{server.port}/scanner")
    (folder / "registry.yaml").write_text(text)
    return folder


def berth(server, workdir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": server.url, "BERTH_USERNAME": "admin",
           "BERTH_PASSWORD": server.admin_password, "UPSTREAM_SECRET": server.admin_password,
           "SCANNER_TOKEN": "token"}
    return subprocess.run([BERTH, *args], cwd=workdir, env=env, capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_apply_creates_every_kind(server, api, workdir):
    done = berth(server, workdir, "apply", "-f", "registry.yaml", "--secrets-out", "robot-secrets")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applied: 19 changes." in done.stdout

    assert [r["name"] for r in api.get("/registries").json()] == ["upstream"]
    assert [g["group_name"] for g in api.get("/usergroups").json()] == ["ci"]
    assert [(label["name"], label["color"]) for label in api.get("/labels", params={"scope": "g"}).json()] == [
        ("approved", "#48960C")]
    project = api.get("/projects/prod-web").json()
    assert project["metadata"]["severity"] == "high" and project["metadata"]["public"] == "false"
    assert [i["cve_id"] for i in project["cve_allowlist"]["items"]] == ["CVE-2024-0001"]
    assert api.get("/projects/hub-cache").json()["registry_id"] == api.get("/registries").json()[0]["id"]
    quota = api.get("/quotas", params={"reference": "project", "reference_id": project["project_id"]}).json()
    assert quota[0]["hard"]["storage"] == 1073741824
    members = {(m["entity_name"], m["role_id"]) for m in api.get("/projects/prod-web/members").json()}
    assert members == {("ci", 2), ("admin", 1)}
    labels = api.get("/labels", params={"scope": "p", "project_id": project["project_id"]}).json()
    assert [label["name"] for label in labels] == ["hotfix"]
    rules = api.get("/projects/prod-web/immutabletagrules").json()
    assert [r["tag_selectors"][0]["pattern"] for r in rules] == ["v*.*.*"]
    retention = api.get(f"/retentions/{project['metadata']['retention_id']}").json()
    assert retention["rules"][0]["params"] == {"latestPushedK": 10}
    assert [w["name"] for w in api.get("/projects/prod-web/webhook/policies").json()] == ["ci-notify"]
    assert api.get("/projects/prod-web/trust-policy").json()["mode"] == "audit"
    robots = {r["name"]: r for r in api.get("/robots").json()}
    assert set(robots) == {"robot$prod-web+ci-push", "robot$auditor"}
    assert robots["robot$prod-web+ci-push"]["duration"] == 90
    policy = api.get("/replication/policies").json()[0]
    assert (policy["name"], policy["src_registry"]["name"], policy["speed"]) == ("mirror-base", "upstream", 10240)
    assert "second" in {s["name"] for s in api.get("/scanners").json()}
    assert [i["cve_id"] for i in api.get("/system/CVEAllowlist").json()["items"]] == ["CVE-2024-0002"]
    assert api.get("/system/gc/schedule").json()["schedule"]["type"] == "Weekly"
    assert api.get("/system/scanAll/schedule").json()["schedule"]["type"] == "Daily"

    # the project robot's secret went to its file (0600) and works; the system robot's to --secrets-out
    secret_file = workdir / "secrets/ci-push.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert httpx.get(f"{server.url}/v2/", auth=("robot$prod-web+ci-push", secret)).status_code == 200
    assert secret not in done.stdout + done.stderr
    secrets_out = workdir / "robot-secrets"
    assert stat.S_IMODE(secrets_out.stat().st_mode) == 0o600
    name, system_secret = secrets_out.read_text().strip().split("\t")
    assert name == "robot$auditor"
    assert httpx.get(f"{server.url}/api/v2.0/audit-logs", auth=(name, system_secret)).status_code == 200


def test_a_second_apply_changes_nothing(server, workdir):
    plan = berth(server, workdir, "apply", "-f", "registry.yaml", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.strip() == "No changes: the registry matches the file."


def test_one_changed_field_is_exactly_what_the_plan_shows(server, api, workdir):
    text = (workdir / "registry.yaml").read_text().replace("severity: high", "severity: critical")
    (workdir / "changed.yaml").write_text(text)
    plan = berth(server, workdir, "apply", "-f", "changed.yaml", "--plan")
    assert plan.returncode == 2
    assert plan.stdout.splitlines() == [
        "~ project prod-web",
        '    metadata.severity: "high" -> "critical"',
        "Plan: 0 to create, 1 to change, 0 to delete.",
    ]
    assert berth(server, workdir, "apply", "-f", "changed.yaml").returncode == 0
    assert api.get("/projects/prod-web").json()["metadata"]["severity"] == "critical"


def test_export_then_plan_shows_no_change(server, workdir):
    exported = berth(server, workdir, "export")
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert set(document) >= {"registries", "usergroups", "labels", "projects", "robots",
                             "replication_policies", "scanners", "system"}
    assert "access_secret" not in exported.stdout and "secret" not in str(document["robots"])
    (workdir / "export.yaml").write_text(exported.stdout)
    env_free = berth(server, workdir, "apply", "-f", "export.yaml", "--plan", "--prune")
    assert env_free.returncode == 0, env_free.stdout + env_free.stderr
    assert "No changes" in env_free.stdout


def test_prune_removes_what_the_file_no_longer_names(server, api, workdir):
    document = yaml.safe_load((workdir / "changed.yaml").read_text())
    del document["robots"]["auditor"]
    del document["projects"]["prod-web"]["webhooks"]["ci-notify"]
    document["projects"]["prod-web"]["immutable_rules"] = []
    (workdir / "pruned.yaml").write_text(yaml.safe_dump(document))
    without = berth(server, workdir, "apply", "-f", "pruned.yaml", "--plan")
    assert without.returncode == 0, without.stdout  # without --prune nothing is deleted
    plan = berth(server, workdir, "apply", "-f", "pruned.yaml", "--plan", "--prune")
    assert plan.returncode == 2
    deleted = sorted(line for line in plan.stdout.splitlines() if line.startswith("-"))
    # library: the default project, which the file's projects section does not name; berth's
    # built-in scanner is never pruned
    assert deleted == ["- immutability rule prod-web/tags v*.*.* in **", "- project library",
                       "- robot auditor", "- webhook prod-web/ci-notify"], plan.stdout
    done = berth(server, workdir, "apply", "-f", "pruned.yaml", "--prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["name"] for r in api.get("/robots").json()} == {"robot$prod-web+ci-push"}
    assert api.get("/projects/prod-web/webhook/policies").json() == []
    assert api.get("/projects/prod-web/immutabletagrules").json() == []


def test_a_failure_part_way_reports_and_a_rerun_finishes(server, api, workdir):
    text = """\
version: 1
projects:
  half-a: {public: false}
  half-b:
    members:
      - {role_id: 2, member_user: {username: nobody-yet}}
"""
    (workdir / "half.yaml").write_text(text)
    failed = berth(server, workdir, "apply", "-f", "half.yaml")
    assert failed.returncode == 1
    assert "created project half-a" in failed.stdout and "created project half-b" in failed.stdout
    assert "failed: member half-b/user:nobody-yet:" in failed.stderr
    assert "done: 2; failed: 1; not done: 0" in failed.stderr
    created = api.post("/users", json={"username": "nobody-yet", "email": "n@example.org", "realname": "N",
                                       "password": "Passw0rd-long", "comment": ""})
    assert created.status_code == 201, created.text
    again = berth(server, workdir, "apply", "-f", "half.yaml")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith(("created", "changed"))] == [
        "created member half-b/user:nobody-yet"]


def test_bad_files_are_refused_with_where_and_why_and_nothing_applied(server, api, workdir):
    (workdir / "typo.yaml").write_text("version: 1\nprojects:\n  typo-project:\n    metadata: {autoscan: 'true'}\n")
    typo = berth(server, workdir, "apply", "-f", "typo.yaml")
    assert typo.returncode == 2
    assert typo.stderr.startswith("berth: typo.yaml:4:5: projects/typo-project/metadata: unknown field autoscan")
    (workdir / "broken.yaml").write_text("version: 1\nprojects: [\n")
    broken = berth(server, workdir, "apply", "-f", "broken.yaml")
    assert broken.returncode == 2 and "broken.yaml:3:1: YAML:" in broken.stderr
    (workdir / "ref.yaml").write_text(
        "version: 1\nrobots:\n  ghost+ci:\n    level: project\n    duration: 30\n"
        "    permissions: [{kind: project, namespace: ghost, access: [{resource: repository, action: pull}]}]\n"
        "    secret_file: s\n")
    ref = berth(server, workdir, "apply", "-f", "ref.yaml", "--plan")
    assert ref.returncode == 2
    assert "robot ghost+ci: project ghost is neither in the file nor in the registry" in ref.stderr
    (workdir / "nosecret.yaml").write_text(
        "version: 1\nrobots:\n  lost:\n    level: system\n    duration: 30\n"
        "    permissions: [{kind: system, namespace: /, access: [{resource: audit-log, action: list}]}]\n")
    lost = berth(server, workdir, "apply", "-f", "nosecret.yaml")
    assert lost.returncode == 2 and "its secret would be lost" in lost.stderr
    out = berth(server, workdir, "apply", "-f", "nosecret.yaml", "--secrets-out", "-")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-2].startswith("robot$lost\t")
    assert api.get("/projects", params={"name": "typo-project"}).json() == []
    # the registry refusing an object: Harbor's message, with the object's name
    (workdir / "refused.yaml").write_text("version: 1\nprojects:\n  Bad_Name: {}\n")
    refused = berth(server, workdir, "apply", "-f", "refused.yaml")
    assert refused.returncode == 1
    assert "failed: project Bad_Name:" in refused.stderr
