"""Maven artifacts in jar/war/ear files: META-INF/maven/**/pom.properties, else MANIFEST.MF and the
file name; archives inside archives down to `Limits.max_archive_depth`."""

from __future__ import annotations

import io
import re
import zipfile

from packageurl import PackageURL

from berth.scan.detect.base import DetectError, FileData, Found
from berth.scan.limits import Limits
from berth.scan.model import Package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear")
_POM_PROPERTIES = re.compile(r"META-INF/maven/[^/]+/[^/]+/pom\.properties")
_MANIFEST = "META-INF/MANIFEST.MF"
#: groupId/artifactId grammar: no spaces, no unexpanded ${…} or %keys
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_FILE_NAME = re.compile(r"(?P<artifact>.+?)-(?P<version>\d[^/]*?)\.(?:jar|war|ear)")
_VERSION = re.compile(r"\d[0-9A-Za-z.\-_+]*")


def maven_package(group: str | None, artifact: str, version: str, path: str) -> Package:
    purl = PackageURL(type="maven", namespace=group, name=artifact, version=version)
    name = f"{group}:{artifact}" if group else artifact
    return Package(name=name, version=version, ecosystem="Maven", purl=purl.to_string(), kind="lang", path=path)


def parse_properties(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!" and ("=" in line or ":" in line):
            key, _, value = line.partition("=") if "=" in line else line.partition(":")
            values[key.strip()] = value.strip()
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a MANIFEST.MF (up to the first blank line); continuations start with a space."""
    values: dict[str, str] = {}
    key = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            break
        if line.startswith(" ") and key is not None:
            values[key] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            values.setdefault(key, value.strip())
    return values


def _valid_id(value: str | None) -> str | None:
    return value if value and _ID.fullmatch(value) else None


def from_manifest(manifest: dict[str, str], file_name: str, path: str) -> Package | None:
    """A best guess where no pom.properties says: the version from the manifest or the file name,
    the artifactId from the file name or the manifest's titles, the groupId from the vendor id or
    the OSGi symbolic name (minus a trailing `.artifactId`)."""
    named = _FILE_NAME.fullmatch(file_name)
    version = next(
        (
            m.group()
            for key in ("Implementation-Version", "Bundle-Version", "Specification-Version")
            if (m := _VERSION.match(manifest.get(key, "")))
        ),
        named.group("version") if named else None,
    )
    artifact = named.group("artifact") if named else None
    artifact = artifact or next(
        (
            v
            for key in ("Implementation-Title", "Bundle-Name", "Specification-Title")
            if (v := _valid_id(manifest.get(key)))
        ),
        None,
    )
    if not version or not artifact:
        return None
    group = _valid_id(manifest.get("Implementation-Vendor-Id"))
    symbolic = _valid_id(manifest.get("Bundle-SymbolicName", "").split(";")[0].strip())
    if group is None and symbolic:
        group = symbolic.removesuffix("." + artifact) if symbolic.endswith("." + artifact) else symbolic
    return maven_package(group, artifact, version, path)


def read_archive(data: FileData, path: str, limits: Limits, depth: int = 1) -> list[Package]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DetectError(f"not a zip archive ({exc})") from exc
    found: list[Package] = []
    nested: list[zipfile.ZipInfo] = []
    manifest = None
    with archive:
        for info in archive.infolist():
            if _POM_PROPERTIES.fullmatch(info.filename):
                properties = parse_properties(_read(archive, info, limits).decode("utf-8", "replace"))
                artifact, version = properties.get("artifactId"), properties.get("version")
                if artifact and version:
                    found.append(maven_package(properties.get("groupId"), artifact, version, path))
            elif info.filename == _MANIFEST:
                manifest = parse_manifest(_read(archive, info, limits).decode("utf-8", "replace"))
            elif info.filename.lower().endswith(ARCHIVE_SUFFIXES) and depth < limits.max_archive_depth:
                nested.append(info)
        if not found and manifest is not None:
            guess = from_manifest(manifest, path.rsplit("/", 1)[-1], path)
            found.extend([guess] if guess else [])
        for info in nested:
            try:
                found.extend(read_archive(_read(archive, info, limits), f"{path}!/{info.filename}", limits, depth + 1))
            except DetectError:
                continue  # one broken inner jar does not spoil the outer archive
    return found


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    """An entry's bytes, refusing more than the per-file cap whatever its header claims (zip bombs)."""
    try:
        with archive.open(info) as entry:
            data = entry.read(limits.max_file_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DetectError(f"{info.filename}: {exc}") from exc
    if len(data) > limits.max_file_bytes:
        raise DetectError(f"{info.filename} is over the per-file cap")
    return data


class JavaArchiveDetector:
    name = "java"
    magic = b"PK"

    def wants(self, path: str, mode: int) -> bool:
        return path.lower().endswith(ARCHIVE_SUFFIXES)

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        return list(read_archive(data, path, limits))
