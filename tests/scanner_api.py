"""The pluggable scanner API's OpenAPI schemas (v1.2) as JSON Schema validators, for the scanner tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scanning" / "scanner-api"
_SPEC_URI = "urn:harbor:scanner-adapter-openapi-v1.2"


def example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is JSON Schema's "or null"."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _registry() -> Registry:
    spec = yaml.safe_load((FIXTURES / "scanner-adapter-openapi-v1.2.yaml").read_text())
    return Registry().with_resource(_SPEC_URI, Resource(contents=_json_schema(spec), specification=DRAFT4))


def validate(schema_name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless `instance` is a valid `components/schemas/<schema_name>`,
    formats (date-time, uri) checked."""
    validator = jsonschema.Draft4Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"},
        registry=_registry(),
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )
    validator.validate(instance)
