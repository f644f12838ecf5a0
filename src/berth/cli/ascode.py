"""Registry as code: `berth apply`, `berth export` (and the linter and the compliance report), clients
of a registry's Harbor API v2.0 (berth or Harbor). docs/registry-as-code.md has the design."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from berth.client.core import HarborClient, HarborError

#: exit codes: 0 done / no change, 1 failed, 2 `--plan` found changes (or the command line was wrong)
CHANGES = 2
FAILED = 1

UrlOption = Annotated[Optional[str], typer.Option(
    "--url", envvar="BERTH_URL", help="The registry's base URL (BERTH_URL), e.g. https://registry.example.",
    show_default=False)]
CaOption = Annotated[Optional[Path], typer.Option(
    "--ca-cert", help="PEM bundle the registry's TLS certificate is verified with (default: the system's).",
    show_default=False)]
InsecureOption = Annotated[bool, typer.Option(
    "--insecure", help="Do not verify the registry's TLS certificate (a test registry only).")]


def fail(message: str, code: int = FAILED) -> typer.Exit:
    """One line on standard error, then the exit code."""
    typer.echo(f"berth: {message}", err=True)
    return typer.Exit(code)


def connect(url: str | None, ca_cert: Path | None = None, insecure: bool = False) -> HarborClient:
    """A client for `--url` with BERTH_USERNAME / BERTH_PASSWORD (asked for on a terminal when unset)."""
    if not url:
        raise fail("no registry: pass --url or set BERTH_URL", CHANGES)
    if not url.startswith(("http://", "https://")):
        raise fail(f"--url must start with http:// or https://, not {url!r}", CHANGES)
    username = os.environ.get("BERTH_USERNAME")
    password = os.environ.get("BERTH_PASSWORD")
    if username is None and sys.stdin.isatty():
        username = input("Username: ")
    if username is not None and password is None:
        if not sys.stdin.isatty():
            raise fail("BERTH_PASSWORD is not set and there is no terminal to ask on", CHANGES)
        password = getpass.getpass("Password: ")
    verify: bool | str = False if insecure else (str(ca_cert) if ca_cert else True)
    return HarborClient(url, username, password, verify=verify)


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="The registry.yaml (- for standard input).")],
    plan: Annotated[bool, typer.Option("--plan", help="Only show what would change; exit 2 when something would.")] = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Also delete what the registry has and the file does not name (in the kinds the file has).")] = False,
    secrets_out: Annotated[Optional[str], typer.Option(
        "--secrets-out", help="Where the secrets of robots created without a secret_file go "
        "(a file, mode 0600, or - for standard output).", show_default=False)] = None,
    url: UrlOption = None, ca_cert: CaOption = None, insecure: InsecureOption = False,
) -> None:
    """Make the registry match a registry.yaml: create, change (and with --prune delete) objects."""
    from berth.ascode.model import DocumentError, interpolate, load_file
    from berth.ascode.plan import PlanError, apply_plan, make_plan, render, write_secret_file

    try:
        document = load_file(file)
        data = interpolate(document.data, source=document.source)
    except DocumentError as exc:
        raise fail(str(exc), CHANGES) from None
    base = Path(file).resolve().parent if str(file) != "-" else Path.cwd()
    with connect(url, ca_cert, insecure) as client:
        try:
            the_plan = make_plan(data, client, prune=prune, secrets_out=secrets_out is not None)
        except PlanError as exc:
            raise fail(f"{document.source}: {exc}", CHANGES) from None
        except HarborError as exc:
            raise fail(f"reading the registry: {exc}") from None
        typer.echo(render(the_plan))
        if plan:
            raise typer.Exit(CHANGES if the_plan.changes else 0)
        if not the_plan.changes:
            return
        out_lines: list[str] = []

        def keep_secret(key: str, name: str, secret: str, want: dict[str, Any]) -> None:
            if want.get("secret_file"):
                target = base / want["secret_file"]
                write_secret_file(target, name, secret)
                typer.echo(f"  the secret of {name} is in {target} (mode 0600)")
            else:
                out_lines.append(f"{name}\t{secret}")

        outcome = apply_plan(the_plan, progress=lambda line: typer.echo(line), secret_sink=keep_secret)
        if out_lines:
            text = "\n".join(out_lines) + "\n"
            if secrets_out == "-":
                sys.stdout.write(text)
            else:
                write_secret_file(Path(secrets_out or "robot-secrets"), "", text.rstrip("\n"))
                typer.echo(f"  robot secrets written to {secrets_out} (mode 0600)")
        if outcome.failed is not None:
            typer.echo(f"failed: {outcome.failed.label}: {outcome.error}", err=True)
            typer.echo(f"done: {len(outcome.done)}; failed: 1; not done: {len(outcome.not_done)} "
                       "(fix the cause and apply again: what is done is not done twice)", err=True)
            for change in outcome.not_done:
                typer.echo(f"  not done: {change.action} {change.label}", err=True)
            raise typer.Exit(FAILED)
        typer.echo(f"Applied: {len(outcome.done)} changes.")


def export(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of standard output.",
                                                   show_default=False)] = None,
    url: UrlOption = None, ca_cert: CaOption = None, insecure: InsecureOption = False,
) -> None:
    """Write the registry's configuration as a registry.yaml (without ids, times and secrets)."""
    from berth.ascode.state import export_document

    with connect(url, ca_cert, insecure) as client:
        try:
            document = export_document(client)
        except HarborError as exc:
            raise fail(f"reading the registry: {exc}") from None
    text = "# written by `berth export`; secrets are not exported: add them as ${VARIABLES}\n" + dump(document)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def schema() -> None:
    """Print the JSON Schema of registry.yaml."""
    from importlib import resources

    sys.stdout.write(resources.files("berth.ascode").joinpath("registry.schema.json").read_text())


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("export")(export)
    app.command("schema")(schema)
