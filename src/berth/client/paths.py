"""Path segments of Harbor API URLs: a name as one segment, and a repository name as Harbor wants it
inside a path (encoded twice over, so that its slashes survive the router: a/b -> a%252Fb)."""

from __future__ import annotations

from urllib.parse import quote


def segment(value: object) -> str:
    """`value` as one path segment (every reserved character encoded, `/` too)."""
    return quote(str(value), safe="")


def repository_segment(value: object) -> str:
    """A repository name (without its project) as Harbor's repository paths take it: encoded twice."""
    return segment(segment(value))
