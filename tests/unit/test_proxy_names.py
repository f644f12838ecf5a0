"""The proxy cache's naming rules (pure): Docker Hub's `library/`, Harbor's repository filter, mirror mode."""

from __future__ import annotations

from berth.proxy.names import filter_problem, mirror_project, upstream_repository
from berth.replication.adapters import DOCKER_HUB_REGISTRY, Endpoint, distribution_url


def test_docker_hub_one_segment_names_are_official_library_images():
    assert upstream_repository("docker-hub", "nginx") == "library/nginx"
    assert upstream_repository("docker-hub", "library/nginx") == "library/nginx"
    assert upstream_repository("docker-hub", "bitnami/redis") == "bitnami/redis"
    # other registries have no such convention
    assert upstream_repository("docker-registry", "nginx") == "nginx"
    assert upstream_repository("harbor", "nginx") == "nginx"


def test_docker_hub_is_reached_at_its_registry_host_not_its_web_address():
    hub = Endpoint(type="docker-hub", url="https://hub.docker.com")
    assert distribution_url(hub) == DOCKER_HUB_REGISTRY == "https://registry-1.docker.io"
    assert distribution_url(Endpoint(type="docker-registry", url="http://127.0.0.1:5000/")) == "http://127.0.0.1:5000"


def test_repository_filter_as_harbor_words_its_refusal():
    assert filter_problem("library/nginx", "", "") is None
    assert filter_problem("library/nginx", "library/**", "doublestar") is None
    assert filter_problem("bitnami/redis", "library/**", "doublestar") == (
        'repository "bitnami/redis" does not match project repository filter')
    assert filter_problem("library/nginx", r"library/(nginx|redis)", "regex") is None
    assert filter_problem("library/alpine", r"library/(nginx|redis)", "regex") is not None
    assert filter_problem("x", "(", "regex") is not None  # an invalid pattern proxies nothing


def test_mirror_project_by_the_upstream_the_runtime_names():
    mirrors = {"docker.io": "hub", "quay.io": "quay", "*": "other"}
    assert mirror_project("quay.io", mirrors) == "quay"
    assert mirror_project(None, mirrors) == "hub"  # Docker's registry-mirrors: Docker Hub
    assert mirror_project("ghcr.io", mirrors) == "other"
    assert mirror_project("ghcr.io", {"docker.io": "hub"}) is None
    assert mirror_project(None, {}) is None
