"""`berth gc`: garbage collection from the command line, over the database and storage `berth serve`
uses, while it goes on serving; the same collector the GARBAGE_COLLECTION job runs."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from berth.cli.settings import ConfigOption, load_settings, prepare
from berth.cli.vulndb import DatabaseUrlOption, DataDirOption


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be freed; delete nothing.")] = False,
    delete_untagged: Annotated[bool, typer.Option("--delete-untagged", help="Delete untagged artifacts first "
                                                  "(with their accessories).")] = False,
    workers: Annotated[int, typer.Option(help="Storage deletes at once (1-10).", min=1, max=10)] = 1,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete blobs no manifest references (after the grace window), expired uploads and empty repositories."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from berth.gc import GcParameters
    from berth.services.registry import Registry

    settings = load_settings(config, data_dir=data_dir, database_url=database_url)
    prepare(settings)
    console = Console(stderr=True)
    parameters = GcParameters(delete_untagged=delete_untagged, dry_run=dry_run, workers=workers)

    async def run() -> None:
        registry = Registry.open(settings)
        columns = (TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console, transient=True) as progress:
                tasks: dict[str, int] = {}

                def step(name: str, done: int, total: int | None) -> None:
                    if name not in tasks:
                        tasks[name] = progress.add_task(name, total=total)
                    progress.update(tasks[name], completed=done, total=total)

                report = await registry.gc.run(parameters, log_line=lambda line: progress.console.log(line),
                                               progress=step)
        finally:
            await registry.close()
        typer.echo(report.summary() + f", took {report.seconds:.1f} s")

    asyncio.run(run())
