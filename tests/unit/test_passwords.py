"""Harbor's password rules and berth's hashing, without a server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.security.passwords import (
    PASSWORD_RULES,
    generate_secret,
    hash_password,
    name_problem,
    needs_rehash,
    password_problem,
    verify_password,
)


@pytest.mark.parametrize("password", ["Harbor12345", "aB345678", "Zz1" + "x" * 125])
def test_passwords_that_follow_harbors_rules_are_accepted(password: str) -> None:
    assert password_problem(password) is None


@pytest.mark.parametrize(
    "password",
    ["", "Ab1", "aB34567", "harbor12345", "HARBOR12345", "HarborHarbor", "Zz1" + "x" * 126, "ÄBCdef123".lower()],
)
def test_passwords_that_break_harbors_rules_get_harbors_message(password: str) -> None:
    assert password_problem(password) == PASSWORD_RULES


def test_hashes_verify_only_the_right_password_and_never_contain_it() -> None:
    stored = hash_password("Harbor12345")
    assert stored.startswith("$argon2id$") and "Harbor12345" not in stored
    assert verify_password(stored, "Harbor12345")
    assert not verify_password(stored, "Harbor12346")
    assert not verify_password(None, "Harbor12345")
    assert not verify_password("not a hash", "Harbor12345")
    assert not needs_rehash(stored)
    assert hash_password("Harbor12345") != stored  # salted


@settings(max_examples=25)
@given(st.integers(min_value=8, max_value=64))
def test_generated_secrets_follow_the_rules(length: int) -> None:
    secret = generate_secret(length)
    assert len(secret) == length and password_problem(secret) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [("alice", None), ("a" * 255, None), ("", "username with illegal length"), ("a" * 256, "username with illegal length"),
     ("al#ice", "username contains illegal characters"), ('a"b', "username contains illegal characters")],
)
def test_user_names_by_harbors_rules(name: str, problem: str | None) -> None:
    assert name_problem(name) == problem
