"""`berth vulndb import|status`: load OSV exports into the database `berth serve` uses, and say what is loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

from berth.cli.settings import ConfigOption, load_settings, prepare

app = typer.Typer(help="The scanner's vulnerability database (OSV records).", no_args_is_help=True, rich_markup_mode=None)

DataDirOption = Annotated[
    Optional[Path], typer.Option(help="Folder of the SQLite database and blobs. [default: ./data]", show_default=False)
]
DatabaseUrlOption = Annotated[
    Optional[str], typer.Option(help="SQLAlchemy URL of the database (default: SQLite in the data folder).", show_default=False)
]


@app.command("import")
def import_(
    sources: Annotated[list[str], typer.Argument(help="OSV all.zip files or URLs, folders of .json records, "
                                                   "or an osv-scanner cache folder (<dir>/osv-scanner/<ECOSYSTEM>/all.zip).")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    show_invalid: Annotated[int, typer.Option(help="Invalid records to list, with the reason.")] = 20,
) -> None:
    """Replace the vulnerability database with the records of SOURCES, all at once."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from berth.db.session import Database
    from berth.scan.osv_sources import SourceError
    from berth.scan.vulndb import ImportConflict, VulnDB

    settings = load_settings(config, data_dir=data_dir, database_url=database_url)
    prepare(settings)
    console = Console(stderr=True)

    async def run() -> None:
        db = Database(settings.effective_database_url)
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("import", total=0)
                report = await VulnDB(db).import_sources(
                    sources,
                    add_total=lambda n: progress.update(task, total=(progress.tasks[0].total or 0) + n),
                    advance=lambda n: progress.advance(task, n),
                )
        finally:
            await db.close()
        for origin, reason in report.invalid[:show_invalid]:
            typer.echo(f"invalid: {origin}: {reason}", err=True)
        if len(report.invalid) > show_invalid:
            typer.echo(f"invalid: … and {len(report.invalid) - show_invalid} more", err=True)
        typer.echo(
            f"loaded {report.loaded}, invalid {len(report.invalid)}, withdrawn {report.withdrawn}, "
            f"took {report.seconds:.1f} s"
            + (f" ({report.unindexed} without a package to index)" if report.unindexed else "")
        )

    try:
        asyncio.run(run())
    except (SourceError, ImportConflict) as exc:
        typer.echo(f"berth: import failed, the previous vulnerability database stays: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def status(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None, config: ConfigOption = None) -> None:
    """Records per ecosystem, the newest record and the import's age."""
    from berth.db.session import Database
    from berth.scan.vulndb import VulnDB

    settings = load_settings(config, data_dir=data_dir, database_url=database_url)
    prepare(settings)

    async def run() -> None:
        db = Database(settings.effective_database_url)
        try:
            state = await VulnDB(db).status()
        finally:
            await db.close()
        if not state.generation:
            typer.echo("no vulnerability database imported (berth vulndb import …)")
            return
        age = state.age() or 0.0
        typer.echo(f"{state.records} records, imported {state.imported_at:%Y-%m-%d %H:%M:%S} UTC "
                   f"({age / 3600:.1f} h ago), newest record modified {state.max_modified}")
        for ecosystem, n in state.counts.items():
            typer.echo(f"  {ecosystem}: {n}")
        typer.echo("source: " + state.source.replace("\n", ", "))

    asyncio.run(run())
