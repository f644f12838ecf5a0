"""What every `berth` command that runs against the data folder shares: the settings (flags >
BERTH_* environment > config file > defaults) and getting the process and database ready. Its own
module so that the sub-commands' modules (gc, scan, vulndb) and cli/main.py, which registers them,
do not import each other."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError

from berth.config import Settings

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="YAML file of settings (keys as in `berth config`).", show_default=False),
]


def load_settings(config: Path | None, **flags: Any) -> Settings:
    """Settings from flags > BERTH_* environment > config file > defaults; exit with one line on error."""
    given = {k: v for k, v in flags.items() if v is not None}
    if config is not None:
        given["config_file"] = config
    try:
        return Settings(**given)
    except (ValidationError, ValueError) as exc:
        message = exc.errors()[0] if isinstance(exc, ValidationError) else None
        if message is not None:
            where = ".".join(str(p) for p in message["loc"]) or "settings"
            typer.echo(f"berth: invalid setting {where}: {message['msg']}", err=True)
        else:
            typer.echo(f"berth: {exc}", err=True)
        raise typer.Exit(2) from None


def prepare(settings: Settings) -> None:
    """Ready this process for a long run: tune the C heap, create the data folder, bring the
    database schema up to date."""
    from berth.db.session import run_migrations
    from berth.heap import tune_heap

    tune_heap()

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        run_migrations(settings.effective_database_url)
    except Exception as exc:  # one clear line instead of a traceback
        typer.echo(f"berth: cannot prepare the database: {exc}", err=True)
        raise typer.Exit(1) from None
