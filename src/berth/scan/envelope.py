"""What every Harbor scan report starts with: the artifact, the scanner, and when it was generated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth import __version__


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """The scanned artifact as the scan request named it (the spec's `Artifact`)."""

    repository: str
    digest: str
    tag: str | None = None
    mime_type: str | None = None

    def to_json(self) -> dict[str, str]:
        doc = {"repository": self.repository, "digest": self.digest}
        if self.tag:
            doc["tag"] = self.tag
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    """The spec's `Scanner`: who made the report."""

    name: str = "berth"
    vendor: str = "berth"
    version: str = __version__

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "vendor": self.vendor, "version": self.version}


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a Z, as Harbor's and Trivy's reports write it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header(artifact: ArtifactRef, scanner: ScannerInfo, generated_at: datetime) -> dict[str, Any]:
    return {"generated_at": timestamp(generated_at), "artifact": artifact.to_json(), "scanner": scanner.to_json()}
