"""The web UI's browser for tests: Playwright driving Debian's chromium (no browser download), and a
`Visitor` (one person's browser context) that checks every page it lands on with axe-core (no
serious or critical violations), fails on console errors, and saves a screenshot of it (also into
BERTH_UI_SCREENSHOTS when that names a folder). Test modules import `browser` (a module-scoped
fixture) and `Visitor` from here."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from tests.conftest import REPO, Server

CHROMIUM = "/usr/bin/chromium"
AXE = REPO / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
#: Chromium as this machine runs it: no sandbox (root), and nothing that reaches out to the network
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or not AXE.exists():
        pytest.fail("chromium and axe-core are not installed (make test installs them: scripts/install-test-tools)")
    with playwright_api.sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary user-data dir of its own
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visitor:
    """One browser context (one person's cookies) that checks every page it lands on."""

    def __init__(self, browser, server: Server, shots: Path, name: str,  # type: ignore[no-untyped-def]
                 scheme: str = "light") -> None:
        self.context = browser.new_context(base_url=server.url, color_scheme=scheme)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"{self.page.url}: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.errors.append(f"{self.page.url}: {exc}"))
        self.shots = shots
        self.name = name
        self.count = 0

    def check(self, label: str) -> None:
        """axe-core on the page as it is now, and a screenshot of it."""
        page = self.page
        page.wait_for_load_state("load")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(" ") + " " + n.failureSummary).join(", ")}`);
        }""")
        assert not violations, f"accessibility problems on {page.url}:\n" + "\n".join(violations)
        self.count += 1
        path = self.shots / f"{self.name}-{self.count:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        extra = os.environ.get("BERTH_UI_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)

    def log_in(self, user: str, password: str) -> None:
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()

    def arrive(self, path: str, user: str, password: str) -> None:
        """Open `path`, log in on the way (no session yet), and land on `path`."""
        self.page.goto(path)
        self.page.wait_for_url(re.compile(r"/login\?next="))
        self.log_in(user, password)
        self.page.wait_for_url(re.compile(re.escape(path) + "$"))

    def close(self) -> None:
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)
        self.context.close()
