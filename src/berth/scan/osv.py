"""One OSV record: parsed with orjson, checked against the OSV JSON schema and its schema_version,
and the few facts the database indexes it by (withdrawn, modified, the (ecosystem, name) pairs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
import orjson

from berth.scan.versions import ecosystem_family

#: an OSV record as JSON (dicts, lists, strings)
Record = Mapping[str, Any]


class InvalidRecord(ValueError):
    """The bytes are not an OSV record berth can use; `reason` says why in one line."""

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        self.reason = reason
        self.record_id = record_id
        super().__init__(f"{record_id or 'record'}: {reason}")


@cache
def _validator() -> Any:
    # compiled once; jsonschema-rs validates a record in microseconds where the pure-Python jsonschema
    # takes about a millisecond, the difference between seconds and minutes on an ecosystem's all.zip
    schema = orjson.loads(resources.files(__package__).joinpath("osv-schema.json").read_bytes())
    return jsonschema_rs.validator_for(schema)


def schema() -> dict[str, Any]:
    """The OSV JSON schema berth validates with (ossf/osv-schema validation/schema.json)."""
    return orjson.loads(resources.files(__package__).joinpath("osv-schema.json").read_bytes())


def parse_record(data: bytes | str) -> dict[str, Any]:
    """The record in `data`, valid against the OSV schema with a schema_version of major 1."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InvalidRecord("not a JSON object")
    record_id = record.get("id") if isinstance(record.get("id"), str) else None
    error = next(iter(_validator().iter_errors(record)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "record"
        # messages quote the schema's patterns, some of them hundreds of characters long
        message = error.message if len(error.message) <= 160 else error.message[:159] + "…"
        raise InvalidRecord(f"{where}: {message}", record_id)
    # a record without schema_version is 1.0.0 (the field came later); a major above 1 may change meaning
    version = record.get("schema_version", "1.0.0")
    if version.split(".", 1)[0] != "1":
        raise InvalidRecord(f"schema_version {version} is not 1.x", record_id)
    return record


def is_withdrawn(record: Record) -> bool:
    return bool(record.get("withdrawn"))


def packages(record: Record) -> set[tuple[str, str]]:
    """The (ecosystem, name) pairs the record has `affected` entries for."""
    pairs = set()
    for affected in record.get("affected") or ():
        package = affected.get("package") or {}
        if package.get("ecosystem") and package.get("name"):
            pairs.add((package["ecosystem"], package["name"]))
    return pairs


_PEP503 = re.compile(r"[-_.]+")


def lookup_name(ecosystem: str, name: str) -> str:
    """The name records and packages are matched on: PEP 503 for PyPI (OSV keeps the project's own
    spelling, pip installs "Flask_Cors" as "flask-cors"), the name itself elsewhere."""
    if ecosystem_family(ecosystem) == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def same_ecosystem(record_ecosystem: str, package_ecosystem: str) -> bool:
    """Whether a record's ecosystem covers the package's: equal strings, or any Maven repository
    ("Maven:https://repo…") for a Maven package."""
    if record_ecosystem == package_ecosystem:
        return True
    return ecosystem_family(record_ecosystem) == "Maven" == ecosystem_family(package_ecosystem)
