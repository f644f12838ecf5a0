"""The start-up shortcut that skips Alembic on an up-to-date database agrees with Alembic."""

from __future__ import annotations

import subprocess
import sys

from alembic.config import Config
from alembic.script import ScriptDirectory

from berth.db.session import MIGRATIONS_DIR, head_revision


def test_head_revision_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [head_revision()]
    for revision in script.walk_revisions():
        assert revision.module.__file__.rsplit("/", 1)[1].startswith(f"{revision.revision}_")


def test_up_to_date_database_starts_without_alembic(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'berth.db'}"
    check = (
        "import sys; from berth.db.session import run_migrations; "
        f"run_migrations({url!r}); print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # a new database is migrated by Alembic
    assert second.stdout.strip() == "False"  # then left alone, without loading it
