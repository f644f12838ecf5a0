"""The image's OS from /etc/os-release, /usr/lib/os-release or /etc/alpine-release, and its OSV ecosystem."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from berth.scan.detect.base import FileData, Found, OSRelease
from berth.scan.limits import Limits
from berth.scan.model import OSInfo

ETC_OS_RELEASE = "/etc/os-release"
USR_OS_RELEASE = "/usr/lib/os-release"
ALPINE_RELEASE = "/etc/alpine-release"
#: preferred first: /etc/os-release overrides the vendor copy (it is often a symlink to it)
PATHS = (ETC_OS_RELEASE, USR_OS_RELEASE, ALPINE_RELEASE)
_MAJOR = re.compile(r"\d+")
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")


def parse_os_release(text: str) -> tuple[tuple[str, str], ...]:
    """KEY=value lines with shell quoting, as os-release(5) defines them."""
    fields = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            value = " ".join(shlex.split(raw)) if raw else ""
        except ValueError:
            value = raw.strip("\"'")
        fields.append((key.strip(), value))
    return tuple(fields)


def osv_ecosystem(os_id: str, version_id: str | None, version: str | None = None) -> str | None:
    """OSV's ecosystem for an OS, or None where OSV has none (or we cannot tell the release)."""
    if not version_id:
        return None
    major = _MAJOR.match(version_id)
    if os_id == "debian":
        return f"Debian:{major.group()}" if major else None
    if os_id == "ubuntu":
        lts = ":LTS" if version and "LTS" in version else ""
        return f"Ubuntu:{version_id}{lts}"
    if os_id == "alpine":
        branch = _MAJOR_MINOR.match(version_id)
        return f"Alpine:v{branch.group(1)}.{branch.group(2)}" if branch else None
    if os_id == "almalinux":
        return f"AlmaLinux:{major.group()}" if major else None
    if os_id == "rocky":
        return f"Rocky Linux:{major.group()}" if major else None
    return None


class OSReleaseDetector:
    name = "os-release"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        return path in PATHS

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        text = data.decode("utf-8", "replace")
        if path == ALPINE_RELEASE:
            version = text.strip().splitlines()[0].strip() if text.strip() else ""
            return [OSRelease(path, (("ID", "alpine"), ("VERSION_ID", version)))] if version else []
        return [OSRelease(path, parse_os_release(text))]


def os_info(releases: Iterable[OSRelease]) -> OSInfo | None:
    """The OS the preferred release file describes (an Alpine image's release file fills a missing VERSION_ID)."""
    by_path = {release.path: release for release in releases}
    chosen = next((by_path[p] for p in PATHS if p in by_path and by_path[p].get("ID")), None)
    if chosen is None:
        return None
    os_id = (chosen.get("ID") or "").lower()
    version_id = chosen.get("VERSION_ID")
    if os_id == "alpine" and not version_id and ALPINE_RELEASE in by_path:
        version_id = by_path[ALPINE_RELEASE].get("VERSION_ID")
    return OSInfo(
        id=os_id,
        version_id=version_id,
        pretty_name=chosen.get("PRETTY_NAME"),
        ecosystem=osv_ecosystem(os_id, version_id, chosen.get("VERSION")),
    )
