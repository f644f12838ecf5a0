"""What the scanner's parts hand each other: the OS, packages, layers and findings of one image."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Severity(IntEnum):
    """Harbor's severities, ordered so that max() gives a report's overall severity."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def harbor(self) -> str:
        """The spelling in Harbor's reports and API ("Critical", "Unknown"...)."""
        return self.name.capitalize()

    @classmethod
    def from_harbor(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of the image, as Harbor's report names it."""

    digest: str
    diff_id: str | None = None
    media_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class OSInfo:
    """From /etc/os-release (or /etc/alpine-release); `ecosystem` is OSV's ("Debian:12",
    "Alpine:v3.19", "Ubuntu:22.04:LTS"), None when OSV has no ecosystem for this OS."""

    id: str
    version_id: str | None = None
    pretty_name: str | None = None
    ecosystem: str | None = None


@dataclass(frozen=True, slots=True)
class Package:
    """An installed package. `name`/`version` are what is installed (the binary package, as Trivy
    reports it); `source_name`/`source_version` are what OSV records are keyed by where they
    differ (Debian source, Alpine origin, rpm source name). `ecosystem` is OSV's, `purl` a Package
    URL without qualifiers beyond distro/arch."""

    name: str
    version: str
    ecosystem: str
    purl: str
    kind: str  # "os" or "lang"
    source_name: str | None = None
    source_version: str | None = None
    #: the layer that added it (first layer whose view contains it)
    layer: Layer | None = None
    #: the file it was read from, inside the image
    path: str | None = None
    licenses: tuple[str, ...] = ()

    @property
    def lookup_name(self) -> str:
        return self.source_name or self.name

    @property
    def lookup_version(self) -> str:
        return self.source_version or self.version


@dataclass(frozen=True, slots=True)
class Cvss:
    """One CVSS rating of a vulnerability, from one source ("nvd", "ghsa", "debian"...)."""

    source: str
    v3_vector: str | None = None
    v3_score: float | None = None
    v2_vector: str | None = None
    v2_score: float | None = None
    v4_vector: str | None = None
    v4_score: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A package affected by a vulnerability. `id` is the CVE where the record has one, else the
    OSV id; `osv_id` is always the record it came from."""

    id: str
    osv_id: str
    package: Package
    severity: Severity
    fix_version: str = ""
    description: str = ""
    links: tuple[str, ...] = ()
    cvss: tuple[Cvss, ...] = ()
    cwe_ids: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(slots=True)
class ImageInventory:
    """What the image walk found: the platform's manifest, its layers, OS and packages, and what it
    had to skip (a truncated layer, a database that does not parse), each said in one line."""

    manifest_digest: str
    platform: str | None = None
    layers: list[Layer] = field(default_factory=list)
    os: OSInfo | None = None
    packages: list[Package] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
