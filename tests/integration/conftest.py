"""Fixtures of the integration suite: a raw /v2 client on the shared berth, extra berth processes, skopeo."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_berth

from .helpers import V2


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Any]]:
    """Start extra berth processes (`start_server(data_dir=None, port=None)`); all are stopped after the test."""
    started = []

    def start(data_dir: Path | None = None, port: int | None = None, env: dict[str, str] | None = None):
        server = start_berth(data_dir or tmp_path / f"extra-{len(started)}" / "data", env, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def v2(berth) -> Iterator[V2]:
    """A raw /v2 client on the session's berth (SQLite, and PostgreSQL when configured)."""
    with V2(berth.url, auth=berth.auth) as client:
        yield client


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        pytest.fail("skopeo is not installed (make test installs it)")
    return path
