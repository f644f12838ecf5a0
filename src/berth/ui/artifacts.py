"""A repository's artifacts (tags, size, push and pull times, scan status with its severity bar, the
signature verdict, labels, a scan button) and an artifact's page (platforms or layers, build history,
the vulnerability table with its filters, SBOM download, accessories, labels, copy-ready pull lines by
digest), and the actions on one: delete, scan, add or remove a label, copy (retag)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth import mediatypes
from berth.auth.rbac import Subject
from berth.references import is_valid_name
from berth.services.artifacts import ArtifactRecord
from berth.services.errors import NotFound, ServiceError
from berth.services.projects import ProjectRecord
from berth.services.scans import SBOM_MIME_TYPE, ReportSummary
from berth.ui.pages import Pager, Ui
from berth.ui.security import ArtifactActions, artifact_security

#: /projects/<project>/repositories/<repository>[/artifacts/<digest>[/delete]]: repository names hold
#: slashes, digests a colon, which no repository name holds, so the split is never ambiguous
_PATH = re.compile(
    r"(?P<repository>.+?)(?:/artifacts/(?P<digest>sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})"
    r"(?P<action>/delete|/scan|/sbom|/copy|/labels|/labels/(?P<label>[0-9]{1,18})/remove)?)?")
#: the actions a form posts to (the others are pages)
_POSTED = frozenset({"/delete", "/scan", "/copy", "/labels", "/remove"})


class ArtifactPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def dispatch(self, request: Request) -> Response:
        """GET a repository's artifacts, an artifact's page or its SBOM; POST an action on an artifact."""
        match = _PATH.fullmatch(request.path_params["rest"])
        if match is None:
            raise NotFound("no such page")
        action = match["action"] or ""
        if action.endswith("/remove"):
            action = "/remove"
        if (request.method == "POST") != (action in _POSTED):
            raise NotFound("no such page") if request.method != "POST" else _NotAllowed("this page takes no form")
        subject = await self.ui.viewer(request)
        project = await self.ui.project(subject, request.path_params["project"], "repository", "list")
        name = f"{project.name}/{match['repository']}"
        if not is_valid_name(name):
            raise NotFound(f"repository {name} not found")
        digest = match["digest"]
        if action == "/delete":
            return await self._delete(request, subject, project, name, digest)
        if action:
            async def page(status: int, **extra: Any) -> Response:
                return await self._artifact(request, subject, project, name, digest, status, **extra)

            actions = ArtifactActions(self.ui, subject, project, name, digest, page)
            if action == "/sbom":
                return await actions.sbom()
            if action == "/scan":
                return await actions.scan(request)
            if action == "/copy":
                return await actions.copy(request)
            return await actions.label(request, int(match["label"]) if match["label"] else None)
        if digest:
            return await self._artifact(request, subject, project, name, digest)
        return await self._repository(request, subject, project, name)

    async def _repository(self, request: Request, subject: Subject, project: ProjectRecord, name: str) -> Response:
        self.ui.require(subject, project.ref, "artifact", "list")
        pager = Pager.of(request)
        registry = self.ui.registry
        repository = await registry.repositories.get(name)
        found, total = await registry.artifacts.list(name, q=None, sort=None, offset=pager.offset, limit=pager.size)
        scans = await self._scans(project, [artifact.digest for artifact in found])
        context = {"project": project, "repository": repository, "short": name[len(project.name) + 1:],
                   "artifacts": found, "scans": scans, "pager": pager.counted(total),
                   "signatures": await registry.trust.signatures(found),
                   "labels": await registry.labels.of_artifacts([artifact.id for artifact in found]),
                   "may_delete": self.ui.may(subject, project.ref, "artifact", "delete"),
                   "may_scan": self.ui.may(subject, project.ref, "scan", "create")}
        if self.ui.partial(request):
            return self.ui.render(request, "_artifacts.html", **context)
        return self.ui.render(request, "repository.html", **context)

    async def _scans(self, project: ProjectRecord, digests: list[str]) -> dict[str, ReportSummary]:
        """The newest vulnerability report of the project's scanner per digest (one query for the page)."""
        registry = self.ui.registry
        registration = await registry.scanners.of_project(project.id)
        if registration is None or not digests:
            return {}
        found = await registry.scans.summaries(digests, registration.uuid)
        out = {}
        for digest, reports in found.items():
            reports = [r for r in reports if r.mime_type != SBOM_MIME_TYPE]
            if reports:
                out[digest] = max(reports, key=lambda r: r.created_at)
        return out

    async def _artifact(self, request: Request, subject: Subject, project: ProjectRecord, name: str,
                        digest: str, status: int = 200, **extra: Any) -> Response:
        self.ui.require(subject, project.ref, "artifact", "read")
        registry = self.ui.registry
        artifact = await registry.artifacts.get(name, digest)
        attrs = await registry.artifacts.extra_attrs(artifact)
        history = []
        if "build_history" in registry.artifacts.addition_types(artifact):
            _, body = await registry.artifacts.addition(artifact, "build_history")
            history = [step for step in orjson.loads(body) if isinstance(step, dict)]
        index = artifact.manifest_media_type in mediatypes.INDEXES
        layers = [] if index else [layer for layer in artifact.doc.get("layers") or [] if isinstance(layer, dict)]
        scans = await self._scans(project, [artifact.digest])
        security = {**await artifact_security(self.ui, request, subject, project, artifact), **extra}
        short = name[len(project.name) + 1:]
        if self.ui.partial(request) and request.method == "GET":  # a page of the vulnerability table
            return self.ui.render(request, "_vulnerabilities.html", project=project, artifact=artifact,
                                  short=short, scan=scans.get(artifact.digest), **security)
        return self.ui.render(
            request, "artifact.html", status, project=project, artifact=artifact, short=short,
            attrs=attrs, history=history, layers=layers, index=index, scan=scans.get(artifact.digest),
            pulls=self._pull_lines(request, artifact), may_delete=self.ui.may(subject, project.ref, "artifact", "delete"),
            **security,
        )

    def _pull_lines(self, request: Request, artifact: ArtifactRecord) -> dict[str, str]:
        """Copy-ready commands by digest, with the address clients reach this registry at."""
        public = self.ui.settings.public_url
        if public:
            parts = urlsplit(public)
            host, secure = parts.netloc, parts.scheme == "https"
        else:
            host, secure = request.headers.get("host", request.url.netloc), request.url.scheme == "https"
        reference = f"{host}/{artifact.repository_name}@{artifact.digest}"
        basename = artifact.repository_name.rsplit("/", 1)[-1]
        tls = "" if secure else " --src-tls-verify=false"
        return {"docker": f"docker pull {reference}",
                "skopeo": f"skopeo copy{tls} docker://{reference} oci-archive:{basename}.tar"}

    async def _delete(self, request: Request, subject: Subject, project: ProjectRecord, name: str,
                      digest: str) -> Response:
        self.ui.require(subject, project.ref, "artifact", "delete")
        await self.ui.registry.artifacts.delete(name, digest)
        return self.ui.redirect(f"/projects/{project.name}/repositories/{name[len(project.name) + 1:]}")


class _NotAllowed(ServiceError):
    status, code = 405, "METHOD_NOT_ALLOWED"
