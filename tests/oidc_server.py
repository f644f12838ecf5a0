"""A real OpenID provider for tests (panva's oidc-provider on Node, tests/oidc/provider.mjs) and a
scripted browser for its login and consent pages.

Accounts (any password): alice (groups developers, ops-oncall), carol (harbor-admins, developers),
dave (no name claim; one group sent as the string "readers"). Clients: CLIENT_ID (client_secret_basic)
and OTHER_CLIENT_ID, which the token endpoint holds to client_secret_post as Auth0 and Okta do.
Profile claims (name, email, groups) come from userinfo; the ID token carries sub and nonce.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
PROVIDER_SCRIPT = REPO / "tests" / "oidc" / "provider.mjs"

#: the confidential client berth uses (client_secret_basic); the secret has characters that
#: RFC 6749's form-encoding of basic credentials must escape
CLIENT_ID = "berth"
CLIENT_SECRET = "berth-secret:+/%&= 1"
#: a second client, registered for client_secret_post: another audience, another auth method
OTHER_CLIENT_ID = "other-app"
OTHER_CLIENT_SECRET = "other-secret"
#: the session provider's redirect URI; any port on 127.0.0.1 matches it (see provider.mjs)
CALLBACK = "http://127.0.0.1/c/oidc/callback"

_STARTUP_SECONDS = 15


class OidcProviderUnavailable(RuntimeError):
    """Node or the oidc-provider package is not installed (scripts/install-test-tools installs both)."""


@dataclass
class OidcServer:
    issuer: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    redirect_uris: list[str]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    other_client_id: str = OTHER_CLIENT_ID
    other_client_secret: str = OTHER_CLIENT_SECRET

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def oidc_provider_dir() -> Path:
    configured = os.environ.get("BERTH_OIDC_PROVIDER")
    return Path(configured) if configured else REPO / ".tools" / "node_modules" / "oidc-provider"


def start_oidc_provider(workdir: Path, redirect_uris: list[str], port: int | None = None) -> OidcServer:
    """Start the provider on 127.0.0.1 and wait until its discovery document answers.

    Both clients get `redirect_uris`; as loopback ("native") clients a URI on 127.0.0.1 or
    localhost matches whatever port the request names.
    """
    node = shutil.which("node")
    package = oidc_provider_dir()
    if node is None:
        raise OidcProviderUnavailable("node is not installed (run scripts/install-test-tools)")
    if not (package / "package.json").exists():
        raise OidcProviderUnavailable(
            f"oidc-provider is not installed at {package} (run scripts/install-test-tools)"
        )
    port = port or free_port()
    clients = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris},
        {
            "client_id": OTHER_CLIENT_ID,
            "client_secret": OTHER_CLIENT_SECRET,
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "client_secret_post",
        },
    ]
    env = os.environ | {
        "OIDC_PORT": str(port),
        "OIDC_CLIENTS": json.dumps(clients),
        "OIDC_PROVIDER_DIR": str(package),
        "NODE_NO_WARNINGS": "1",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "oidc-provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = OidcServer(f"http://127.0.0.1:{port}", port, process, log, list(redirect_uris))
    discovery = server.issuer + "/.well-known/openid-configuration"
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited with {process.returncode}:\n{server.output()[-3000:]}")
        try:
            if httpx.get(discovery, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"oidc-provider did not answer {discovery} in {_STARTUP_SECONDS}s:\n{server.output()[-3000:]}"
    )


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    """The session's OpenID provider; its clients accept CALLBACK on any 127.0.0.1 port."""
    try:
        server = start_oidc_provider(tmp_path_factory.mktemp("oidc"), [CALLBACK])
    except OidcProviderUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def browser_login(http: httpx.Client, authorize_url: str, username: str, *, deny: bool = False) -> str:
    """Sign in at the provider as a browser would and return the redirect back to the client.

    Follows redirects (keeping cookies in `http`), fills the login form with `username` and
    any password, accepts the consent form, and stops at the first redirect that leaves the
    provider or lands on the authorize request's redirect_uri, which it does not request.
    With deny=True it aborts at the first page instead (the provider then redirects with
    error=access_denied).
    """
    provider = _origin(authorize_url)
    redirect_uri = httpx.URL(authorize_url).params.get("redirect_uri", "")
    response = http.get(authorize_url)
    for _ in range(20):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if _origin(location) != provider or location.split("?")[0] == redirect_uri:
                return location
            response = http.get(location)
            continue
        if response.status_code != 200:
            raise RuntimeError(
                f"provider answered {response.status_code} at {response.url}:\n{response.text[:2000]}"
            )
        page = _Page.parse(response.text)
        if deny:
            abort = next((href for href in page.links if href.endswith("/abort")), None)
            if abort is None:
                raise RuntimeError(f"no abort link on {response.url}")
            response = http.get(urljoin(str(response.url), abort))
            continue
        if page.action is None:
            raise RuntimeError(f"no form on {response.url}:\n{response.text[:2000]}")
        fields = dict(page.fields)
        if fields.get("prompt") == "login":
            fields |= {"login": username, "password": "any password"}
        response = http.post(urljoin(str(response.url), page.action), data=fields)
    raise RuntimeError(f"login for {username} did not come back to the client after 20 steps")


class _Page(HTMLParser):
    """The first form (action and named inputs) and the links of a provider page."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self.links: list[str] = []
        self._in_form = False

    @classmethod
    def parse(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = values.get("action", ""), True
        elif tag == "input" and self._in_form and values.get("name"):
            self.fields.append((values["name"], values.get("value", "")))
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
