"""Property tests for the name, tag, reference and digest grammar."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.references import (
    InvalidDigest,
    UnsupportedDigest,
    digest_of,
    is_digest_reference,
    is_valid_name,
    is_valid_tag,
    parse_digest,
)
from berth.storage import paths

SPEC_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest), alnum, st.lists(st.tuples(separator, alnum), max_size=3)
)
valid_name = st.lists(component, min_size=1, max_size=5).map("/".join).filter(lambda n: len(n) <= 255)


@given(valid_name)
def test_every_name_of_the_grammar_is_accepted(name: str) -> None:
    assert is_valid_name(name)


@given(st.text(max_size=300))
def test_name_validation_agrees_with_the_spec_regex(text: str) -> None:
    assert is_valid_name(text) == (SPEC_NAME.fullmatch(text) is not None and len(text) <= 255)


@given(st.text(alphabet="abc./_-ABC\\%:\x00 ", max_size=40))
def test_accepted_names_never_escape_or_contain_path_tricks(text: str) -> None:
    if is_valid_name(text):
        parts = text.split("/")
        assert ".." not in parts and "." not in parts and "" not in parts
        assert not text.startswith("/") and "\\" not in text and "\x00" not in text


def test_names_at_and_over_the_length_limit() -> None:
    assert is_valid_name("a" * 255)
    assert not is_valid_name("a" * 256)
    assert is_valid_name("team/app/api")
    for bad in ["", "A", "a/../b", "../a", "a//b", "a/", "/a", "a-", "-a", "a..b", "a___b", "a b"]:
        assert not is_valid_name(bad), bad


@given(st.text(max_size=140))
def test_tag_validation_agrees_with_the_spec_regex(text: str) -> None:
    assert is_valid_tag(text) == (SPEC_TAG.fullmatch(text) is not None)


@given(st.binary(max_size=256), st.sampled_from(["sha256", "sha512"]))
def test_computed_digests_parse_back(data: bytes, algorithm: str) -> None:
    text = digest_of(data, algorithm)
    digest = parse_digest(text)
    assert str(digest) == text
    assert digest.hex == hashlib.new(algorithm, data).hexdigest()
    assert is_digest_reference(text)


@given(st.text(max_size=150))
def test_parse_digest_accepts_only_canonical_hex(text: str) -> None:
    try:
        digest = parse_digest(text)
    except InvalidDigest:
        return
    assert digest.algorithm in ("sha256", "sha512")
    assert re.fullmatch(r"[0-9a-f]+", digest.hex)
    assert str(digest) == text


def test_malformed_and_unsupported_digests() -> None:
    with pytest.raises(UnsupportedDigest):
        parse_digest("md5:" + "0" * 32)
    for bad in ["sha256:" + "0" * 63, "sha256:" + "G" * 64, "sha256:" + "A" * 64, "sha256", ":" + "0" * 64, "sha256:../x"]:
        with pytest.raises(InvalidDigest):
            parse_digest(bad)


@given(st.binary(max_size=64))
def test_blob_paths_are_derived_only_from_parsed_digests(data: bytes) -> None:
    digest = parse_digest(digest_of(data))
    path = paths.blob_path(digest)
    assert path == f"blobs/sha256/{digest.hex[:2]}/{digest.hex}/data"


@given(st.text(max_size=60))
def test_upload_keys_accept_only_uuids(text: str) -> None:
    try:
        key = paths.upload_dir(text)
    except ValueError:
        return
    assert re.fullmatch(r"uploads/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key)
