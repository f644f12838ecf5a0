"""`berth lint --live` against a running berth: the registry made from the clean file (`berth apply`)
lints clean, and what is then changed through the API is found, the same as in a file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from berth.ascode.lint import lint
from tests.conftest import BERTH, Server, start_berth

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def berth(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("lint") / "data", projects=())
    yield server
    server.stop()


def _berth(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    assert server.auth is not None
    env = {"BERTH_URL": server.url, "BERTH_USERNAME": server.auth[0], "BERTH_PASSWORD": server.auth[1],
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=60)


def _live_file(tmp_path: Path) -> Path:
    """clean.yaml as a registry can hold it here: no registry endpoints nor replication (creating an
    endpoint reaches out to it), berth's own `library` project configured like the others."""
    document = yaml.safe_load((FIXTURES / "lint" / "clean.yaml").read_text())
    for kind in ("registries", "replication_policies"):
        document.pop(kind)
    sandbox = document["projects"]["sandbox"]
    document["projects"]["library"] = {k: sandbox[k] for k in ("metadata", "immutable_rules", "retention")}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_live_lint_finds_what_the_registry_holds(berth: Server, tmp_path: Path) -> None:
    applied = _berth(berth, "apply", "-f", str(_live_file(tmp_path)), "--secrets-out", str(tmp_path / "secrets"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    clean = _berth(berth, "lint", "--live", "--format", "json")
    assert (clean.returncode, json.loads(clean.stdout)["findings"]) == (0, []), clean.stdout + clean.stderr

    with berth.client() as http:
        assert http.put("/api/v2.0/projects/payments-production",
                        json={"metadata": {"public": "true"}}).status_code == 200
        assert http.put("/api/v2.0/system/gc/schedule", json={
            "schedule": {"type": "Custom", "cron": "0 0 0 1 * *"},
            "parameters": {"delete_untagged": True}}).status_code == 200
    found = _berth(berth, "lint", "--live", "--format", "sarif")
    assert found.returncode == 1, found.stderr
    sarif = json.loads(found.stdout)
    jsonschema.Draft4Validator(json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]) for r in results] == [
        ("BRT009", "gc_schedule"), ("BRT014", "payments-production")]
    assert all("physicalLocation" not in r["locations"][0] for r in results)  # the live state has no file

    exported = _berth(berth, "export")
    assert [f.rule for f in lint(yaml.safe_load(exported.stdout))] == ["BRT009", "BRT014"]
    assert _berth(berth, "lint", "--live", "--fail-on", "never").returncode == 0

