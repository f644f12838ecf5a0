"""Alpine packages from /lib/apk/db/installed."""

from __future__ import annotations

from berth.scan.detect.base import FileData, Found, OSPackage, differing
from berth.scan.limits import Limits

INSTALLED = "/lib/apk/db/installed"


def parse_installed(text: str) -> list[OSPackage]:
    """Stanzas of one-letter fields (`P:` name, `V:` version, `A:` arch, `o:` origin, `L:` licence)."""
    packages = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if len(line) > 1 and line[1] == ":":
                fields.setdefault(line[0], line[2:].strip())  # R:/Z: repeat per file; keep the first
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        licence = fields.get("L")
        packages.append(
            OSPackage(
                manager="apk",
                name=name,
                version=version,
                arch=fields.get("A"),
                source_name=differing(fields.get("o"), name),
                licenses=(licence,) if licence else (),
            )
        )
    return packages


class ApkDetector:
    name = "apk"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        return path == INSTALLED

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        return list(parse_installed(data.decode("utf-8", "replace")))
