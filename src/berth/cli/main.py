"""`berth` commands: serve, worker, scanner serve, migrate, config (and vulndb, scan, sign, verify from their
modules)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from berth import __version__
from berth.cli.settings import ConfigOption, load_settings, prepare
from berth.config import Settings

app = typer.Typer(
    help="berth: a Harbor-compatible OCI container registry in one process.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # option help says "[default: …]" literally; rich would take it for markup
)

def main() -> None:
    """The `berth` program: run the command, then leave without finalizing the interpreter.

    obstore runs its requests on tokio threads that call back into Python (asyncio's
    call_soon_threadsafe) to hand over results. One of them can still be waiting for the GIL when the
    main thread has finished: at finalization CPython 3.11 makes such a thread leave with
    pthread_exit, whose forced unwinding cannot cross the Rust frames, and glibc aborts the process
    (exit code 134, nothing printed). So once the command is done, what finalization would do for
    berth (non-daemon threads, atexit handlers, logging, stdio) is done here, then os._exit.
    """
    try:
        app()
        code: int = 0
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except BaseException:  # a traceback, as an uncaught exception would print it
        import traceback

        traceback.print_exc()
        code = 1
    # what finalization does first: executors' exit hooks stop their idle threads, then the
    # non-daemon threads are joined (CPython's own step, hence the private name)
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # output lost (e.g. a closed pipe): say so, as Python would with 120
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on. [default: 127.0.0.1]", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on. [default: 5000]", show_default=False)] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Folder for the SQLite database and blobs. [default: ./data]", show_default=False)
    ] = None,
    server: Annotated[Optional[str], typer.Option(help="ASGI server: uvicorn or granian.", show_default=False)] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning or error.", show_default=False)] = None,
    log_format: Annotated[
        Optional[str], typer.Option(help="console (readable lines) or json (one object per line). [default: console]",
                                    show_default=False),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Background jobs run at once in this process. [default: 4]", show_default=False)
    ] = None,
    jobs: Annotated[
        Optional[bool],
        typer.Option("--jobs/--no-jobs", help="Run background jobs and schedules here (default), or leave them "
                     "to `berth worker` processes.", show_default=False),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the registry: /v2 (OCI distribution) and /api/v2.0 on HOST:PORT until Ctrl-C or SIGTERM.

    Every setting can also come from a BERTH_<NAME> environment variable
    (BERTH_DATABASE_URL, BERTH_STORAGE_DRIVER, BERTH_STORAGE_OPTIONS as JSON,
    BERTH_TLS_CERT/BERTH_TLS_KEY, BERTH_PUBLIC_URL, ...) or from --config FILE.
    """
    settings = load_settings(config, host=host, port=port, data_dir=data_dir, server=server, log_level=log_level,
                             log_format=log_format, workers=workers, jobs=jobs)
    from berth.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(
        f"berth {__version__} serving on {scheme}://{settings.host}:{settings.port} "
        f"(data: {settings.data_dir.resolve()}, database: {_redacted(settings.effective_database_url)}, "
        f"storage: {settings.storage_driver})\n"
        f"  log in as admin: the password is BERTH_ADMIN_PASSWORD (or admin_password in the config file),\n"
        f"  or the one printed below on the very first start. Then, for example:\n"
        f"    skopeo login --tls-verify=false -u admin {settings.host}:{settings.port}\n"
        f"    skopeo copy --dest-tls-verify=false docker://... docker://{settings.host}:{settings.port}/library/app:1"
    )
    if settings.metric_enabled:
        where = f"{settings.host}:{settings.metric_port or settings.port}"
        typer.echo(f"  Prometheus metrics (unauthenticated): http://{where}{settings.metric_path}")
    sys.stdout.flush()
    if settings.server == "granian":
        _serve_granian(settings)
    else:
        _serve_uvicorn(settings)


def _serve_uvicorn(settings: Settings) -> None:
    import uvicorn

    from berth.app import BerthApp
    from berth.cli.uvicorn_pathsend import PathsendProtocol

    config = uvicorn.Config(
        BerthApp(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,  # berth logs each request itself, with its request id and user
        log_config=None,  # uvicorn's own lines go through berth's logging setup (format, level)
        log_level=settings.log_level,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        server_header=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        http=PathsendProtocol,  # httptools, whole blobs written on threads of their own
        loop="uvloop",
    )
    uvicorn.Server(config).run()


def _serve_granian(settings: Settings) -> None:
    """granian's embedded server: its Rust HTTP runtime in this process, the app on this event loop."""
    import asyncio
    import signal

    import uvloop
    from granian.constants import Interfaces
    from granian.server.embed import Server

    from berth.app import BerthApp

    server = Server(
        BerthApp(settings),
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        runtime_threads=2,
        log_access=False,  # berth logs each request itself, with its request id and user
        # granian's own lines go through berth's logging setup (format, level) instead of its stdout handler
        log_dictconfig={"loggers": {"_granian": {"handlers": [], "propagate": True}}},
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    uvloop.run(run())


@app.command()
def worker(
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Folder of the SQLite database and blobs. [default: ./data]", show_default=False)
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Jobs run at once. [default: 4]", show_default=False)
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning or error.", show_default=False)] = None,
    log_format: Annotated[
        Optional[str], typer.Option(help="console (readable lines) or json (one object per line). [default: console]",
                                    show_default=False),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run background jobs and cron schedules only (no HTTP), against the same database and storage as
    the `berth serve` nodes, until Ctrl-C or SIGTERM. Run several for more throughput."""
    settings = load_settings(config, data_dir=data_dir, workers=workers, log_level=log_level, log_format=log_format)
    from berth.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    typer.echo(f"berth {__version__} worker: {settings.workers} concurrent jobs "
               f"(database: {_redacted(settings.effective_database_url)})")
    sys.stdout.flush()
    import asyncio
    import signal

    import uvloop

    from berth.worker import run_worker

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    uvloop.run(run())


scanner_app = typer.Typer(help="The scanner adapter: Harbor's pluggable scanner API.", no_args_is_help=True)
app.add_typer(scanner_app, name="scanner")


@scanner_app.command("serve")
def scanner_serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on. [default: 127.0.0.1]", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on. [default: 8080]", show_default=False)] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="berth's data folder (database, vulnerability database). [default: ./data]",
                                     show_default=False)
    ] = None,
    api_key: Annotated[
        Optional[str], typer.Option(help="The credential Harbor's scanner registration sends (Bearer, Basic or "
                                    "X-ScannerAdapter-API-Key). Prefer BERTH_SCANNER_API_KEY: a flag shows in ps.",
                                    show_default=False)
    ] = None,
    insecure_no_auth: Annotated[
        Optional[bool], typer.Option("--insecure-no-auth", help="Serve without a credential (only where nothing "
                                     "untrusted reaches the port: callers choose what the adapter fetches).",
                                     show_default=False)
    ] = None,
    workers: Annotated[Optional[int], typer.Option(help="Scans run at once. [default: 1]", show_default=False)] = None,
    timeout: Annotated[
        Optional[float], typer.Option(help="Seconds a scan may take. [default: 300]", show_default=False)
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning or error.", show_default=False)] = None,
    log_format: Annotated[
        Optional[str], typer.Option(help="console or json. [default: console]", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the scanner adapter alone on HOST:PORT (Harbor's /api/v1/metadata, /scan, /scan/{id}/report),
    on the same database and data folder as `berth serve`, until Ctrl-C or SIGTERM. Scans run in
    processes of their own; scans left unfinished by a stopped adapter run again when it starts."""
    settings = load_settings(
        config, host=host, scanner_port=port, data_dir=data_dir, scanner_api_key=api_key,
        scanner_insecure_no_auth=insecure_no_auth, scanner_workers=workers, scanner_timeout_seconds=timeout,
        log_level=log_level, log_format=log_format,
    )
    if settings.scanner_api_key is None and not settings.scanner_insecure_no_auth:
        typer.echo("berth: the scanner adapter needs a credential (BERTH_SCANNER_API_KEY or --api-key), or "
                   "--insecure-no-auth to serve without one", err=True)
        raise typer.Exit(2)
    from berth.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    import uvicorn

    from berth.scan.adapter import AdapterConfig, create_adapter

    adapter = create_adapter(AdapterConfig.from_settings(
        settings, settings.scanner_api_key.get_secret_value() if settings.scanner_api_key else None))
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(
        f"berth {__version__} scanner adapter on {scheme}://{settings.host}:{settings.scanner_port}/api/v1 "
        f"({settings.scanner_workers} scan(s) at once; database: {_redacted(settings.effective_database_url)}; "
        f"vulnerability records: `berth vulndb status`"
        + ("; NO credential check" if settings.scanner_api_key is None else "") + ")"
    )
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(
        adapter, host=settings.host, port=settings.scanner_port, lifespan="on", access_log=False, log_config=None,
        log_level=settings.log_level, server_header=False, http="httptools", loop="uvloop",
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )).run()


@scanner_app.command("credential")
def scanner_credential(
    data_dir: Annotated[Optional[Path], typer.Option(help="berth's data folder. [default: ./data]",
                                                     show_default=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Print the credential of the scanner adapter `berth serve` mounts at <public url>/scanner, for
    registering it in a Harbor (auth Bearer, Basic or X-ScannerAdapter-API-Key). It is
    BERTH_SCANNER_API_KEY when set, else the one berth made at its first start, kept sealed in the
    data folder with the secret key."""
    settings = load_settings(config, data_dir=data_dir)
    if settings.scanner_api_key is not None:
        typer.echo(settings.scanner_api_key.get_secret_value())
        return
    from berth.scan.credentials import BUILTIN_CREDENTIAL_FILE, builtin_credential
    from berth.security.keys import SecretBox

    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox.from_file(settings.data_dir.resolve() / "secret.key", secret_key)
    typer.echo(builtin_credential(settings.data_dir.resolve() / BUILTIN_CREDENTIAL_FILE, box))


@app.command()
def migrate(config: ConfigOption = None, data_dir: Annotated[Optional[Path], typer.Option()] = None) -> None:
    """Create or upgrade the database schema, then exit."""
    settings = load_settings(config, data_dir=data_dir)
    prepare(settings)
    typer.echo(f"database at {_redacted(settings.effective_database_url)} is up to date")
    check_storage(settings)


def check_storage(settings: Settings) -> None:
    """Open the blob storage and ask it about a key: a wrong bucket, endpoint or credential shows
    here, at install time, rather than at the first push."""
    from berth.storage import make_driver

    async def probe() -> None:
        driver = make_driver(settings.storage_driver, settings.effective_storage_options)
        try:
            await driver.stat("berth-probe")
        finally:
            await driver.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # one clear line instead of a traceback
        typer.echo(f"berth: cannot reach the blob storage ({settings.storage_driver}): {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"blob storage ({settings.storage_driver}) answers")


@app.command("config")
def show_config(config: ConfigOption = None) -> None:
    """Print the effective settings (secrets redacted) as YAML."""
    import yaml

    settings = load_settings(config)
    data = settings.model_dump(mode="json", exclude={"config_file"})
    if data.get("database_url"):
        data["database_url"] = _redacted(data["database_url"])
    for section in ("storage_options", "configurations"):
        for key in list(data.get(section, {})):
            if any(word in key.lower() for word in ("secret", "key", "password", "token")):
                data[section][key] = "***"
    typer.echo(yaml.safe_dump(data, sort_keys=True).rstrip())


@app.command("rotate-token-key")
def rotate_token_key(
    config: ConfigOption = None,
    data_dir: Annotated[Optional[Path], typer.Option()] = None,
    keep: Annotated[int, typer.Option(help="Keys to keep, the new one included; older ones are deleted.", min=2)] = 2,
) -> None:
    """Make a new registry-token signing key. Running servers sign with it within a minute (or at
    restart) and keep accepting tokens signed by the kept older keys until those expire."""
    from berth.security.keys import TokenKeyRing

    settings = load_settings(config, data_dir=data_dir)
    ring = TokenKeyRing(settings.keys_dir)
    key = ring.rotate()
    pruned = ring.prune(keep)
    typer.echo(f"new token signing key {key.kid} in {settings.keys_dir} ({pruned} older key(s) removed)")


@app.command()
def version() -> None:
    """Print berth's version."""
    typer.echo(__version__)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable url)"


def _add_subcommands() -> None:
    # imported here: the sub-app's module imports this one for load_settings and prepare
    from berth.cli.ascode import register as register_ascode
    from berth.cli.gc import gc
    from berth.cli.scan import scan
    from berth.cli.sign import app as sign_app
    from berth.cli.sign import verify
    from berth.cli.vulndb import app as vulndb_app

    app.add_typer(vulndb_app, name="vulndb")
    app.command("scan")(scan)
    app.add_typer(sign_app, name="sign")
    app.command("verify")(verify)
    app.command("gc")(gc)
    register_ascode(app)


_add_subcommands()
