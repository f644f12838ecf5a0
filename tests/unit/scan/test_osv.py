"""OSV records are checked against the OSV schema before the scanner trusts them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from jsonschema.validators import validator_for

from berth.scan.osv import InvalidRecord, lookup_name, packages, parse_record, same_ecosystem, schema
from tests.unit.scan.osv_fixtures import INVALID_SAMPLE, SAMPLES, SYNTHETIC, load

DSA = next(p for p in SAMPLES if p.name == "DSA-3029-1.json")
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "scanner" / "osv-schema" / "schema.json"


@pytest.mark.parametrize("path", [*SAMPLES, *SYNTHETIC], ids=lambda p: p.name)
def test_fixture_records_validate_as_the_reference_validator_says(path: Path) -> None:
    record = load(path)
    reference = validator_for(schema())(schema())  # the pure-Python jsonschema, as a second opinion
    expected_valid = reference.is_valid(record)
    assert expected_valid == (path != INVALID_SAMPLE)
    if expected_valid:
        assert parse_record(path.read_bytes())["id"] == record["id"]
    else:
        with pytest.raises(InvalidRecord) as caught:
            parse_record(path.read_bytes())
        assert caught.value.record_id == "CVE-2012-2812"
        assert "versions" in caught.value.reason and "null" in caught.value.reason


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/ is not beside the checkout")
def test_packaged_schema_is_the_reference_schema() -> None:
    assert schema() == orjson.loads(REFERENCE.read_bytes())


def test_a_record_without_schema_version_is_1_0_0() -> None:
    record = load(DSA)
    record.pop("schema_version", None)
    assert parse_record(orjson.dumps(record))["id"] == record["id"]


def test_a_record_of_schema_major_2_is_refused() -> None:
    record = load(DSA) | {"schema_version": "2.0.0"}
    with pytest.raises(InvalidRecord, match="schema_version 2.0.0"):
        parse_record(orjson.dumps(record))


@pytest.mark.parametrize(("data", "reason"), [(b"{not json", "not JSON"), (b"[1, 2]", "not a JSON object"),
                                              (b'{"id": "X-1"}', "modified")])
def test_broken_records_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord, match=reason):
        parse_record(data)


def test_pypi_names_are_matched_in_pep_503_form() -> None:
    assert lookup_name("PyPI", "Flask_Cors.ext") == "flask-cors-ext"
    assert lookup_name("npm", "@Scope/Pkg") == "@Scope/Pkg"


def test_maven_records_of_any_repository_cover_maven_packages() -> None:
    assert same_ecosystem("Maven:https://repo.example/", "Maven")
    assert not same_ecosystem("Debian:11", "Debian:12")


def test_packages_of_a_record_are_its_affected_entries() -> None:
    lodash = load(next(p for p in SAMPLES if p.name == "GHSA-35jh-r3h4-6jhm.json"))
    assert packages(lodash) == {("npm", "lodash"), ("npm", "lodash-es")}
