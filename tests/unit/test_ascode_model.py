"""registry.yaml: its JSON Schema is the swagger's (and current), errors point at a line and
column, `${VAR}` comes from the environment, and the plan compares only what the file says."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import jsonschema
import pytest
import yaml

from berth.ascode.model import DocumentError, interpolate, load_text, schema
from berth.ascode.plan import diff

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_generated_from_the_current_swagger_and_is_valid():
    render = runpy.run_path(str(ROOT / "scripts/gen-ascode-schema"))["render"]
    swagger = yaml.safe_load((ROOT / "tests/contract/harbor-swagger.yaml").read_text())
    current = (ROOT / "src/berth/ascode/registry.schema.json").read_text()
    assert current == render(swagger), "run scripts/gen-ascode-schema"
    jsonschema.Draft202012Validator.check_schema(json.loads(current))


def test_every_kind_takes_the_swaggers_field_names():
    definitions = schema()["$defs"]
    assert set(definitions["file.projects"]["properties"]) >= {"public", "metadata", "storage_limit", "cve_allowlist"}
    assert set(definitions["file.robots"]["properties"]) == {
        "description", "level", "disable", "duration", "permissions", "secret_file"}
    assert "secret" not in definitions["file.robots"]["properties"]  # never in the file
    assert definitions["file.replication_policies"]["properties"]["src_registry"]["type"] == ["string", "null"]


def test_the_readme_example_is_valid():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```yaml\n# registry.yaml")
    text = readme[start + len("```yaml\n"):readme.index("```", start + 7)]
    document = load_text(text, "README")
    assert {"projects", "robots", "registries", "replication_policies", "system"} <= set(document.data)


@pytest.mark.parametrize(("text", "where"), [
    ("version: 1\nprojects:\n  p:\n    metadata: {autoscan: 'true'}\n",
     "registry.yaml:4:5: projects/p/metadata: unknown field autoscan"),
    ("version: 1\nprojects:\n  p:\n    members:\n      - {role_id: 9, member_user: {username: a}}\n",
     "registry.yaml:5:10: projects/p/members/0/role_id: 9 is not one of [1, 2, 3, 4, 5]"),
    ("version: 1\nprojects:\n  p:\n    members:\n      - {role_id: 1}\n",
     "registry.yaml:5:9: projects/p/members/0: a member is either member_user"),
    ("version: 1\nrobots:\n  r: {duration: soon}\n", "registry.yaml:3:7: robots/r/duration: 'soon' is not of type 'integer'"),
    ("version: 2\n", "registry.yaml:1:1: version: 1 was expected"),
    ("projects: {}\n", "registry.yaml:1:1: 'version' is a required property"),
    ("version: 1\nprojects: [\n", "registry.yaml:3:1: YAML:"),
    ("", "registry.yaml:1:1: the file is empty"),
    ("- 1\n", "registry.yaml:1:1: the file must be a mapping"),
])
def test_errors_say_where_and_why(text, where):
    with pytest.raises(DocumentError) as caught:
        load_text(text)
    assert str(caught.value).startswith(where), str(caught.value)


def test_variables_come_from_the_environment():
    data = {"registries": {"hub": {"credential": {"access_secret": "${TOKEN}", "access_key": "a$$b"}}}}
    assert interpolate(data, {"TOKEN": "s3"}) == {
        "registries": {"hub": {"credential": {"access_secret": "s3", "access_key": "a$b"}}}}
    with pytest.raises(DocumentError, match="registries/hub/credential/access_secret: the environment variable TOKEN"):
        interpolate(data, {})


def test_the_plan_compares_only_what_the_file_says():
    live = {"public": False, "metadata": {"auto_scan": "true", "severity": "low"}, "storage_limit": -1}
    assert diff({"metadata": {"auto_scan": "true"}}, live) == []
    assert diff({"metadata": {"severity": "high"}}, live) == [("metadata.severity", "low", "high")]
    # Go's omitempty: a false or empty field the server leaves out is the same as the file's
    assert diff({"disable": False, "description": ""}, {}) == []
    # lists: equal in another order, different when an element differs
    assert diff({"event_types": ["A", "B"]}, {"event_types": ["B", "A"]}) == []
    assert diff({"event_types": ["A"]}, {"event_types": ["A", "B"]}) == [("event_types", ["A", "B"], ["A"])]
    targets = [{"type": "http", "address": "x"}]
    assert diff({"targets": targets}, {"targets": [{"type": "http", "address": "x", "skip_cert_verify": False}]}) == []
    # a secret the server never returns is never compared
    assert diff({"credential": {"access_secret": "s"}}, {"credential": {}}, frozenset({"access_secret"})) == []
