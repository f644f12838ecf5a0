"""A throwaway OpenLDAP slapd for tests: Debian's binary on 127.0.0.1, seeded with users and groups.

`ldap_server` starts one per session; it fails when CI is set and slapd is missing, and skips otherwise
(scripts/install-test-tools installs it).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from berth.auth.ldap import LdapConfig
from tests.certs import write_self_signed
from tests.conftest import free_port

SLAPD = Path("/usr/sbin/slapd")
MODULES = Path("/usr/lib/ldap")
SCHEMAS = Path("/etc/ldap/schema")

SUFFIX = "dc=berth,dc=test"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-Secret1"
PEOPLE_DN = f"ou=people,{SUFFIX}"
GROUPS_DN = f"ou=groups,{SUFFIX}"

# uid -> attributes; bob has no displayName so his real name comes from cn
USERS: dict[str, dict[str, str]] = {
    "alice": {"cn": "Alice", "sn": "Liddell", "displayName": "Alice Liddell", "mail": "alice@berth.test"},
    "bob": {"cn": "Bob Builder", "sn": "Builder", "mail": "bob@berth.test"},
    "carol": {"cn": "Carol Danvers", "sn": "Danvers", "displayName": "Carol Danvers", "mail": "carol@berth.test"},
}
PASSWORDS = {name: f"{name.capitalize()}-Passw0rd" for name in USERS}
GROUPS = {"developers": ("alice", "bob"), "harbor-admins": ("carol",)}

_STARTUP_SECONDS = 10

# Plain-text userPassword is fine for a throwaway server. The ACL is a real directory's: only the
# root DN reads passwords, anonymous may bind with them, everyone reads the rest.
_CONFIG = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
TLSCertificateFile {workdir}/server.crt
TLSCertificateKeyFile {workdir}/server.key

database mdb
suffix "{suffix}"
rootdn "{admin_dn}"
rootpw {admin_password}
directory {workdir}/data
overlay memberof

access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by * read
"""


@dataclass
class LdapServer:
    """A running slapd and the directory it was seeded with."""

    url: str
    ldaps_url: str  # self-signed certificate for 127.0.0.1: verify_cert must be off
    process: subprocess.Popen[bytes]
    workdir: Path
    bind_dn: str = ADMIN_DN
    bind_password: str = ADMIN_PASSWORD
    base_dn: str = SUFFIX
    people_dn: str = PEOPLE_DN
    groups_dn: str = GROUPS_DN
    passwords: dict[str, str] = dataclasses.field(default_factory=lambda: dict(PASSWORDS))

    def user_dn(self, username: str) -> str:
        return f"uid={username},{self.people_dn}"

    def group_dn(self, name: str) -> str:
        return f"cn={name},{self.groups_dn}"

    @property
    def admin_group_dn(self) -> str:
        return self.group_dn("harbor-admins")

    def config(self, **overrides: Any) -> LdapConfig:
        """A config that finds the seeded users and groups; keyword arguments replace fields."""
        config = LdapConfig(
            url=self.url,
            search_dn=self.bind_dn,
            search_password=self.bind_password,
            base_dn=self.base_dn,
            filter="(objectClass=inetOrgPerson)",
            uid="uid",
            timeout=5,
            group_base_dn=self.groups_dn,
            group_search_filter="(objectClass=groupOfNames)",
            group_attribute_name="cn",
            group_admin_dn=self.admin_group_dn,
            group_membership_attribute="memberof",
        )
        return dataclasses.replace(config, **overrides)

    def log(self) -> str:
        try:
            return (self.workdir / "slapd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_listening(server: LdapServer, ports: list[int]) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"slapd exited with {server.process.returncode}:\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.02)
    if waiting:
        server.stop()
        raise RuntimeError(f"slapd did not listen on {waiting} within {_STARTUP_SECONDS}s:\n{server.log()}")


def _seed(server: LdapServer) -> None:
    """Add the entries over LDAP (not slapadd) so the memberof overlay fills in memberOf."""
    conn = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE, connect_timeout=5),
        server.bind_dn,
        server.bind_password,
        auto_bind=True,
        raise_exceptions=True,
        receive_timeout=5,
    )
    with conn:
        conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "berth", "o": "berth tests"})
        conn.add(PEOPLE_DN, ["organizationalUnit"], {"ou": "people"})
        conn.add(GROUPS_DN, ["organizationalUnit"], {"ou": "groups"})
        for uid, attributes in USERS.items():
            conn.add(
                server.user_dn(uid),
                ["inetOrgPerson"],
                {"uid": uid, "userPassword": PASSWORDS[uid], **attributes},
            )
        for name, members in GROUPS.items():
            conn.add(
                server.group_dn(name),
                ["groupOfNames"],
                {"cn": name, "member": [server.user_dn(uid) for uid in members]},
            )


def start_slapd(workdir: Path) -> LdapServer:
    """Start slapd with a fresh database under workdir and seed it; raises RuntimeError with slapd's output."""
    if not os.access(SLAPD, os.X_OK):
        raise RuntimeError(f"{SLAPD} is not installed (scripts/install-test-tools installs slapd)")
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    conf = workdir / "slapd.conf"
    conf.write_text(
        _CONFIG.format(
            schemas=SCHEMAS,
            modules=MODULES,
            workdir=workdir,
            suffix=SUFFIX,
            admin_dn=ADMIN_DN,
            admin_password=ADMIN_PASSWORD,
        )
    )
    write_self_signed(workdir / "server.crt", workdir / "server.key")
    ports = [free_port(), free_port()]
    url, ldaps_url = f"ldap://127.0.0.1:{ports[0]}", f"ldaps://127.0.0.1:{ports[1]}"
    with (workdir / "slapd.log").open("wb") as log:
        # -d keeps slapd in the foreground (so we own the process) and sends its log to stderr;
        # "stats" logs connections and operations, which is what one wants when a test fails.
        process = subprocess.Popen(
            [str(SLAPD), "-f", str(conf), "-h", f"{url}/ {ldaps_url}/", "-d", "stats"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = LdapServer(url, ldaps_url, process, workdir)
    _wait_listening(server, ports)
    try:
        _seed(server)
    except Exception as exc:
        server.stop()
        raise RuntimeError(f"seeding slapd failed: {exc}\n{server.log()}") from exc
    return server


@pytest.fixture(scope="session")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    """One seeded slapd for the session (about 0.1 s to start)."""
    if not os.access(SLAPD, os.X_OK):
        message = f"{SLAPD} is not installed (scripts/install-test-tools installs slapd and ldap-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()
