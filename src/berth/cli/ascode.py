"""Registry as code: `berth apply`, `berth export` (and the linter and the compliance report), clients
of a registry's Harbor API v2.0 (berth or Harbor). docs/registry-as-code.md has the design."""

from __future__ import annotations

import getpass
import os
import sys
from enum import Enum
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


class LintFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    note = "note"
    never = "never"


#: `berth lint`: 1 a finding at or above --fail-on; 2 nothing could be linted (file, config, registry)
LINT_FINDINGS, LINT_UNREADABLE = 1, 2


def lint(
    file: Annotated[Optional[Path], typer.Argument(metavar="[REGISTRY.YAML]", help="The file to lint.",
                                                   show_default=False)] = None,
    live: Annotated[bool, typer.Option("--live", help="Lint the registry's actual state, read through the API "
                                       "(--url, BERTH_USERNAME / BERTH_PASSWORD), instead of a file.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="The linter's YAML configuration: production patterns and labels, max_robot_days, rule "
        "severities (error, warning, note) or off.", show_default=False)] = None,
    output_format: Annotated[LintFormat, typer.Option("--format", help="text, json, or sarif (GitHub code scanning).")]
    = LintFormat.text,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here instead of "
                                                   "standard output.", show_default=False)] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 when a finding is at this severity or above.")]
    = FailOn.error,
    url: UrlOption = None, ca_cert: CaOption = None, insecure: InsecureOption = False,
) -> None:
    """Check a registry.yaml (or with --live the registry itself) against best practices: robot expiry
    and permissions, vulnerability policy, content trust, immutable release tags, retention, GC,
    replication, CVE allowlists, public production projects. Exit 0 clean, 1 findings at --fail-on
    or above, 2 nothing linted (unreadable file or configuration, registry not reachable)."""
    from berth.ascode.lint import ConfigInvalid, fails, parse_config
    from berth.ascode.lint import lint as run_lint
    from berth.ascode.lint_report import FORMATS
    from berth.ascode.model import DocumentError, load_file

    if (file is None) == (not live):
        raise fail("lint a file (berth lint registry.yaml) or the registry (berth lint --live), one of them",
                   LINT_UNREADABLE)
    try:
        settings = parse_config(_lint_config(config) if config is not None else None)
    except ConfigInvalid as exc:
        raise fail(f"{config}: {exc}", LINT_UNREADABLE) from None
    if file is not None:
        try:
            document = load_file(file)
        except DocumentError as exc:
            raise fail(str(exc), LINT_UNREADABLE) from None
        data, source, where = document.data, document.source, document.where
    else:
        from berth.ascode.state import export_document

        with connect(url, ca_cert, insecure) as client:
            try:
                data = export_document(client)
            except HarborError as exc:
                raise fail(f"reading the registry: {exc}", LINT_UNREADABLE) from None
        source, where = str(url), None
    findings = run_lint(data, settings)
    report = FORMATS[output_format.value](findings, source, where)
    if output is None:
        sys.stdout.write(report)
    else:
        output.write_text(report, encoding="utf-8")
    if fails(findings, fail_on.value):
        raise typer.Exit(LINT_FINDINGS)


def _lint_config(path: Path) -> object:
    """The linter's configuration file as data; its errors as ConfigInvalid with the line and column."""
    from berth.ascode.lint import ConfigInvalid

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(getattr(exc, "strerror", None) or str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigInvalid(f"{where}YAML: {getattr(exc, 'problem', None) or exc}") from None


report_app = typer.Typer(help="Reports on a registry (berth or Harbor) read through its API.", no_args_is_help=True)


class ReportFormat(str, Enum):
    md = "md"
    html = "html"
    json = "json"
    csv = "csv"


@report_app.command("compliance")
def compliance(
    url: UrlOption = None,
    output_format: Annotated[ReportFormat, typer.Option("--format", help="md, html (charts as inline SVG), json "
                                                        "(the numbers) or csv (one row per project).")]
    = ReportFormat.md,
    since: Annotated[str, typer.Option(help="The period for pulls and remediations: hours, days or weeks (12h, 30d, "
                                       "2w).")] = "30d",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here instead of stdout.",
                                                   show_default=False)] = None,
    ca_cert: CaOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Signature and scan coverage per project, pass rate against each project's CVE policy, open
    critical and high findings by age, mean time to remediate, expiring CVE allowlists, robot
    credentials, and unsigned or critical-vulnerability artifacts pulled in the period. Credentials:
    BERTH_USERNAME / BERTH_PASSWORD, else a prompt. Exit 1 when the registry cannot be read."""
    from berth.ascode.report import build_report, gather, parse_since
    from berth.ascode.report_render import render

    try:
        period = parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    try:
        with connect(url, ca_cert, insecure) as client:
            inventory = gather(client, period)
    except HarborError as exc:
        raise fail(str(exc)) from None
    text = render(build_report(inventory), output_format.value)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("export")(export)
    app.command("schema")(schema)
    app.command("lint")(lint)
    app.add_typer(report_app, name="report")
