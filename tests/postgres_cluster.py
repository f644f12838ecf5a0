"""A private PostgreSQL cluster a test can stop and start again (as scripts/with-postgres makes one).

The cluster lives in a temp folder owned by the `postgres` user (initdb refuses root) and listens on
127.0.0.1 at a fixed port, so a restarted server is found at the same URL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            pytest.fail("PostgreSQL server binaries not found (make test-tools installs them)")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="berth-pg-fault."))
        self.dir.chmod(0o755)
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://berth@127.0.0.1:{self.port}/postgres"
        if os.getuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--home", "/var/lib/postgresql", "--shell", "/bin/bash", "postgres"],
                               check=True)
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "berth", "--auth=trust", "-E", "UTF8", "--no-locale")

    def _argv(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bindir / tool), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if os.getuid() == 0 else argv

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(self._argv(tool, *args), capture_output=True, text=True)
        if result.returncode != 0:
            log = self.dir / "server.log"
            pytest.fail(f"{tool} failed: {result.stderr}\n{log.read_text() if log.exists() else ''}")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        """Stop the server at once (open connections are cut, as when a database host goes away)."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(self._argv("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
