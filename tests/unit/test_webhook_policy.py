"""Webhook policy validation: Harbor's rules and messages, without a server."""

from __future__ import annotations

import pytest

from berth.webhook.policy import (
    PolicyInvalid,
    Target,
    check_event_types,
    check_name,
    check_targets,
    normalize_address,
)


@pytest.mark.parametrize(("given", "stored"), [
    ("https://hooks.example.com/in/", "https://hooks.example.com/in"),
    ("  http://10.0.0.1:8080/x?token=abc ", "http://10.0.0.1:8080/x?token=abc"),
    ("receiver.local:9000/hook", "http://receiver.local:9000/hook"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
])
def test_addresses_are_normalized_like_harbors_parse_endpoint(given, stored):
    assert normalize_address(given) == stored


@pytest.mark.parametrize(("address", "message"), [
    ("ftp://x", "invalid scheme: ftp"),
    ("not a url", "invalid host"),
    ("", "empty URL"),
    ("http://", "invalid host"),
    ("http://host:port/", "parse"),
    ("mailto://someone@", "invalid scheme: mailto"),
])
def test_addresses_that_are_not_http_urls_with_a_host_are_refused(address, message):
    with pytest.raises(PolicyInvalid, match=message):
        normalize_address(address)


def test_event_types_must_be_given_and_supported():
    with pytest.raises(PolicyInvalid, match="^empty event type$"):
        check_event_types([])
    with pytest.raises(PolicyInvalid, match="^unsupported event type PUSH_IMAGE$"):
        check_event_types(["PUSH_ARTIFACT", "PUSH_IMAGE"])
    assert check_event_types(["PUSH_ARTIFACT", "QUOTA_EXCEED", "PUSH_ARTIFACT"]) == ["PUSH_ARTIFACT", "QUOTA_EXCEED"]


def test_targets_follow_harbors_rules():
    with pytest.raises(PolicyInvalid, match="^empty notification target with policy p$"):
        check_targets("p", [])
    with pytest.raises(PolicyInvalid, match="^unsupported target type email with policy p$"):
        check_targets("p", [Target("email", "http://x")])
    with pytest.raises(PolicyInvalid, match="^set payload format is not allowed for slack$"):
        check_targets("p", [Target("slack", "https://hooks.slack.com/x", payload_format="CloudEvents")])
    with pytest.raises(PolicyInvalid, match="^unsupported payload format type: XML$"):
        check_targets("p", [Target("http", "http://x", payload_format="XML")])


def test_an_http_target_without_a_format_gets_default_and_slack_gets_none():
    http, slack, cloud = check_targets("p", [
        Target("http", "http://a/"), Target("slack", "https://hooks.slack.com/x"),
        Target("http", "http://b", payload_format="CloudEvents"),
    ])
    assert (http.address, http.payload_format) == ("http://a", "Default")
    assert slack.payload_format == ""
    assert cloud.payload_format == "CloudEvents"


def test_a_name_is_required():
    with pytest.raises(PolicyInvalid):
        check_name("  ")
    with pytest.raises(PolicyInvalid):
        check_name("x" * 256)
    assert check_name(" hook ") == "hook"


def test_secrets_that_http_would_refuse_are_refused_when_stored() -> None:
    from berth.webhook.policy import check_secret

    check_secret("auth_header", "Bearer abc")
    for bad in ("Bearer abc ", " Bearer abc", "Bearer abc\n", "Bearer\r\nX-Injected: 1", "a\x00b", "x" * 4097):
        with pytest.raises(PolicyInvalid):
            check_secret("auth_header", bad)


def test_a_policy_has_at_most_ten_targets_and_bounded_addresses() -> None:
    eleven = [Target("http", f"http://hook{i}.example.com") for i in range(11)]
    with pytest.raises(PolicyInvalid, match="at most 10 targets"):
        check_targets("p", eleven)
    with pytest.raises(PolicyInvalid, match="longer than"):
        check_targets("p", [Target("http", "http://example.com/" + "a" * 2100)])
    with pytest.raises(PolicyInvalid, match="auth_header"):
        check_targets("p", [Target("http", "http://example.com", auth_header="Bearer t\n")])


def test_delivery_logs_hide_credentials_in_addresses_and_errors() -> None:
    from berth.webhook.delivery import _redacted, loggable

    assert loggable("https://user:pw@hooks.example.com:8443/T000/B000/secret?token=x") == \
        "https://hooks.example.com:8443/…"
    assert loggable("http://ci.example.com") == "http://ci.example.com"
    headers = {"Authorization": "Bearer s3cr3t"}
    assert "s3cr3t" not in _redacted("Illegal header value b'Bearer s3cr3t'", headers)
