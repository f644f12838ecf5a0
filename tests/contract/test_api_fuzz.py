"""schemathesis over the whole Harbor API as berth serves it, as a system admin, on SQLite and PostgreSQL:
whatever the generated path, query and body, berth answers with a status of its own, never a 5xx.

Bounded and deterministic: a fixed seed, a few derandomized examples per operation plus schemathesis'
coverage phase (boundary values: huge integers, empty and over-long strings), against a fresh server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.engine
from schemathesis.engine import Status, events

from tests.conftest import ADMIN_PASSWORD, Server, _fresh_postgres_database, start_berth

SEED = 20261202
#: generated cases per operation; BERTH_FUZZ_EXAMPLES=100 for a longer run by hand
EXAMPLES_PER_OPERATION = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "3"))
#: fuzz only the operations of one swagger tag (BERTH_FUZZ_TAG="scan data export"), by hand, for a new tag
ONLY_TAG = os.environ.get("BERTH_FUZZ_TAG")
#: nothing listens here: where a body names an LDAP, OIDC, scanner or registry server, berth is pointed
#: at it instead of whatever host the fuzzer made up (tests never reach the internet)
CLOSED = "127.0.0.1:1"
#: configuration items the fuzzer must not change, fixed by the config file (berth answers 400 to a
#: PUT /configurations naming them), each for a reason:
FIXED_CONFIGURATIONS: dict[str, Any] = {
    "auth_mode": "db_auth",  # another mode would refuse the local users the run creates
    "read_only": False,  # would refuse every write after it, hiding the rest of the run
    "audit_log_forward_endpoint": "",  # berth connects to a syslog endpoint when it is set
    "ldap_url": f"ldap://{CLOSED}",  # LDAP searches and imports connect to it
    "oidc_endpoint": f"http://{CLOSED}",  # OIDC discovery connects to it
}
#: where a generated body names a server to connect to, per operationId
_SERVER_FIELDS = {"pingLdap": ("ldap_url", f"ldap://{CLOSED}"), "pingOIDC": ("url", f"http://{CLOSED}"),
                  "pingScanner": ("url", f"http://{CLOSED}"), "createRegistry": ("url", f"http://{CLOSED}"),
                  "updateRegistry": ("url", f"http://{CLOSED}"), "pingRegistry": ("url", f"http://{CLOSED}")}

# What cannot lock the run out, so it needs no exclusion: every request carries the admin's correct
# password (failed logins, and so throttling, never happen); berth refuses to delete user 1 or to
# change its admin flag; changing the admin's own password needs the old one, which the fuzzer cannot
# guess; background jobs are off (BERTH_JOBS=false), so webhook policies it creates deliver nothing.


@pytest.fixture(scope="module")
def fuzzed_berth(database: str, database_urls: dict[str, str | None], tmp_path_factory) -> Iterator[Server]:
    env = {"BERTH_JOBS": "false", "BERTH_CONFIGURATIONS": json.dumps(FIXED_CONFIGURATIONS)}
    if database == "postgresql":
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"] or "", "berth_fuzz")
    server = start_berth(tmp_path_factory.mktemp(f"fuzz-{database}") / "data", env)
    yield server
    server.stop()


def _fuzz_schema(server: Server) -> Any:
    config = schemathesis.Config.from_dict({
        "base-url": f"{server.url}/api/v2.0",
        "seed": SEED,
        "workers": 1,
        "auth": {"basic": {"username": "admin", "password": ADMIN_PASSWORD}},
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "no-shrink": True},
        # coverage: boundary values of every parameter (huge integers, empty and long strings);
        # fuzzing: generated requests; examples (the document has none) and stateful (chains that
        # would make the run depend on what earlier calls created) stay off, and so do methods the
        # document does not list (the router's 405, about a tenth of the run's time)
        "phases": {"examples": {"enabled": False}, "stateful": {"enabled": False},
                   "coverage": {"unexpected-methods": []}},
        "suppress-health-check": ["all"],
        "warnings": False,
    })
    document = httpx.get(f"{server.url}/api/v2.0/openapi.json", timeout=30.0).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(document, config=config)
    if ONLY_TAG:
        schema = schema.include(tag=ONLY_TAG)

    @schema.hook("map_body")
    def _servers_on_this_machine(context: Any, body: Any) -> Any:
        field = _SERVER_FIELDS.get(context.operation.definition.raw.get("operationId", ""))
        if field and isinstance(body, dict):
            body = {**body, field[0]: field[1]}
        return body

    return schema


def test_no_generated_request_makes_berth_fail(fuzzed_berth: Server) -> None:
    # schemathesis' own engine (what `st run` drives), not its pytest plugin: the schema comes from a
    # server a fixture starts, and the plugin's fixture loader breaks on pytest 9 (Function._nodeid)
    cases, failures = 0, []
    for event in schemathesis.engine.from_schema(_fuzz_schema(fuzzed_berth)).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis could not run: {getattr(event, 'value', None) or event.exception!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        cases += len(recorder.cases)
        for case_id, checks in recorder.checks.items():
            if any(check.status != Status.SUCCESS for check in checks):
                interaction = recorder.interactions.get(case_id)
                request = interaction.request if interaction else None
                status = interaction.response.status_code if interaction and interaction.response else None
                body = (request.body or b"")[:2000] if request else b""
                failures.append(f"{recorder.label}: {request and request.method} {request and request.uri} "
                                f"{body!r} -> {status}")
    assert cases > (100 if ONLY_TAG else 1000), f"only {cases} requests were generated"
    assert not failures, f"{len(failures)} of {cases} generated requests failed:\n" + "\n".join(failures)


def _unbounded_integers(schema: dict, document: dict, where: str, seen: frozenset = frozenset()) -> Iterator[str]:
    """Integers in `schema` the document gives no range within int64 (the coverage phase probes each
    documented bound and one past it)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen, where = seen | {name}, name
        schema = document["components"]["schemas"][name]
    for key in ("anyOf", "oneOf", "allOf"):
        for variant in schema.get(key, []):
            yield from _unbounded_integers(variant, document, where, seen)
    # FastAPI writes bounds as floats: int64's maximum reads back as 2.0**63
    if schema.get("type") == "integer" and not (
        schema.get("minimum", -(2**64)) >= -(2**63) and schema.get("maximum", 2**64) <= 2**63
    ):
        yield where
    for name, field in schema.get("properties", {}).items():
        yield from _unbounded_integers(field, document, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _unbounded_integers(schema[key], document, f"{where}[]", seen)


def test_every_integer_the_api_reads_has_a_range(fuzzed_berth: Server) -> None:
    """Path, query and body integers are berth.api.numbers types, so a value beyond its database
    column is refused before SQL (what the fuzz run above probes at each bound)."""
    document = httpx.get(f"{fuzzed_berth.url}/api/v2.0/openapi.json", timeout=30.0).raise_for_status().json()
    unbounded = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['name']}"
                unbounded.update(_unbounded_integers(parameter.get("schema", {}), document, where))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded.update(_unbounded_integers(content["schema"], document, f"{method.upper()} {path} body"))
    assert not unbounded, sorted(unbounded)
