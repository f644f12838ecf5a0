"""Upgrading a database made before projects existed: its repositories join private projects."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.conftest import start_berth


def test_repositories_from_before_projects_are_adopted_into_private_projects_owned_by_admin(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'berth.db'}"
    script = (
        "from alembic import command; from alembic.config import Config; "
        "from berth.db.session import MIGRATIONS_DIR; c = Config(); "
        "c.set_main_option('script_location', str(MIGRATIONS_DIR)); "
        f"c.set_main_option('sqlalchemy.url', {url!r}); command.upgrade(c, '0001')"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    with sqlite3.connect(data / "berth.db") as db:
        for name in ("old/app", "old/tools/cli", "other/x", "lonely"):
            db.execute("INSERT INTO repositories (name, created_at, updated_at) VALUES (?, '2026-01-01', '2026-01-01')",
                       (name,))
    server = start_berth(data, projects=())
    try:
        with server.client() as api:
            projects = {p["name"]: p for p in api.get("/api/v2.0/projects", params={"page_size": 100}).json()}
            assert set(projects) == {"library", "old", "other"}
            assert projects["old"]["metadata"]["public"] == "false" and projects["old"]["owner_name"] == "admin"
            assert projects["old"]["repo_count"] == 2 and projects["old"]["current_user_role_id"] == 1
            catalog = api.get("/v2/_catalog").json()["repositories"]
            assert catalog == ["lonely", "old/app", "old/tools/cli", "other/x"]  # admins see everything
        with server.client(auth=None) as anonymous:
            assert anonymous.get("/v2/_catalog").json()["repositories"] == []
    finally:
        server.stop()
