"""The scanner adapter's pure rules: which report an Accept asks for, what a scan request may say,
whose credential is good, and how Harbor's client reads Refresh-After."""

from __future__ import annotations

import base64
import copy

import orjson
import pytest

from berth.scan.client import AdapterAuth, refresh_after
from berth.scan.credentials import is_authorized
from berth.scan.errors import BadRequest, InvalidField, NotCapable, UnsupportedMediaType
from berth.scan.mimes import (
    CYCLONEDX_JSON,
    METADATA_1_0,
    METADATA_1_1,
    RAW_REPORT,
    SBOM_REPORT,
    SPDX_JSON,
    VULNERABILITY_1_0,
    VULNERABILITY_1_1,
    metadata_mime,
    wanted_report,
)
from berth.scan.request import ALL_REPORTS, parse_scan_request
from tests.scanner_api import example

BASIC_REQUEST = example("scan-request-basic-v1.0.json")
BEARER_REQUEST = example("scan-request-bearer.json")


@pytest.mark.parametrize("accept, expected", [
    (None, VULNERABILITY_1_1),
    ("", VULNERABILITY_1_1),
    ("*/*", VULNERABILITY_1_1),
    (VULNERABILITY_1_0, VULNERABILITY_1_0),
    ("application/vnd.scanner.adapter.vuln.report.harbor+json;version=1.0", VULNERABILITY_1_0),
    ("Application/Vnd.Security.Vulnerability.Report; version=\"1.1\"; q=0.9", VULNERABILITY_1_1),
    ("application/vnd.security.vulnerability.report", VULNERABILITY_1_1),
    ("text/html, application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0", VULNERABILITY_1_0),
])
def test_accept_picks_the_vulnerability_report(accept, expected):
    assert wanted_report(accept, None) == (expected, None)


def test_sbom_report_needs_a_known_sbom_media_type():
    assert wanted_report(SBOM_REPORT, SPDX_JSON) == (SBOM_REPORT, SPDX_JSON)
    assert wanted_report(SBOM_REPORT, CYCLONEDX_JSON) == (SBOM_REPORT, CYCLONEDX_JSON)
    with pytest.raises(BadRequest, match="sbom_media_type"):
        wanted_report(SBOM_REPORT, None)
    with pytest.raises(BadRequest, match="unsupported sbom_media_type"):
        wanted_report(SBOM_REPORT, "text/spdx")


def test_raw_report_is_not_produced_and_a_non_report_is_unsupported():
    with pytest.raises(NotCapable):
        wanted_report(RAW_REPORT, None)
    with pytest.raises(NotCapable):
        wanted_report("application/vnd.security.vulnerability.report; version=9.9, " + RAW_REPORT, None)
    with pytest.raises(UnsupportedMediaType):
        wanted_report("text/html", None)
    with pytest.raises(UnsupportedMediaType):
        wanted_report("application/vnd.security.vulnerability.report; version=9.9", None)


def test_harbor_examples_parse_and_the_credential_stays_out_of_repr():
    basic = parse_scan_request(orjson.dumps(BASIC_REQUEST))
    assert basic.registry_url == "https://core.harbor.domain" and basic.repository == "library/mongo"
    assert basic.reports == ALL_REPORTS  # no enabled_capabilities: everything
    assert basic.authorization == BASIC_REQUEST["registry"]["authorization"]
    assert "cm9ib3Q" not in repr(basic)
    bearer = parse_scan_request(orjson.dumps(BEARER_REQUEST))
    assert bearer.tag == "3.15.5"
    assert bearer.reports == ((VULNERABILITY_1_1, None), (SBOM_REPORT, SPDX_JSON), (SBOM_REPORT, CYCLONEDX_JSON))


def _changed(change) -> bytes:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(BEARER_REQUEST)
    change(doc)
    return orjson.dumps(doc)


@pytest.mark.parametrize("body, error, message", [
    (b"{not json", BadRequest, "not JSON"),
    (b"[]", BadRequest, "must be a JSON object"),
    (_changed(lambda d: d.update(registry="http://x")), BadRequest, "registry must be a JSON object"),
    (_changed(lambda d: d["artifact"].update(digest=42)), BadRequest, "artifact.digest must be a JSON string"),
    (_changed(lambda d: d.update(enabled_capabilities={})), BadRequest, "must be a JSON array"),
    (_changed(lambda d: d.pop("artifact")), InvalidField, "missing artifact"),
    (_changed(lambda d: d["artifact"].pop("digest")), InvalidField, "missing artifact.digest"),
    (_changed(lambda d: d["artifact"].update(digest="sha256:abc")), InvalidField, "invalid artifact.digest"),
    (_changed(lambda d: d["artifact"].update(repository="Library/UPPER")), InvalidField, "invalid artifact.repository"),
    (_changed(lambda d: d["registry"].pop("url")), InvalidField, "missing registry.url"),
    (_changed(lambda d: d["registry"].update(url="harbor-core:8080")), InvalidField, "absolute http or https"),
    (_changed(lambda d: d["registry"].update(url="file:///etc/passwd")), InvalidField, "absolute http or https"),
    (_changed(lambda d: d["registry"].update(authorization="Digest abc")), InvalidField, "Basic or Bearer"),
    (_changed(lambda d: d["enabled_capabilities"][0].update(type="malware")), InvalidField, "unknown capability"),
    (_changed(lambda d: d["enabled_capabilities"][1]["parameters"].update(sbom_media_types=["text/spdx"])),
     InvalidField, "unsupported SBOM media type"),
    (_changed(lambda d: d["enabled_capabilities"][0].update(produces_mime_types=[RAW_REPORT])),
     NotCapable, "does not produce"),
    (_changed(lambda d: d["artifact"].update(mime_type="application/vnd.cncf.helm.config.v1+json")),
     NotCapable, "does not scan artifacts"),
])
def test_bad_scan_requests_are_refused_with_the_specs_status(body, error, message):
    with pytest.raises(error, match=message) as raised:
        parse_scan_request(body)
    assert raised.value.status == {BadRequest: 400, InvalidField: 422, NotCapable: 501}[error]


def test_capability_without_produces_or_parameters_wants_all_its_reports():
    body = _changed(lambda d: d.update(enabled_capabilities=[{"type": "sbom", "parameters": None},
                                                             {"type": "vulnerability"}]))
    assert parse_scan_request(body).reports == (
        (SBOM_REPORT, SPDX_JSON), (SBOM_REPORT, CYCLONEDX_JSON), (VULNERABILITY_1_1, None), (VULNERABILITY_1_0, None))


def test_registry_allow_list_is_by_host_or_host_and_port():
    body = orjson.dumps(BEARER_REQUEST)  # http://harbor-core:8080
    assert parse_scan_request(body, frozenset({"harbor-core"})).registry_url == "http://harbor-core:8080"
    assert parse_scan_request(body, frozenset({"harbor-core:8080"})).registry_url == "http://harbor-core:8080"
    with pytest.raises(InvalidField, match="does not fetch from harbor-core:8080"):
        parse_scan_request(body, frozenset({"core.harbor.domain"}))


@pytest.mark.parametrize("headers, allowed", [
    ({"authorization": "Bearer s3cret"}, True),
    ({"authorization": "bearer s3cret"}, True),
    ({"authorization": "Basic " + base64.b64encode(b"s3cret").decode()}, True),  # Harbor encodes it
    ({"x-scanneradapter-api-key": "s3cret"}, True),
    ({"authorization": "Bearer wrong", "x-scanneradapter-api-key": "s3cret"}, True),
    ({"authorization": "Basic s3cret"}, False),  # not base64 of the credential
    ({"authorization": "Basic !!!"}, False),
    ({"authorization": "Token s3cret"}, False),
    ({"authorization": "Bearer s3cret-and-more"}, False),
    ({"x-scanneradapter-api-key": ""}, False),
    ({}, False),
])
def test_credential_in_any_of_harbors_three_forms(headers, allowed):
    assert is_authorized(headers, "s3cret") is allowed


def test_basic_credential_of_a_user_and_password_is_ordinary_basic_auth():
    assert is_authorized({"authorization": "Basic " + base64.b64encode(b"harbor:pass word").decode()},
                         "harbor:pass word")


def test_client_sends_the_credential_as_harbors_authorizers_do():
    assert AdapterAuth("Basic", "u:p").headers() == {"Authorization": "Basic dTpw"}
    assert AdapterAuth("Bearer", "t").headers() == {"Authorization": "Bearer t"}
    assert AdapterAuth("X-ScannerAdapter-API-Key", "k").headers() == {"X-ScannerAdapter-API-Key": "k"}
    assert "u:p" not in repr(AdapterAuth("Basic", "u:p"))


def test_without_a_configured_credential_everyone_is_let_in():
    assert is_authorized({}, None)


@pytest.mark.parametrize("header, seconds", [
    ("3", 3), ("0", 0), ("127", 127), (None, 5), ("", 5), ("128", 5), ("-1", 5), ("2.5", 5), ("soon", 5),
])
def test_refresh_after_is_read_as_harbor_reads_it(header, seconds):
    assert refresh_after(header) == seconds


@pytest.mark.parametrize("accept, expected", [
    (METADATA_1_0, METADATA_1_0),
    ("application/vnd.scanner.adapter.metadata+json;version=1.0", METADATA_1_0),
    (METADATA_1_1, METADATA_1_1),
    (None, METADATA_1_1),
    ("application/json", METADATA_1_1),
])
def test_metadata_answers_in_the_version_asked_for(accept, expected):
    assert metadata_mime(accept) == expected
