"""A scan request's body (POST /api/v1/scan), checked as the spec and harbor-scanner-trivy check it:
400 for what is not JSON or has values of the wrong type, 422 for a bad value, 501 for a capability
or report this scanner does not have."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from berth.mediatypes import IMAGE_MANIFESTS, INDEXES
from berth.references import InvalidDigest, UnsupportedDigest, is_valid_name, is_valid_tag, parse_digest
from berth.scan.errors import BadRequest, InvalidField, NotCapable
from berth.scan.mimes import (
    PRODUCED,
    SBOM_MEDIA_TYPES,
    SBOM_REPORT,
    SPEC_REPORTS,
    VULNERABILITY_REPORTS,
    Wanted,
)

#: what a request without `enabled_capabilities` (Harbor before 2.11) gets: every report
ALL_REPORTS: tuple[Wanted, ...] = (
    *((mime, None) for mime in VULNERABILITY_REPORTS),
    *((SBOM_REPORT, media_type) for media_type in SBOM_MEDIA_TYPES),
)
_CAPABILITY_REPORTS = {"vulnerability": VULNERABILITY_REPORTS, "sbom": (SBOM_REPORT,)}


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What to scan, where from, and which reports to render. `authorization` is the registry's
    `Authorization` header value: kept out of repr (and so out of any log of this object)."""

    registry_url: str
    repository: str
    digest: str
    tag: str | None = None
    mime_type: str | None = None
    reports: tuple[Wanted, ...] = ALL_REPORTS
    authorization: str | None = field(default=None, repr=False)

    @property
    def wants_vulnerabilities(self) -> bool:
        return any(mime in VULNERABILITY_REPORTS for mime, _ in self.reports)


def parse_scan_request(body: bytes, allowed_hosts: frozenset[str] = frozenset()) -> ScanRequest:
    """The request in `body`; `allowed_hosts` (host or host:port, empty: any) limits which registries
    the adapter will fetch from, since it fetches whatever URL the caller names."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not JSON: {exc}") from None
    _expect(doc, dict, "the request body")
    registry = _expect(doc.get("registry"), dict, "registry", required=True)
    artifact = _expect(doc.get("artifact"), dict, "artifact", required=True)
    url = _expect(registry.get("url"), str, "registry.url")
    authorization = _expect(registry.get("authorization"), str, "registry.authorization")
    repository = _expect(artifact.get("repository"), str, "artifact.repository")
    digest = _expect(artifact.get("digest"), str, "artifact.digest")
    tag = _expect(artifact.get("tag"), str, "artifact.tag")
    mime_type = _expect(artifact.get("mime_type"), str, "artifact.mime_type")
    capabilities = _expect(doc.get("enabled_capabilities"), list, "enabled_capabilities")

    registry_url = _registry_url(url, allowed_hosts)
    if not repository:
        raise InvalidField("missing artifact.repository")
    if not is_valid_name(repository):
        raise InvalidField(f"invalid artifact.repository {repository!r}")
    if not digest:
        raise InvalidField("missing artifact.digest")
    try:
        parse_digest(digest)
    except (InvalidDigest, UnsupportedDigest):
        raise InvalidField(f"invalid artifact.digest {digest!r}") from None
    if tag and not is_valid_tag(tag):
        raise InvalidField(f"invalid artifact.tag {tag!r}")
    if mime_type and mime_type not in IMAGE_MANIFESTS | INDEXES:
        raise NotCapable(f"this scanner does not scan artifacts of type {mime_type}")
    if authorization is not None and authorization.split(" ", 1)[0].lower() not in ("basic", "bearer"):
        raise InvalidField("registry.authorization must be a Basic or Bearer credential")
    return ScanRequest(
        registry_url=registry_url,
        repository=repository,
        digest=digest,
        tag=tag or None,
        mime_type=mime_type or None,
        reports=ALL_REPORTS if capabilities is None else _reports(capabilities),
        authorization=authorization or None,
    )


def _expect(value: Any, kind: type, name: str, *, required: bool = False) -> Any:
    if value is None:
        if required:
            raise InvalidField(f"missing {name}")
        return None
    if not isinstance(value, kind):
        raise BadRequest(f"{name} must be a JSON {_JSON_NAMES[kind]}")
    return value


_JSON_NAMES = {dict: "object", list: "array", str: "string"}


def _registry_url(url: str | None, allowed_hosts: frozenset[str]) -> str:
    if not url:
        raise InvalidField("missing registry.url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise InvalidField(f"invalid registry.url {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidField(f"registry.url must be an absolute http or https URL, not {url!r}")
    if allowed_hosts and parts.netloc.lower() not in allowed_hosts and parts.hostname.lower() not in allowed_hosts:
        raise InvalidField(f"registry.url: this scanner does not fetch from {parts.netloc}")
    return url.rstrip("/")


def _reports(capabilities: list[Any]) -> tuple[Wanted, ...]:
    """The reports `enabled_capabilities` asks for. A capability without `produces_mime_types` wants
    all of its reports; an SBOM one without `parameters.sbom_media_types` both formats."""
    reports: list[Wanted] = []
    for index, capability in enumerate(capabilities):
        where = f"enabled_capabilities[{index}]"
        _expect(capability, dict, where)
        kind = _expect(capability.get("type"), str, f"{where}.type", required=True)
        if kind not in _CAPABILITY_REPORTS:
            raise InvalidField(f"{where}.type: unknown capability {kind!r} (vulnerability or sbom)")
        produces = _expect(capability.get("produces_mime_types"), list, f"{where}.produces_mime_types")
        mimes = list(_CAPABILITY_REPORTS[kind]) if not produces else produces
        for mime in mimes:
            _expect(mime, str, f"{where}.produces_mime_types[]")
            if mime not in _CAPABILITY_REPORTS[kind]:
                if mime in SPEC_REPORTS and mime not in PRODUCED:
                    raise NotCapable(f"this scanner does not produce {mime}")
                raise InvalidField(f"{where}: a {kind} capability does not produce {mime!r}")
        parameters = _expect(capability.get("parameters"), dict, f"{where}.parameters") or {}
        formats = _expect(parameters.get("sbom_media_types"), list, f"{where}.parameters.sbom_media_types")
        for media_type in formats or ():
            _expect(media_type, str, f"{where}.parameters.sbom_media_types[]")
            if media_type not in SBOM_MEDIA_TYPES:
                raise InvalidField(f"{where}: unsupported SBOM media type {media_type!r}")
        for mime in mimes:
            if mime == SBOM_REPORT:
                reports += [(mime, media_type) for media_type in (formats or SBOM_MEDIA_TYPES)]
            else:
                reports.append((mime, None))
    if not reports:
        raise InvalidField("enabled_capabilities enables nothing")
    return tuple(dict.fromkeys(reports))
