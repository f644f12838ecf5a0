"""`berth scan IMAGE`: scan an OCI layout or a registry's image against berth's vulnerability database, for CI."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from berth.cli.settings import ConfigOption, load_settings, prepare
from berth.cli.vulndb import DatabaseUrlOption, DataDirOption

if TYPE_CHECKING:
    import httpx

    from berth.scan.envelope import ArtifactRef
    from berth.scan.model import Finding, ImageInventory
    from berth.scan.sources import BlobSource
    from berth.scan.targets import LayoutTarget, RegistryTarget


class Format(str, Enum):
    table = "table"
    json = "json"
    spdx = "spdx"
    cyclonedx = "cyclonedx"


_SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")
_STYLES = {"Critical": "bold red", "High": "red", "Medium": "yellow", "Low": "cyan", "Negligible": "dim",
           "Unknown": "dim"}


def scan(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="oci:PATH[:TAG] (an OCI image layout) or "
                                              "docker://HOST/REPOSITORY[:TAG|@DIGEST] (a registry).",
                                         show_default=False)],
    output: Annotated[Format, typer.Option("--format", "-f", help="table, json (Harbor's vulnerability report "
                                           "1.1), spdx (SPDX 2.3 SBOM) or cyclonedx (CycloneDX 1.6 SBOM).")]
    = Format.table,
    severity: Annotated[str, typer.Option(help="Report only findings at or above this severity: "
                                          + ", ".join(_SEVERITIES) + ".")] = "unknown",
    exit_code: Annotated[int, typer.Option(help="Exit with this status when a finding at or above --severity "
                                           "is reported (for CI).")] = 0,
    platform: Annotated[str, typer.Option(help="The image of an index (multi-platform image) to scan, os/arch[/variant].")]
    = "linux/amd64",
    tls_verify: Annotated[bool, typer.Option("--tls-verify/--no-tls-verify", help="docker://: check the registry's "
                                             "certificate; --no-tls-verify also allows plain HTTP.")] = True,
    creds: Annotated[Optional[str], typer.Option(help="docker://: USER:PASSWORD for the registry.",
                                                 show_default=False)] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Scan IMAGE's packages against the vulnerability records `berth vulndb import` loaded (the same
    database `berth serve` uses), or write its SBOM. What the scan had to skip is said on stderr."""
    from berth.scan.model import Severity
    from berth.scan.platforms import Platform
    from berth.scan.targets import BadTarget, parse_target

    minimum = Severity[severity.strip().upper()] if severity.strip().upper() in Severity.__members__ else None
    if minimum is None:
        raise typer.BadParameter(f"{severity!r} is not one of {', '.join(_SEVERITIES)}", param_hint="--severity")
    try:
        target = parse_target(image)
    except BadTarget as exc:
        raise typer.BadParameter(str(exc), param_hint="IMAGE") from None
    try:
        Platform.parse(platform)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--platform") from None
    wants_findings = output in (Format.table, Format.json)
    matched_against = None
    if wants_findings:
        settings = load_settings(config, data_dir=data_dir, database_url=database_url)
        prepare(settings)
        matched_against = settings.effective_database_url
    try:
        inventory, findings, artifact = _run(target, matched_against, platform, tls_verify, creds)
    except _failures() as exc:  # evaluated only when something was raised: the imports stay lazy
        typer.echo(f"berth: scan of {image} failed: {_one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    for note in inventory.skipped:
        typer.echo(f"skipped: {note}", err=True)
    shown = [f for f in findings if f.severity >= minimum]
    _write(output, inventory, shown, artifact)
    if exit_code and shown:
        raise typer.Exit(exit_code)


def _run(
    target: LayoutTarget | RegistryTarget, database_url: str | None, platform: str, tls_verify: bool, creds: str | None
) -> tuple[ImageInventory, list[Finding], ArtifactRef]:
    from berth.scan import engine
    from berth.scan.envelope import ArtifactRef
    from berth.scan.targets import LayoutTarget

    with contextlib.ExitStack() as resources:
        source = _open(target, tls_verify, creds, resources)
        inventory, findings = engine.scan(source, target.reference, database_url, platform=platform)
    if isinstance(target, LayoutTarget):
        artifact = ArtifactRef(str(Path(target.path).resolve()), inventory.manifest_digest,
                               None if target.reference is None or target.reference.startswith("sha256:")
                               else target.reference)
    else:
        artifact = ArtifactRef(f"{target.host}/{target.repository}", inventory.manifest_digest, target.tag)
    return inventory, findings, artifact


def _open(
    target: LayoutTarget | RegistryTarget, tls_verify: bool, creds: str | None, resources: contextlib.ExitStack
) -> BlobSource:
    import httpx

    from berth.scan.sources import OCILayoutSource, RegistrySource
    from berth.scan.targets import LayoutTarget

    if isinstance(target, LayoutTarget):
        return OCILayoutSource(target.path)
    username = password = None
    if creds is not None:
        username, _, password = creds.partition(":")
    client = resources.enter_context(httpx.Client(verify=tls_verify, timeout=60.0))
    return RegistrySource(_registry_url(client, target.host, tls_verify), target.repository,
                          username=username, password=password, client=client)


def _registry_url(client: httpx.Client, host: str, tls_verify: bool) -> str:
    """https://HOST; without --tls-verify, plain http:// when HTTPS does not answer (as skopeo does)."""
    import httpx

    if tls_verify:
        return f"https://{host}"
    try:
        client.get(f"https://{host}/v2/", timeout=5.0)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectTimeout):
        return f"http://{host}"
    return f"https://{host}"


def _write(output: Format, inventory: ImageInventory, findings: list[Finding], artifact: ArtifactRef) -> None:
    import orjson

    from berth.scan.envelope import ScannerInfo
    from berth.scan.report import vulnerability_report
    from berth.scan.sbom import cyclonedx_document, spdx_document

    now = datetime.now(UTC)
    if output is Format.table:
        _table(inventory, findings)
        return
    if output is Format.json:
        document = vulnerability_report(inventory, findings, artifact, ScannerInfo(), now)
    elif output is Format.spdx:
        document = spdx_document(inventory, artifact, ScannerInfo(), now)
    else:
        document = cyclonedx_document(inventory, artifact, ScannerInfo(), now)
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def _table(inventory: ImageInventory, findings: list[Finding]) -> None:
    from rich.console import Console
    from rich.table import Table

    ordered = sorted(findings, key=lambda f: (-f.severity, f.package.name, f.id))
    os_name = f"{inventory.os.id} {inventory.os.version_id or ''}".strip() if inventory.os else "no known OS"
    typer.echo(f"{inventory.manifest_digest} ({inventory.platform or 'unknown platform'}, {os_name}): "
               f"{len(inventory.packages)} packages, {len(ordered)} vulnerabilities")
    table = Table()
    for column in ("severity", "id", "package", "installed", "fixed", "layer"):
        table.add_column(column, no_wrap=column != "fixed")
    for finding in ordered:
        layer = finding.package.layer
        table.add_row(f"[{_STYLES[finding.severity.harbor]}]{finding.severity.harbor}[/]", finding.id,
                      finding.package.name, finding.package.version, finding.fix_version,
                      _short(layer.digest) if layer else "")
    # a CI log is no terminal: rich's 80 columns would fold every id, so lines may be longer there
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _short(digest: str) -> str:
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _failures() -> tuple[type[BaseException], ...]:
    import httpx

    from berth.scan.engine import NoVulnerabilityDatabase
    from berth.scan.image import UnsupportedImage
    from berth.scan.platforms import NoMatchingPlatform
    from berth.scan.sources import SourceError

    return SourceError, UnsupportedImage, NoMatchingPlatform, NoVulnerabilityDatabase, httpx.HTTPError, OSError

