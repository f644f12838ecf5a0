"""What a proxy-cache project asks its upstream for, and which project a mirror request goes to (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from berth import patterns

#: Docker Hub keeps official images under `library/`: `proxy/nginx` is `library/nginx` there (as docker does it)
DOCKER_HUB_TYPE = "docker-hub"
#: the mirror_projects key for any upstream not named on its own
DEFAULT_MIRROR = "*"
#: the upstream a mirror request without `ns` is for: Docker's registry-mirrors mirror Docker Hub only
DOCKER_HUB_NAMESPACE = "docker.io"


def upstream_repository(registry_type: str, repository: str) -> str:
    """The repository to ask the upstream for, given the name inside the proxy project
    (`<project>/` already taken off): Docker Hub's one-segment names get `library/`."""
    if registry_type == DOCKER_HUB_TYPE and "/" not in repository:
        return f"library/{repository}"
    return repository


def filter_problem(repository: str, pattern: str, kind: str) -> str | None:
    """Harbor's proxy_cache_filter_pattern: why `repository` (in the project) may not be proxied, or None."""
    if not pattern:
        return None
    if kind == "regex":
        try:
            matched = re.fullmatch(pattern, repository) is not None
        except re.error:
            matched = False
    else:
        try:
            patterns.check(pattern)
            matched = patterns.matches(pattern, repository)
        except patterns.PatternInvalid:
            matched = False
    return None if matched else f'repository "{repository}" does not match project repository filter'


def mirror_project(namespace: str | None, mirror_projects: Mapping[str, str]) -> str | None:
    """The proxy project a mirror request is served through: the one configured for the upstream the
    runtime names (containerd's `?ns=`; none named is Docker's registry-mirrors, so docker.io), else
    the `*` default; None when no project is configured for it."""
    if not mirror_projects:
        return None
    return mirror_projects.get(namespace or DOCKER_HUB_NAMESPACE) or mirror_projects.get(DEFAULT_MIRROR)
