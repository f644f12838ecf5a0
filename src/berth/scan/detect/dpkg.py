"""Debian packages from /var/lib/dpkg/status and distroless /var/lib/dpkg/status.d/* files."""

from __future__ import annotations

import re
from collections.abc import Iterator

from berth.scan.detect.base import FileData, Found, OSPackage, differing
from berth.scan.limits import Limits

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The deb822 stanzas of a control file; continuation lines are folded into their field."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
        else:
            key = None  # not deb822: ignore the line
    if fields:
        yield fields


def is_installed(fields: dict[str, str]) -> bool:
    """dpkg's package state is the third word of Status; distroless files have no Status at all."""
    status = fields.get("Status")
    if status is None:
        return True
    words = status.split()
    return len(words) == 3 and words[2] == "installed"


def package_of(fields: dict[str, str]) -> OSPackage | None:
    name, version = fields.get("Package"), fields.get("Version")
    if not name or not version or not is_installed(fields):
        return None
    source_name, source_version = name, version
    match = _SOURCE.match(fields.get("Source", ""))
    if match:
        source_name = match.group(1)
        source_version = match.group(2) or version
    return OSPackage(
        manager="deb",
        name=name,
        version=version,
        arch=fields.get("Architecture"),
        source_name=differing(source_name, name),
        source_version=differing(source_version, version),
    )


class DpkgDetector:
    name = "dpkg"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        if path == STATUS:
            return True
        # status.d holds one control file per package, plus its .md5sums
        return path.startswith(STATUS_D) and "/" not in path[len(STATUS_D) :] and not path.endswith(".md5sums")

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        found = (package_of(fields) for fields in paragraphs(data.decode("utf-8", "replace")))
        return [package for package in found if package is not None]
