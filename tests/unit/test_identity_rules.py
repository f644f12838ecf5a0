"""The pure rules behind identity and access: scopes, throttling, configuration values, project and
profile checks, token and robot decisions."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.auth.ratelimit import LoginLimiter
from berth.auth.rbac import Subject, is_allowed_system, repository_actions, visible_project_ids
from berth.auth.tokens import ScopeInvalid, parse_scope, parse_scopes
from berth.security.roles import ALL_PROJECTS, Permission, ProjectRef, Role, grantable
from berth.services.configurations import coerce
from berth.services.errors import BadRequest, TooManyRequests
from berth.services.projects import name_problem, normalize_allowlist, normalize_metadata
from berth.services.users import profile_problem


def test_scopes_parse_with_colons_in_the_name_and_several_per_value():
    scopes = parse_scope("repository:127.0.0.1:5000/team/app:pull,push registry:catalog:*")
    assert [(s.type, s.name, s.actions) for s in scopes] == [
        ("repository", "127.0.0.1:5000/team/app", ("pull", "push")),
        ("registry", "catalog", ("*",)),
    ]
    assert parse_scope("repository:a/b:pull,pull,")[0].actions == ("pull",)


@pytest.mark.parametrize("text", ["repository", "repository:a", ":a:pull", "repository::pull",
                                  "repository:a:pu$h", "Repo$:a:pull"])
def test_malformed_scopes_are_refused(text):
    with pytest.raises(ScopeInvalid):
        parse_scope(text)


def test_at_most_32_scopes():
    parse_scopes([f"repository:a/r{i}:pull" for i in range(32)])
    with pytest.raises(ScopeInvalid):
        parse_scopes([f"repository:a/r{i}:pull" for i in range(33)])


@given(st.text(max_size=300))
def test_scope_parsing_never_fails_other_than_with_scope_invalid(text):
    try:
        parse_scope(text)
    except ScopeInvalid:
        pass


def test_login_limiter_blocks_a_name_from_the_failing_address_then_the_address_and_forgives_with_time():
    limiter = LoginLimiter(per_user=2, per_address=3, window=0.3)
    for spelling in ("alice", " ALICE "):  # one account, however the directory spells it
        limiter.check(spelling, "10.0.0.1")
        limiter.failed(spelling, "10.0.0.1")
    with pytest.raises(TooManyRequests):
        limiter.check("alice", "10.0.0.1")
    limiter.check("alice", "10.0.0.2")  # an attacker elsewhere does not lock alice out
    limiter.check("bob", "10.0.0.1")
    limiter.failed("bob", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        limiter.check("carol", "10.0.0.1")  # the address has 3 failures
    time.sleep(0.35)
    limiter.check("alice", "10.0.0.1")


def test_a_name_guessed_from_many_addresses_is_blocked_everywhere():
    limiter = LoginLimiter(per_user=1, per_address=100, window=60)
    for i in range(10):
        limiter.failed("robot$ci", f"10.0.1.{i}")
    with pytest.raises(TooManyRequests):
        limiter.check("robot$ci", "10.0.2.1")


def test_a_success_clears_the_name_from_that_address_but_not_the_address():
    limiter = LoginLimiter(per_user=2, per_address=3, window=60)
    limiter.failed("alice", "10.0.0.1")
    limiter.succeeded("alice", "10.0.0.1")
    limiter.failed("alice", "10.0.0.1")
    limiter.check("alice", "10.0.0.1")
    limiter.failed("bob", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        limiter.check("dave", "10.0.0.1")


@pytest.mark.parametrize("key,value,expected", [
    ("auth_mode", "ldap_auth", "ldap_auth"),
    ("self_registration", "true", True),
    ("token_expiration", "45", 45),
    ("ldap_scope", 1, 1),
    ("oidc_extra_redirect_parms", '{"a":"b"}', '{"a":"b"}'),
])
def test_configuration_values_are_coerced_to_harbors_types(key, value, expected):
    assert coerce(key, value) == expected


@pytest.mark.parametrize("key,value", [
    ("auth_mode", "uaa_auth"), ("self_registration", 1), ("token_expiration", 0), ("token_expiration", True),
    ("ldap_scope", 3), ("banner_message", 5), ("uaa_endpoint", "x"), ("no_such_item", 1),
    ("oidc_extra_redirect_parms", "[]"), ("banner_message", "x" * 5000),
])
def test_bad_configuration_values_are_refused(key, value):
    with pytest.raises(BadRequest):
        coerce(key, value)


@pytest.mark.parametrize("name,ok", [("library", True), ("a", True), ("team.app-1_x", True), ("x" * 255, True),
                                     ("", False), ("x" * 256, False), ("Upper", False), ("-a", False), ("a-", False),
                                     ("a__b", False), ("a/b", False)])
def test_project_names_follow_harbors_pattern(name, ok):
    assert (name_problem(name) is None) == ok


def test_metadata_is_normalized_and_unknown_keys_refused():
    assert normalize_metadata({"public": True, "severity": "HIGH", "auto_scan": "False"}) == {
        "public": "true", "severity": "high", "auto_scan": "false"}
    for bad in ({"public": "yes"}, {"colour": "red"}, {"severity": "apocalyptic"}, {"proxy_speed_kb": "fast"}):
        with pytest.raises(BadRequest):
            normalize_metadata(bad)
    assert normalize_allowlist([{"cve_id": "CVE-2024-1"}, {"cve_id": "CVE-2024-1"}]) == ["CVE-2024-1"]


@pytest.mark.parametrize("email,realname,comment,problem", [
    ("a@example.test", "Real", "", None),
    ("", "Real", "", "email can't be empty"),
    ("not-mail", "Real", "", "email with illegal format"),
    ("a@example.test", "", "", "realname with illegal length"),
    ("a@example.test", "bad#name", "", "realname contains illegal characters"),
    ("a@example.test", "Real", "c" * 31, "comment with illegal length"),
])
def test_profiles_follow_harbors_rules(email, realname, comment, problem):
    assert profile_problem(email, realname, comment) == problem


PROJECT = ProjectRef(id=7, public=False, created_at=1_000_000.5)


def test_a_tokens_access_is_per_repository_and_dies_with_its_project():
    token = Subject(name="ci", kind="token", access={"p/app": frozenset({"pull", "push"})}, issued_at=1_000_000)
    assert repository_actions(token, PROJECT, "p/app") == {"pull", "push"}
    assert repository_actions(token, PROJECT, "p/other") == frozenset()
    stale = Subject(name="ci", kind="token", access={"p/app": frozenset({"pull"})}, issued_at=999_999)
    assert repository_actions(stale, PROJECT, "p/app") == frozenset()


def test_robots_hold_their_grants_and_all_project_grants_apply_everywhere():
    robot = Subject(name="robot$x", kind="robot", grants={ALL_PROJECTS: frozenset({Permission("repository", "pull")})},
                    system_grants=frozenset({Permission("project", "create")}))
    assert repository_actions(robot, PROJECT, "p/app") == {"pull"}
    assert is_allowed_system(robot, Permission("project", "create"))
    assert not is_allowed_system(robot, Permission("user", "list"))
    assert visible_project_ids(robot, set()) is None  # pull everywhere: sees every repository name


def test_visible_projects_are_public_ones_and_memberships():
    guest = Subject(name="g", kind="user", roles={3: frozenset({Role.GUEST})})
    assert visible_project_ids(guest, {1, 2}) == {1, 2, 3}
    assert visible_project_ids(Subject(), {1}) == {1}
    assert visible_project_ids(Subject(name="root", sysadmin=True), {1}) is None


def test_only_admins_may_hand_out_user_and_member_management():
    assert Permission("user", "create") in grantable("system", sysadmin=True)
    assert Permission("user", "create") not in grantable("system", sysadmin=False)
    assert Permission("member", "create") not in grantable("project", sysadmin=False)
    assert grantable("project", sysadmin=False) <= grantable("project", sysadmin=True)


def test_sealed_values_can_be_given_a_maximum_age():
    from berth.security.keys import SecretBox

    box = SecretBox(b"k" * 32)
    sealed = box.seal("state")
    assert box.open(sealed, max_age=60) == "state"
    time.sleep(1.1)
    with pytest.raises(ValueError):
        box.open(sealed, max_age=0)
    with pytest.raises(ValueError):
        SecretBox(b"another key").open(sealed)
