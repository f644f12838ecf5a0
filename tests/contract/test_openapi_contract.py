"""berth's OpenAPI document against Harbor's swagger: every operation berth implements under a Harbor
operationId must have Harbor's path, method, parameters, success status and body/response fields."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import start_berth

HARBOR_SWAGGER = Path(os.environ.get("HARBOR_SWAGGER", Path(__file__).with_name("harbor-swagger.yaml")))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
#: response fields berth adds to a Harbor definition, as "Definition.field": why they are fine
EXTRA_FIELDS: dict[str, str] = {
    "ConfigurationsResponse.pull_audit_log_disable": "a Harbor item (PULL_AUDIT_LOG_DISABLE) its swagger omits",
    "Accessory.verification": "a signature's verdict under the project's trust policy (berth verifies signatures)",
    "RegistryProviderInfo.supported": "whether berth has an adapter for the type (Harbor lists only its own)",
    "Tag.signed": "with_signature's answer, as Harbor's Tag had it before 2.5 (verified under a trust policy)",
}
#: operations berth serves that Harbor's swagger does not have, as operationId: why
BERTH_ONLY_OPERATIONS: dict[str, str] = {
    "getTrustPolicy": "content trust by signature verification: Harbor checks only that a signature exists",
    "updateTrustPolicy": "content trust by signature verification: Harbor checks only that a signature exists",
}

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def harbor() -> Schema:
    return yaml.safe_load(HARBOR_SWAGGER.read_text())


@pytest.fixture(scope="module")
def berth_openapi(tmp_path_factory) -> Schema:
    server = start_berth(tmp_path_factory.mktemp("contract") / "data", projects=())
    try:
        response = httpx.get(f"{server.url}/api/v2.0/openapi.json", timeout=30.0)
    finally:
        server.stop()
    response.raise_for_status()
    return response.json()


def _operations(document: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _resolve(schema: Schema, document: Schema) -> Schema:
    while "$ref" in schema:
        node = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _type(schema: Schema) -> str | None:
    """The JSON type a schema describes (None when it allows anything); Swagger's `file` is a byte string."""
    if "type" in schema:
        return "string" if schema["type"] == "file" else schema["type"]
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    return "array" if "items" in schema else None


class _Comparison:
    """Compares Harbor (Swagger 2.0) schemas with berth's (OpenAPI 3.1) and collects what differs."""

    def __init__(self, harbor: Schema, berth: Schema) -> None:
        self.harbor, self.berth = harbor, berth

    def _variants(self, schema: Schema) -> list[Schema]:
        """The non-null alternatives of a berth schema: pydantic writes Optional[X] as anyOf [X, null]."""
        schema = _resolve(schema, self.berth)
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                return [variant for sub in schema[key] for variant in self._variants(sub)]
        kind = schema.get("type")
        if isinstance(kind, list):
            return [{**schema, "type": one} for one in kind if one != "null"]
        return [] if kind == "null" else [schema]

    def schemas(self, harbor: Schema, berth: Schema, where: str, extras: bool, seen: frozenset = frozenset()
                ) -> Iterator[str]:
        """Divergences of `berth` from `harbor`; `extras` says whether fields only berth has are reported."""
        if "$ref" in harbor:
            where = harbor["$ref"].rsplit("/", 1)[-1]
            if where in seen:  # recursive definition, already being compared
                return
            seen = seen | {where}
        harbor = _resolve(harbor, self.harbor)
        wanted = _type(harbor)
        options = self._variants(berth)
        if wanted is None or any(_type(option) is None for option in options):
            return  # one side accepts any JSON value
        # an integer where Harbor says number is fine, the other way round is not
        matches = [o for o in options if _type(o) == wanted or (wanted, _type(o)) == ("number", "integer")]
        if not matches:
            found = "|".join(sorted(str(_type(o)) for o in options)) or "null"
            yield f"{where}: type {found} in berth, {wanted} in Harbor"
        elif wanted == "array":
            yield from self.schemas(harbor.get("items", {}), matches[0].get("items", {}), f"{where}[]", extras, seen)
        elif wanted == "object":
            yield from self._objects(harbor, matches[0], where, extras, seen)

    def _objects(self, harbor: Schema, berth: Schema, where: str, extras: bool, seen: frozenset) -> Iterator[str]:
        fields, berth_fields = harbor.get("properties", {}), berth.get("properties", {})
        values, berth_values = harbor.get("additionalProperties"), berth.get("additionalProperties")
        if fields and not berth_fields:
            yield f"{where}: free-form object in berth, Harbor defines fields ({len(fields)})"
            return
        for name in fields.keys() - berth_fields.keys():
            yield f"{where}.{name}: missing in berth"
        if extras and fields:
            for name in berth_fields.keys() - fields.keys():
                if f"{where}.{name}" not in EXTRA_FIELDS:
                    yield f"{where}.{name}: only in berth"
        for name in fields.keys() & berth_fields.keys():
            yield from self.schemas(fields[name], berth_fields[name], f"{where}.{name}", extras, seen)
        if isinstance(values, dict):  # a Harbor map: berth's values, or its fixed fields, must fit the value type
            for name, value in ({"{}": berth_values} if isinstance(berth_values, dict) else berth_fields).items():
                yield from self.schemas(values, value, f"{where}.{name}", extras, seen)

    def operation(self, harbor: Schema, berth: Schema) -> Iterator[str]:
        declared = [_resolve(p, self.harbor) for p in harbor.get("parameters", [])]
        berth_params = {(p["in"], p["name"]): p for p in (_resolve(p, self.berth) for p in berth.get("parameters", []))}
        for param in declared:
            if param["in"] in ("query", "path"):
                ours = berth_params.get((param["in"], param["name"]))
                if ours is None:
                    yield f"{param['in']} parameter {param['name']}: missing in berth"
                else:
                    yield from self.schemas(param, ours.get("schema", {}), f"{param['in']} parameter {param['name']}", True)
            elif param["in"] == "body":
                body = next(iter(berth.get("requestBody", {}).get("content", {}).values()), {}).get("schema")
                if body is None:
                    yield "request body: missing in berth"
                else:
                    yield from self.schemas(param["schema"], body, "request body", False)
        responses = berth.get("responses", {})
        for status, response in harbor["responses"].items():
            if not str(status).startswith("2"):
                continue
            if str(status) not in responses:
                yield f"success status {status}: berth documents {sorted(s for s in responses if s.startswith('2'))}"
                continue
            schema = _resolve(response, self.harbor).get("schema")
            ours = next(iter(responses[str(status)].get("content", {}).values()), {}).get("schema")
            if schema is not None and not ours:
                yield f"{status} response: berth documents no schema"
            elif schema is not None:
                yield from self.schemas(schema, ours, f"{status} response", True)


def _coverage(harbor: Schema, berth_openapi: Schema) -> str:
    harbor_ids = {op.get("operationId") for _, _, op in _operations(harbor)}
    implemented = sum(op.get("operationId") in harbor_ids for _, _, op in _operations(berth_openapi))
    return f"{implemented}/{len(list(_operations(harbor)))} Harbor operations"


def test_berth_operations_match_harbors_swagger(harbor, berth_openapi) -> None:
    by_id = {op["operationId"]: (path, method, op) for path, method, op in _operations(harbor)}
    compare = _Comparison(harbor, berth_openapi)
    divergences = []
    for path, method, ours in _operations(berth_openapi):
        if ours.get("operationId") not in by_id:
            continue
        harbor_path, harbor_method, theirs = by_id[ours["operationId"]]
        if (path, method) != (harbor_path, harbor_method):
            divergences.append(f"{ours['operationId']}: {method.upper()} {path} in berth, "
                               f"{harbor_method.upper()} {harbor_path} in Harbor")
        divergences += [f"{ours['operationId']}: {d}" for d in compare.operation(theirs, ours)]
    coverage = _coverage(harbor, berth_openapi)
    print(coverage)
    assert not divergences, f"{coverage}; {len(divergences)} divergences:\n" + "\n".join(divergences)


def test_every_berth_operation_is_harbors_or_listed(harbor, berth_openapi) -> None:
    harbor_ids = {op.get("operationId") for _, _, op in _operations(harbor)}
    unknown = [
        f"{method.upper()} {path}: {op.get('operationId')}"
        for path, method, op in _operations(berth_openapi)
        if op.get("operationId") not in harbor_ids | BERTH_ONLY_OPERATIONS.keys()
    ]
    assert not unknown, "operations not in Harbor's swagger nor BERTH_ONLY_OPERATIONS:\n" + "\n".join(unknown)


#: operations whose presence is checked by name (a router left out would otherwise only lower the count)
REQUIRED_OPERATIONS = ("exportScanData", "getScanDataExportExecution", "getScanDataExportExecutionList",
                       "downloadScanData")


def test_scan_data_export_operations_are_served_as_harbor_declares_them(harbor, berth_openapi) -> None:
    ours = {op.get("operationId"): (path, method, op) for path, method, op in _operations(berth_openapi)}
    theirs = {op.get("operationId"): (path, method, op) for path, method, op in _operations(harbor)}
    for operation_id in REQUIRED_OPERATIONS:
        assert operation_id in ours, f"{operation_id} is not served"
        assert ours[operation_id][:2] == theirs[operation_id][:2]
    export = ours["exportScanData"][2]
    headers = {p["name"].lower() for p in export.get("parameters", []) if p["in"] == "header"}
    assert "x-scan-data-type" in headers, "the data type header is a declared parameter, as in Harbor"
    download = ours["downloadScanData"][2]["responses"]["200"]
    assert "text/csv" in download["content"] and "Content-Disposition" in download.get("headers", {})
