"""What Harbor shows of a Helm chart package (.tgz): its values.yaml, README and dependencies. Pure."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from typing import Any

import yaml

#: the most bytes read from one file of a chart
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ChartDetails:
    values: str = ""
    readme: str = ""
    dependencies: list[dict[str, Any]] = field(default_factory=list)


def chart_details(package: bytes) -> ChartDetails:
    """The chart's top-level values.yaml and README.md (any case), and its dependencies from
    Chart.yaml (apiVersion v2) or requirements.yaml (v1). A package that is not a chart gives empty details."""
    files: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(package), mode="r:*") as archive:
            for member in archive:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 2 or member.size > MAX_FILE_BYTES:
                    continue  # only the chart's own top-level files, never subcharts
                name = parts[1].lower()
                if name in ("values.yaml", "readme.md", "chart.yaml", "requirements.yaml"):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        files[name] = extracted.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, EOFError, OSError):
        return ChartDetails()
    dependencies: list[dict[str, Any]] = []
    for source in ("chart.yaml", "requirements.yaml"):
        try:
            doc = yaml.safe_load(files.get(source, "")) or {}
        except yaml.YAMLError:
            continue
        listed = doc.get("dependencies") if isinstance(doc, dict) else None
        if isinstance(listed, list) and listed:
            dependencies = [
                {key: entry[key] for key in ("name", "version", "repository", "condition", "alias", "tags")
                 if key in entry}
                for entry in listed if isinstance(entry, dict)
            ]
            break
    return ChartDetails(files.get("values.yaml", ""), files.get("readme.md", ""), dependencies)
