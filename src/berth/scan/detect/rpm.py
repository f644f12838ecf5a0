"""RPM packages from the rpmdb in any of its three formats: SQLite, Berkeley DB hash, NDB."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from berth.scan.detect.base import DetectError, FileData, Found, OSPackage, differing
from berth.scan.detect.rpm_header import RpmHeader, parse_header, split_source_rpm
from berth.scan.detect.rpmdb_bdb import bdb_values
from berth.scan.detect.rpmdb_ndb import ndb_values
from berth.scan.limits import Limits

#: rpm's database folders: the classic one, and /usr/lib/sysimage/rpm (Fedora 36+, SUSE)
DIRECTORIES = ("/var/lib/rpm/", "/usr/lib/sysimage/rpm/")
FILES = ("Packages", "Packages.db", "rpmdb.sqlite")
#: the imported signing keys rpm lists as packages; not software
_PSEUDO_PACKAGES = {"gpg-pubkey", "gpg-pubkey-release"}


def sqlite_values(data: FileData) -> list[bytes]:
    """The `Packages.blob` column of an rpm 4.16+ SQLite rpmdb, read from memory."""
    if not data.startswith(b"SQLite format 3\0"):
        raise DetectError("not an SQLite database")
    # a WAL-mode file cannot be opened from memory; the header's read/write versions say legacy instead
    image = bytearray(data)
    image[18:20] = b"\x01\x01"
    try:
        with sqlite3.connect(":memory:") as db:
            db.deserialize(bytes(image))
            return [bytes(row[0]) for row in db.execute("SELECT blob FROM Packages")]
    except sqlite3.DatabaseError as exc:
        raise DetectError(f"unreadable SQLite rpmdb: {exc}") from exc


def package_of(header: RpmHeader) -> OSPackage:
    version = f"{header.version}-{header.release}"
    if header.epoch:
        version = f"{header.epoch}:{version}"
    source = split_source_rpm(header.source_rpm) if header.source_rpm else None
    source_name, source_version = source if source else (None, None)
    if source_version and header.epoch:
        source_version = f"{header.epoch}:{source_version}"
    return OSPackage(
        manager="rpm",
        name=header.name,
        version=version,
        arch=header.arch,
        source_name=differing(source_name, header.name),
        source_version=differing(source_version, version),
        epoch=header.epoch or None,
        licenses=(header.license,) if header.license else (),
    )


def packages_of(blobs: Iterable[bytes]) -> list[OSPackage]:
    packages = (package_of(parse_header(blob)) for blob in blobs)
    return [package for package in packages if package.name not in _PSEUDO_PACKAGES]


class RpmDetector:
    name = "rpm"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        folder, _, name = path.rpartition("/")
        return name in FILES and folder + "/" in DIRECTORIES

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        name = path.rpartition("/")[2]
        if name == "rpmdb.sqlite":
            blobs: Iterable[bytes] = sqlite_values(data)
        elif name == "Packages.db":
            blobs = ndb_values(data)
        else:
            blobs = bdb_values(data)
        return list(packages_of(blobs))
