"""Object-store servers for tests: S3 on a moto server and Azure Blob on Azurite.

They start once per session, only when a test asks for them; if one cannot
start, the tests that need it fail (make test installs both).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest


REPO = Path(__file__).resolve().parents[1]

S3_BUCKET = "berth-test"
S3_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}

AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented by Microsoft).
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURE_CONTAINER = "berth-test"

_STARTUP_SECONDS = 30


@dataclass
class Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def _start(name: str, argv: list[str], endpoint: str, log: Path) -> Server:
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as exc:
            pytest.fail(f"cannot start {name} ({argv[0]}): {exc}")
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            httpx.get(endpoint, timeout=1)
            return Server(endpoint, process, log)
        except httpx.TransportError:
            time.sleep(0.1)
    _stop(Server(endpoint, process, log))
    pytest.fail(f"{name} did not answer on {endpoint} within {_STARTUP_SECONDS}s:\n{_log_tail(log)}")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def start_moto(log: Path, port: int | None = None) -> Server:
    """A moto S3 server (`python -m moto.server`) with the test bucket created; stop it with stop_server."""
    import boto3

    port = port or _free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = _start("moto", argv, f"http://127.0.0.1:{port}", log)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=S3_CREDENTIALS["access_key_id"],
            aws_secret_access_key=S3_CREDENTIALS["secret_access_key"],
            region_name=S3_CREDENTIALS["region"],
        )
        s3.create_bucket(Bucket=S3_BUCKET)
    except BaseException:
        _stop(server)
        raise
    return server


def stop_server(server: Server) -> None:
    _stop(server)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A moto S3 server shared by the session, with the test bucket created."""
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        _stop(server)


def azurite_binary() -> Path:
    configured = os.environ.get("BERTH_AZURITE")
    return Path(configured) if configured else REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An Azurite blob server with the test container created."""
    binary = azurite_binary()
    if not binary.exists():
        pytest.fail(
            f"azurite-blob not found at {binary}; install it with "
            "`npm install --prefix .tools azurite` or set BERTH_AZURITE"
        )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    argv = [
        str(binary),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(workdir),
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
        "--silent",
    ]  # fmt: skip
    server = _start("azurite", argv, f"http://127.0.0.1:{port}", workdir / "azurite.log")
    try:
        _create_azure_container(server.endpoint, AZURE_CONTAINER)
        yield server
    finally:
        _stop(server)


def _create_azure_container(endpoint: str, container: str) -> None:
    """PUT a container, signed with Shared Key (there is no Azure SDK in the test deps)."""
    date = formatdate(usegmt=True)
    version = "2021-08-06"
    # Verb, then eleven standard headers (all empty here), canonical x-ms headers, resource.
    string_to_sign = "\n".join(
        ["PUT", *[""] * 11, f"x-ms-date:{date}", f"x-ms-version:{version}"]
        + [f"/{AZURE_ACCOUNT}/{AZURE_ACCOUNT}/{container}\nrestype:container"]
    )
    signature = base64.b64encode(
        hmac.new(base64.b64decode(AZURE_KEY), string_to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    response = httpx.put(
        f"{endpoint}/{AZURE_ACCOUNT}/{container}?restype=container",
        headers={
            "x-ms-date": date,
            "x-ms-version": version,
            "Authorization": f"SharedKey {AZURE_ACCOUNT}:{signature}",
            "Content-Length": "0",
        },
    )
    if response.status_code not in (201, 409):
        pytest.fail(f"creating the Azurite container failed: {response.status_code} {response.text}")
