"""The web UI's addresses: which paths it owns, how a repository page's path splits, where a log-in
may send the browser back to."""

import pytest

from berth.auth.web import local_target
from berth.ui.app import owns
from berth.ui.artifacts import _PATH

SHA256, SHA512 = "sha256:" + "a" * 64, "sha512:" + "b" * 128


@pytest.mark.parametrize(("rest", "repository", "digest", "action"), [
    ("app", "app", None, None),
    ("team/app/api", "team/app/api", None, None),
    ("a/artifacts", "a/artifacts", None, None),  # a repository may be named so
    (f"app/artifacts/{SHA256}", "app", SHA256, None),
    (f"x/y/artifacts/{SHA512}/delete", "x/y", SHA512, "/delete"),
    (f"app/artifacts/{SHA256}/labels/12/remove", "app", SHA256, "/labels/12/remove"),
    (f"app/artifacts/{SHA256}/sbom", "app", SHA256, "/sbom"),
])
def test_a_repository_path_splits_into_repository_digest_and_action(rest, repository, digest, action):
    match = _PATH.fullmatch(rest)
    assert match and (match["repository"], match["digest"], match["action"]) == (repository, digest, action)


@pytest.mark.parametrize(("path", "ui"), [
    ("/", True), ("/login", True), ("/projects", True), ("/projects/-/new", True), ("/static/berth.css", True),
    ("/favicon.ico", True), ("/v2/", False), ("/api/v2.0/projects", False), ("/c/login", False),
    ("/service/token", False), ("/metrics", False), ("/scanner/api/v1/metadata", False), ("/projectsx", False),
])
def test_the_ui_owns_its_paths_and_no_other_fronts(path, ui):
    assert owns(path) is ui


@pytest.mark.parametrize(("target", "safe"), [
    ("/projects/a?page=2", "/projects/a?page=2"), (None, "/"), ("", "/"), ("https://evil.example/", "/"),
    ("//evil.example/", "/"), ("/\\evil.example/", "/"), ("projects", "/"), ("/a\nb", "/"),
])
def test_a_log_in_returns_only_to_a_path_on_this_server(target, safe):
    assert local_target(target) == safe
