"""Harbor's scan data export, its pure rules: what a request may ask (checked as Harbor's handler
checks it), which artifacts and findings it selects (Harbor's filter processor), and the CSV it
writes (Harbor's columns, cells neutralized against formula injection as Harbor does)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.scan.globs import GlobInvalid, compile_glob

#: the only data type Harbor exports (`X-Scan-Data-Type`)
SCAN_DATA_TYPE = "application/vnd.security.vulnerability.report; version=1.1"
#: Harbor's execution vendor type and its extra attributes
VENDOR_TYPE = "SCAN_DATA_EXPORT"
PROJECT_IDS, JOB_NAME, USER_NAME, DIGEST, STATUS_MESSAGE = (
    "project_ids", "job_name", "user_name", "artifact_digest", "status_message")
#: what an export that found nothing says (Harbor's words); it leaves no file
NOTHING_FOUND = "No vulnerabilities found or matched"
#: Harbor's CSV header (src/pkg/scan/export/model.go, the `csv` tags of Data)
COLUMNS = ("Repository", "Artifact Digest", "CVE", "Package", "Current Version", "Fixed in version", "Severity",
           "CWE Ids", "Additional Data", "Scanner")
#: a cell starting with one of these would be a formula in a spreadsheet (Harbor's csvFormulaTriggers)
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
MAX_JOB_NAME = 255


class CriteriaInvalid(ValueError):
    """The request cannot be exported; the message is Harbor's 400 message."""


@dataclass(frozen=True, slots=True)
class Criteria:
    """What one export selects: one project, then repositories, tags, labels and CVE ids."""

    project_id: int
    job_name: str = ""
    labels: tuple[int, ...] = ()
    repositories: str = ""
    cve_ids: str = ""
    tags: str = ""

    def as_parameters(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "job_name": self.job_name, "labels": list(self.labels),
                "repositories": self.repositories, "cve_ids": self.cve_ids, "tags": self.tags}

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> Criteria:
        return cls(int(parameters["project_id"]), str(parameters.get("job_name") or ""),
                   tuple(int(label) for label in parameters.get("labels") or ()),
                   str(parameters.get("repositories") or ""), str(parameters.get("cve_ids") or ""),
                   str(parameters.get("tags") or ""))


def check_request(
    data_type: str | None, projects: Sequence[int] | None, *, job_name: str | None = None,
    labels: Sequence[int] | None = None, repositories: str | None = None, cve_ids: str | None = None,
    tags: str | None = None,
) -> Criteria:
    """The criteria of a POST /export/cve, or CriteriaInvalid with Harbor's message (Harbor's order:
    the data type, one project, no spaces); berth also refuses a malformed pattern here rather than
    failing the job later."""
    if data_type != SCAN_DATA_TYPE:
        raise CriteriaInvalid(f"Unsupported MIME type : {data_type or ''}")
    if projects is None or len(projects) != 1:
        raise CriteriaInvalid(f"only support export single project, invalid value: {list(projects or [])}")
    patterns = {"repositories": repositories or "", "tags": tags or "", "cveIds": cve_ids or ""}
    for value in patterns.values():
        if " " in value:
            raise CriteriaInvalid(f"invalid criteria value, please remove additional spaces for input: {value}")
    for name, value in patterns.items():
        try:
            compile_glob(value)
        except GlobInvalid as exc:
            raise CriteriaInvalid(f"{name}: {exc}") from None
    if job_name and len(job_name) > MAX_JOB_NAME:
        raise CriteriaInvalid(f"job_name is longer than {MAX_JOB_NAME} characters")
    return Criteria(projects[0], job_name or "", tuple(dict.fromkeys(labels or ())), patterns["repositories"],
                    patterns["cveIds"], patterns["tags"])


# --- selection ------------------------------------------------------------------------------------


def repository_matcher(pattern: str) -> Callable[[str], bool]:
    """Harbor matches `repositories` against a repository's name without its project ("lib/app" of
    "proj/lib/app")."""
    matches = compile_glob(pattern)
    return lambda full_name: matches(full_name.partition("/")[2] if "/" in full_name else full_name)


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    id: int
    tags: tuple[str, ...]
    labels: frozenset[int]
    #: ids of the artifacts this one lists (an index's children in the same repository)
    children: tuple[int, ...] = ()


def select_artifacts(
    artifacts: Iterable[ArtifactFacts], tags: str, labels: Sequence[int],
) -> set[int]:
    """The ids of the artifacts an export covers, as Harbor's filter processor picks them: a tag
    pattern keeps artifacts with a matching tag and, as Harbor's doublestar selector does, untagged
    ones; labels keep artifacts carrying any of them; an index's children go with the index (they
    take its tags and labels in Harbor)."""
    tag_matches = compile_glob(tags)
    wanted = set(labels)
    every = list(artifacts)

    def selected(artifact: ArtifactFacts) -> bool:
        by_tag = not tags or not artifact.tags or any(tag_matches(tag) for tag in artifact.tags)
        return by_tag and (not wanted or bool(artifact.labels & wanted))

    chosen = {artifact.id for artifact in every if selected(artifact)}
    for artifact in every:
        if artifact.id in chosen:
            chosen.update(artifact.children)
    return chosen


def cve_matcher(pattern: str) -> Callable[[str], bool]:
    return compile_glob(pattern)


# --- the CSV --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    repository: str
    digest: str
    cve_id: str
    package: str
    version: str
    fixed_version: str
    severity: str
    cwe_ids: str
    additional_data: str
    scanner: str


def neutralize(cell: str) -> str:
    """A cell a spreadsheet would take for a formula, quoted with a leading "'" (Harbor's sanitizeCSVCell)."""
    return "'" + cell if cell.startswith(_FORMULA_TRIGGERS) else cell


def csv_lines(rows: Iterable[Row], *, header: bool) -> bytes:
    """UTF-8 CSV of `rows` (with Harbor's header first when `header`), "\\n" line ends as Go's
    encoding/csv writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralize(cell) for cell in (
            row.repository, row.digest, row.cve_id, row.package, row.version, row.fixed_version, row.severity,
            row.cwe_ids, row.additional_data, row.scanner)])
    return buffer.getvalue().encode()


def file_name(execution_id: int) -> str:
    """The name Harbor gives the download (Content-Disposition)."""
    return f"scandata_export_{execution_id}.csv"
