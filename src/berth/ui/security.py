"""The security side of the web UI: an artifact's vulnerability table (filtered and sorted on the
server, the filters in the query string), its signature verdict, labels and SBOM; the actions on an
artifact (scan, add or remove a label, copy/retag, SBOM download); and the security overview of a
project or of the whole registry with its trend drawn as SVG by the server.

Every action goes through the services the API uses (scan_jobs, labels, artifacts.copy and
create_tag, artifacts.sbom) after the same RBAC decision (Ui.require)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from berth.auth.rbac import Subject
from berth.references import is_valid_name, is_valid_tag
from berth.scan.local import SBOM, VULNERABILITY
from berth.scan.model import Severity
from berth.services.artifacts import ArtifactRecord
from berth.services.errors import BadRequest, Forbidden, ServiceError
from berth.services.labels import GLOBAL, PROJECT
from berth.services.projects import ProjectRecord
from berth.services.scans import VULNERABILITY_MIME_TYPES, Finding, findings_of
from berth.services.securityhub import OVERVIEW_SEVERITIES, Overview, TrendPoint
from berth.ui.pages import Pager, Problem, Ui

#: the vulnerability table's filters and sort keys (query string names)
VULNERABILITY_FILTERS = ("severity", "package", "fixable", "sort")
SORTS = {
    "severity": lambda f: (-int(f.severity), f.package, f.cve_id),
    "package": lambda f: (f.package, f.version, -int(f.severity), f.cve_id),
    "cve": lambda f: (f.cve_id, f.package),
    "fixed": lambda f: (not f.fixed_version, f.fixed_version, -int(f.severity), f.package),
}
SEVERITY_NAMES = tuple(s.harbor for s in sorted(Severity, reverse=True))
#: the labels offered on an artifact page (global and the project's): one page of each
MAX_LABELS = 100
_CVE_LINK = re.compile(r"https?://[^\s\"'<>]+")


@dataclass(frozen=True, slots=True)
class Segment:
    """One severity's part of a bar of `width` units."""

    severity: str
    count: int
    x: float
    width: float

#: the copy form's fields and the words of the services' messages about them (Problem.about)
COPY_FIELDS = {"tag": r"\btag", "target": r"repositor|project|name"}


def severity_bar(counts: dict[str, int], width: float = 100.0) -> list[Segment]:
    """The segments of a severity bar, worst first, each as wide as its share (pure)."""
    total = sum(counts.values())
    out, x = [], 0.0
    for name in SEVERITY_NAMES:
        count = counts.get(name, 0)
        if count and total:
            part = width * count / total
            out.append(Segment(name, count, round(x, 2), round(part, 2)))
            x += part
    return out


def severity_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[name]} {name.lower()}" for name in SEVERITY_NAMES if counts.get(name)) or "none"


@dataclass(frozen=True, slots=True)
class Chart:
    """The trend drawn as SVG: one polyline per series, in a box of width x height."""

    width: int
    height: int
    top: int
    lines: list[tuple[str, str, list[tuple[float, float, TrendPoint, int]]]]
    ticks: list[tuple[float, str]]
    days: list[tuple[float, str]]


def trend_chart(points: list[TrendPoint], width: int = 640, height: int = 220) -> Chart:
    """Coordinates for the trend (pure): total, critical and high per day, the y axis up to the
    largest total, a few day labels along the x axis."""
    left, right, top, bottom = 44, 24, 12, 28
    largest = max((p.total for p in points), default=0) or 1
    step = (width - left - right) / max(1, len(points) - 1)

    def y(value: int) -> float:
        return round(top + (height - top - bottom) * (1 - value / largest), 1)

    lines = []
    for name, css in (("Total", "total"), ("Critical", "critical"), ("High", "high")):
        attribute = name.lower()
        coords = [(round(left + i * step, 1), y(getattr(p, attribute)), p, getattr(p, attribute))
                  for i, p in enumerate(points)]
        lines.append((name, css, coords))
    ticks = [(y(v), str(v)) for v in sorted({0, largest // 2, largest})]
    every = max(1, len(points) // 5)
    days = [(round(left + i * step, 1), p.day[5:]) for i, p in enumerate(points) if i % every == 0 or i == len(points) - 1]
    return Chart(width, height, top, lines, ticks, days)


def _points(coords: list[tuple[float, float, TrendPoint, int]]) -> str:
    return " ".join(f"{x},{y}" for x, y, _, _ in coords)


def register(ui: Ui) -> None:
    """The template helpers of these pages."""
    ui.templates.globals.update(severity_bar=severity_bar, severity_text=severity_text, trend_chart=trend_chart,
                                svg_points=_points, severity_names=SEVERITY_NAMES)


@dataclass(frozen=True, slots=True)
class VulnerabilityTable:
    rows: list[Finding]
    pager: Pager
    filters: dict[str, str]
    total: int
    counts: dict[str, int]

    def sort_link(self, key: str) -> str:
        return "?" + urlencode({**{k: v for k, v in self.filters.items() if k != "sort"}, "sort": key}) + "#vulnerabilities"


def vulnerability_table(request: Request, report: dict[str, Any] | None) -> VulnerabilityTable:
    """The report's findings, filtered and sorted as the query string says, one page of them."""
    pager = Pager.of(request, *VULNERABILITY_FILTERS)
    filters = dict(pager.filters)
    findings = findings_of(report) if report else []
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity.harbor] = counts.get(finding.severity.harbor, 0) + 1
    severity = filters.get("severity")
    if severity in SEVERITY_NAMES:
        findings = [f for f in findings if f.severity.harbor == severity]
    elif severity:
        filters.pop("severity")
    package = filters.get("package", "").strip().lower()
    if package:
        findings = [f for f in findings if package in f.package.lower()]
    fixable = filters.get("fixable")
    if fixable in ("yes", "no"):
        findings = [f for f in findings if bool(f.fixed_version) == (fixable == "yes")]
    elif fixable:
        filters.pop("fixable")
    sort = filters.get("sort", "severity")
    if sort not in SORTS:
        filters.pop("sort", None)
        sort = "severity"
    findings.sort(key=SORTS[sort])
    pager = Pager(pager.page, pager.size, len(findings), filters)
    return VulnerabilityTable(findings[pager.offset:pager.offset + pager.size], pager, filters, len(findings), counts)


def links_of(finding: Finding) -> list[str]:
    """The finding's links that are web addresses (nothing else becomes an href)."""
    return [link for link in finding.links if _CVE_LINK.fullmatch(link)]


async def artifact_security(ui: Ui, request: Request, subject: Subject, project: ProjectRecord,
                            artifact: ArtifactRecord) -> dict[str, Any]:
    """What the artifact page shows of its security, by what the role may see and do."""
    registry = ui.registry
    ref = project.ref
    report = None
    may_read_scan = ui.may(subject, ref, "scan", "read")
    if may_read_scan:
        registration = await registry.scanners.of_project(project.id)
        if registration is not None:
            found = await registry.scans.report(artifact.digest, registration.uuid, VULNERABILITY_MIME_TYPES)
            report = found[1] if found and isinstance(found[1], dict) else None
    attached = (await registry.labels.of_artifacts([artifact.id])).get(artifact.id, [])
    may_add_label = ui.may(subject, ref, "artifact-label", "create")
    offered = []
    if may_add_label:
        global_labels, _ = await registry.labels.list(scope=GLOBAL, project_id=None, name=None, q=None, sort=None,
                                                      offset=0, limit=MAX_LABELS)
        project_labels, _ = await registry.labels.list(scope=PROJECT, project_id=project.id, name=None, q=None,
                                                       sort=None, offset=0, limit=MAX_LABELS)
        on = {label.id for label in attached}
        offered = [label for label in (*project_labels, *global_labels) if label.id not in on]
    return {
        "vulnerabilities": vulnerability_table(request, report) if may_read_scan else None,
        "links_of": links_of,
        "signature": (await registry.trust.signatures([artifact])).get(artifact.digest),
        "has_sbom": any(a.type == "sbom.harbor" for a in artifact.accessories)
                    and ui.may(subject, ref, "sbom", "read"),
        "attached_labels": attached, "offered_labels": offered, "may_add_label": may_add_label,
        "may_remove_label": ui.may(subject, ref, "artifact-label", "delete"),
        "may_scan": ui.may(subject, ref, "scan", "create"), "may_sbom": ui.may(subject, ref, "sbom", "create"),
        "may_copy": ui.may(subject, ref, "artifact", "create"),
        "copy_error": "", "copy_values": {}, "label_error": "",
    }


class ArtifactActions:
    """The actions on one artifact. `page` draws the artifact page again with a form's error."""

    def __init__(self, ui: Ui, subject: Subject, project: ProjectRecord, name: str, digest: str,
                 page: Callable[..., Awaitable[Response]]) -> None:
        self.ui = ui
        self.subject = subject
        self.project = project
        self.name = name
        self.digest = digest
        self.page = page

    @property
    def _path(self) -> str:
        return f"/projects/{quote(self.project.name)}/repositories/{self.name[len(self.project.name) + 1:]}"

    async def scan(self, request: Request) -> Response:
        form = await self.ui.form(request)
        kind = SBOM if form.get("scan_type") == SBOM else VULNERABILITY
        self.ui.require(self.subject, self.project.ref, "sbom" if kind == SBOM else "scan", "create")
        artifact = await self.ui.registry.artifacts.get(self.name, self.digest)
        await self.ui.registry.scan_jobs.scan_artifact(self.name, artifact.digest, kind)
        back = form.get("back", "")
        if not back.startswith(self._path) or "//" in back or "\\" in back:
            back = f"{self._path}/artifacts/{self.digest}"
        return self.ui.redirect(back)

    async def sbom(self) -> Response:
        self.ui.require(self.subject, self.project.ref, "artifact", "read")
        self.ui.require(self.subject, self.project.ref, "sbom", "read")
        artifact = await self.ui.registry.artifacts.get(self.name, self.digest)
        media_type, size, body = await self.ui.registry.artifacts.sbom(artifact)
        basename = self.name.rsplit("/", 1)[-1]
        filename = f"{basename}-{self.digest.partition(':')[2][:12]}.spdx.json"
        return StreamingResponse(body, media_type=media_type, headers={
            "Content-Length": str(size), "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    async def label(self, request: Request, remove: int | None) -> Response:
        form = await self.ui.form(request)
        artifact = await self.ui.registry.artifacts.get(self.name, self.digest)
        if remove is not None:
            self.ui.require(self.subject, self.project.ref, "artifact-label", "delete")
            await self.ui.registry.labels.detach(artifact.id, remove)
            return self.ui.redirect(f"{self._path}/artifacts/{self.digest}#labels")
        self.ui.require(self.subject, self.project.ref, "artifact-label", "create")
        chosen = form.get("label_id", "")
        try:
            if not (chosen.isascii() and chosen.isdigit()):
                raise BadRequest("choose a label from the list")
            await self.ui.registry.labels.attach(artifact.id, int(chosen))
        except ServiceError as exc:
            return await self.page(exc.status, label_error=Problem.about(exc.message, {"label_id": r"label"}))
        return self.ui.redirect(f"{self._path}/artifacts/{self.digest}#labels")

    async def copy(self, request: Request) -> Response:
        """Copy the artifact into a repository (this one or another project's) and tag it there:
        the API's CopyArtifact, then its createTag."""
        form = await self.ui.form(request)
        values = {"target": form.get("target", "").strip(), "tag": form.get("tag", "").strip()}
        self.ui.require(self.subject, self.project.ref, "artifact", "read")
        try:
            target, tag = values["target"], values["tag"]
            project_name, _, inner = target.partition("/")
            if not inner or not is_valid_name(target):
                raise BadRequest("the target is project/repository, in lower case (a-z, 0-9, . _ - /)")
            if tag and not is_valid_tag(tag):
                raise BadRequest(f"invalid tag {tag[:130]!r}")
            destination = await self.ui.project(self.subject, project_name, "artifact", "create")
            if tag:
                self.ui.require(self.subject, destination.ref, "tag", "create")
            if target != self.name:
                await self.ui.registry.artifacts.copy(self.name, self.digest, target)
            if tag:
                await self.ui.registry.artifacts.create_tag(target, self.digest, tag)
            elif target == self.name:
                raise BadRequest("the artifact is in this repository already: give a new tag")
        except Forbidden:
            raise  # the role's refusal is a page of its own, as for every other form
        except ServiceError as exc:
            return await self.page(exc.status, copy_error=Problem.about(exc.message, COPY_FIELDS), copy_values=values)
        return self.ui.redirect(f"/projects/{quote(project_name)}/repositories/{inner}/artifacts/{self.digest}")


class SecurityPages:
    """The security overview of a project (whoever may read its scans) and of the registry (system admins)."""

    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        register(ui)

    async def project(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "scan", "read")
        registration = await self.ui.registry.scanners.of_project(project.id)
        overview = await self.ui.registry.security_hub.overview(registration.uuid if registration else None, project.id)
        return self._render(request, overview, project=project, tab="security",
                            scanner=registration.name if registration else "")

    async def system(self, request: Request) -> Response:
        subject = await self.ui.viewer(request)
        if not subject.sysadmin:
            raise Forbidden("the registry's security overview is for system admins")
        registration = await self.ui.registry.scanners.default()
        overview = await self.ui.registry.security_hub.overview(registration.uuid if registration else None, None)
        return self._render(request, overview, project=None, tab="security",
                            scanner=registration.name if registration else "")

    def _render(self, request: Request, overview: Overview, **context: Any) -> Response:
        return self.ui.render(request, "security.html", overview=overview, severities=OVERVIEW_SEVERITIES,
                              chart=trend_chart(overview.trend), **context)
