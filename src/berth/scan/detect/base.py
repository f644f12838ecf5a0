"""What detectors have in common: the file predicate, what one file yields, and finishing OS packages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from packageurl import PackageURL

from berth.scan.limits import Limits
from berth.scan.model import Layer, OSInfo, Package


class DetectError(Exception):
    """A file a detector wants does not parse (a corrupt rpmdb); the walk records it and goes on."""


@dataclass(frozen=True, slots=True)
class OSPackage:
    """An installed package as an OS package database records it, before the image's OS is known
    (its ecosystem and purl depend on the distribution and release)."""

    manager: str  # "deb", "apk" or "rpm"
    name: str
    version: str
    arch: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    #: rpm's epoch, also written into `version` as "E:"
    epoch: int | None = None
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OSRelease:
    """The key-value pairs of one os-release file (or the version from /etc/alpine-release)."""

    path: str
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.fields if name == key), None)


#: what one file yields: language packages are complete, OS packages wait for the OS
Found = Package | OSPackage | OSRelease
#: a kept file's bytes (the walk fills a bytearray so a big file is held once)
FileData = bytes | bytearray


class Detector(Protocol):
    """Reads one kind of file. The walk reads a file whole only when some detector wants its path
    (and, if `magic` is set, the file starts with it), then hands it to `detect`."""

    name: str
    magic: bytes

    def wants(self, path: str, mode: int) -> bool:
        """Whether the file at this absolute, normalised path (tar mode bits) is this detector's."""

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        """What the file says; DetectError if it is this detector's kind of file but unreadable."""


def finish_os_package(found: OSPackage, os: OSInfo | None, path: str, layer: Layer | None) -> Package:
    """The Package an OS package is once the OS is known; ecosystem "" when OSV has none for it."""
    qualifiers: dict[str, str] = {}
    if found.arch:
        qualifiers["arch"] = found.arch
    if found.epoch:
        qualifiers["epoch"] = str(found.epoch)
    if os is not None and os.version_id:
        qualifiers["distro"] = f"{os.id}-{os.version_id}"
    namespace = os.id if os is not None else None
    # purl keeps epoch as a qualifier, so its version is the bare version-release
    purl_version = found.version.split(":", 1)[1] if found.epoch else found.version
    purl = PackageURL(
        type=found.manager, namespace=namespace, name=found.name, version=purl_version, qualifiers=qualifiers
    )
    return Package(
        name=found.name,
        version=found.version,
        ecosystem=(os.ecosystem if os is not None else None) or "",
        purl=purl.to_string(),
        kind="os",
        source_name=found.source_name,
        source_version=found.source_version,
        layer=layer,
        path=path,
        licenses=found.licenses,
    )


def differing(value: str | None, other: str) -> str | None:
    """`value` when it says something `other` does not (source names equal to the binary's are dropped)."""
    return value if value and value != other else None
