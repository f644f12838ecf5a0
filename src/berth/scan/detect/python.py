"""Installed Python distributions: *.dist-info/METADATA, *.egg-info/PKG-INFO and single-file *.egg-info."""

from __future__ import annotations

import re
from email.parser import HeaderParser

from packageurl import PackageURL

from berth.scan.detect.base import FileData, Found
from berth.scan.limits import Limits
from berth.scan.model import Package

_SEPARATORS = re.compile(r"[-_.]+")
_LICENSE_CLASSIFIER = "License :: "


def pep503_name(name: str) -> str:
    """PyPI's normalised project name: runs of -, _ and . become one -, lowercase."""
    return _SEPARATORS.sub("-", name).lower()


def licenses_of(headers) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """License-Expression (PEP 639), else License (when short enough to be a name), else classifiers."""
    expression = (headers.get("License-Expression") or "").strip()
    if expression:
        return (expression,)
    text = (headers.get("License") or "").strip()
    if text and text.upper() != "UNKNOWN" and "\n" not in text and len(text) <= 100:
        return (text,)
    classifiers = [
        c.rsplit(" :: ", 1)[-1] for c in headers.get_all("Classifier") or [] if c.startswith(_LICENSE_CLASSIFIER)
    ]
    return tuple(dict.fromkeys(c for c in classifiers if c != "OSI Approved"))


def parse_metadata(text: str, path: str) -> Package | None:
    headers = HeaderParser().parsestr(text, headersonly=True)
    name, version = (headers.get("Name") or "").strip(), (headers.get("Version") or "").strip()
    if not name or not version:
        return None
    normalised = pep503_name(name)
    return Package(
        name=normalised,
        version=version,
        ecosystem="PyPI",
        purl=PackageURL(type="pypi", name=normalised, version=version).to_string(),
        kind="lang",
        path=path,
        licenses=licenses_of(headers),
    )


class PythonDetector:
    name = "python"
    magic = b""

    def wants(self, path: str, mode: int) -> bool:
        folder, _, name = path.rpartition("/")
        if name == "METADATA":
            return folder.endswith(".dist-info")
        if name == "PKG-INFO":
            return folder.endswith(".egg-info") or folder.endswith("/EGG-INFO")
        return name.endswith(".egg-info")  # distutils wrote the metadata as one file

    def detect(self, path: str, data: FileData, limits: Limits) -> list[Found]:
        package = parse_metadata(data.decode("utf-8", "replace"), path)
        return [package] if package is not None else []
