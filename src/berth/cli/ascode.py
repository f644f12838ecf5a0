"""Registry as code on the command line: `berth report compliance` (docs/registry-as-code.md)."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from berth.client import HarborClient

report_app = typer.Typer(help="Reports on a registry (berth or Harbor) read through its API.", no_args_is_help=True)


class ReportFormat(str, Enum):
    md = "md"
    html = "html"
    json = "json"
    csv = "csv"


def _connect(url: str | None, insecure: bool) -> HarborClient:
    """A client of BERTH_URL (or --url) as BERTH_USERNAME / BERTH_PASSWORD, or a prompt for them."""
    from berth.client import HarborClient

    if not url:
        raise typer.BadParameter("give the registry's URL with --url or BERTH_URL", param_hint="--url")
    username = os.environ.get("BERTH_USERNAME") or typer.prompt("Username", err=True)
    password = os.environ.get("BERTH_PASSWORD")
    if password is None:
        password = typer.prompt("Password", hide_input=True, err=True)
    return HarborClient(url, username, password, verify=not insecure)


@report_app.command("compliance")
def compliance(
    url: Annotated[Optional[str], typer.Option(envvar="BERTH_URL", help="The registry's base URL (berth or Harbor).",
                                               show_default=False)] = None,
    output_format: Annotated[ReportFormat, typer.Option("--format", help="md, html (charts as inline SVG), json "
                                                        "(the numbers) or csv (one row per project).")]
    = ReportFormat.md,
    since: Annotated[str, typer.Option(help="The period for pulls and remediations: hours, days or weeks (12h, 30d, "
                                       "2w).")] = "30d",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here instead of stdout.",
                                                   show_default=False)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify the registry's TLS certificate.")]
    = False,
) -> None:
    """Signature and scan coverage per project, pass rate against each project's CVE policy, open
    critical and high findings by age, mean time to remediate, expiring CVE allowlists, robot
    credentials, and unsigned or critical-vulnerability artifacts pulled in the period. Credentials:
    BERTH_USERNAME / BERTH_PASSWORD, else a prompt. Exit 1 when the registry cannot be read."""
    from berth.ascode.report import build_report, gather, parse_since
    from berth.ascode.report_render import render
    from berth.client import HarborError

    try:
        period = parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    try:
        with _connect(url, insecure) as client:
            inventory = gather(client, period)
    except HarborError as exc:
        typer.echo(f"berth: {exc}", err=True)
        raise typer.Exit(1) from None
    text = render(build_report(inventory), output_format.value)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"berth: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
