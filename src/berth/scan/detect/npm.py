"""npm packages: node_modules/**/package.json, and package-lock.json (v2/v3 `packages`) outside node_modules."""

from __future__ import annotations

import orjson
from packageurl import PackageURL

from berth.scan.detect.base import DetectError, FileData, Found
from berth.scan.limits import Limits
from berth.scan.model import Package

LOCKFILE = "package-lock.json"


def npm_package(name: str, version: str, path: str, licenses: tuple[str, ...] = ()) -> Package:
    namespace, _, bare = name.rpartition("/")
    purl = PackageURL(type="npm", namespace=namespace or None, name=bare, version=version)
    return Package(
        name=name, version=version, ecosystem="npm", purl=purl.to_string(), kind="lang", path=path, licenses=licenses
    )


def licenses_of(manifest: dict) -> tuple[str, ...]:
    """`license` as SPDX text or the old {type} object, or the older `licenses` list."""
    found = manifest.get("license")
    entries = found if isinstance(found, list) else [found] if found else manifest.get("licenses") or []
    names = [e.get("type") if isinstance(e, dict) else e for e in entries if e]
    return tuple(n for n in names if isinstance(n, str) and n)


def is_installed_manifest(path: str) -> bool:
    """node_modules/<name>/package.json or node_modules/@scope/<name>/package.json, at any depth."""
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith("@") and not parts[-2].startswith(".")
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def parse_lockfile(data: FileData, path: str) -> list[Package]:
    try:
        lock = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DetectError(f"{path}: not JSON") from exc
    packages = lock.get("packages") if isinstance(lock, dict) else None
    if not isinstance(packages, dict):
        return []  # lockfile v1 has only `dependencies`; v2 and v3 carry `packages`
    found = []
    for key, entry in packages.items():
        if not key or not isinstance(entry, dict) or entry.get("link") or entry.get("dev"):
            continue  # "" is the project itself; links point at other entries; dev deps are not shipped
        name = entry.get("name") or key.rpartition("node_modules/")[2]
        version = entry.get("version")
        if isinstance(name, str) and name and isinstance(version, str) and version:
            found.append(npm_package(name, version, path, licenses_of(entry)))
    return found


class NpmDetector:
    name = "npm"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        if path.endswith("/" + LOCKFILE):
            return "/node_modules/" not in path
        return is_installed_manifest(path)

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        if path.endswith("/" + LOCKFILE):
            return list(parse_lockfile(data, path))
        try:
            manifest = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []  # packages ship broken test fixtures named package.json; not worth a skip line
        if not isinstance(manifest, dict):
            return []
        name, version = manifest.get("name"), manifest.get("version")
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            return []
        return [npm_package(name, version, path, licenses_of(manifest))]
