"""The media types of the pluggable scanner API, and how a report request's `Accept` picks one."""

from __future__ import annotations

from berth.mediatypes import DOCKER_MANIFEST, OCI_MANIFEST
from berth.scan.errors import BadRequest, NotCapable, UnsupportedMediaType

METADATA_1_0 = "application/vnd.scanner.adapter.metadata+json; version=1.0"
METADATA_1_1 = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_REQUEST_1_0 = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_REQUEST_1_1 = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"

#: Harbor's "native" report: the same body as VULNERABILITY_1_1, kept for Harbor before 2.x's generic one
VULNERABILITY_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
VULNERABILITY_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
#: a vendor's own report format: in the spec, not produced here
RAW_REPORT = "application/vnd.scanner.adapter.vuln.report.raw"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"

#: the artifacts a scan can read: image manifests (an index is scanned through its platform manifest)
CONSUMED = (OCI_MANIFEST, DOCKER_MANIFEST)

SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SBOM_MEDIA_TYPES = (SPDX_JSON, CYCLONEDX_JSON)

VULNERABILITY_REPORTS = (VULNERABILITY_1_1, VULNERABILITY_1_0)
PRODUCED = (*VULNERABILITY_REPORTS, SBOM_REPORT)
SPEC_REPORTS = (*PRODUCED, RAW_REPORT)

#: a report to render: its MIME, and for the SBOM report the SBOM format (None otherwise)
Wanted = tuple[str, str | None]


def _key(text: str) -> tuple[str, str | None]:
    """(type/subtype, version) of one media range, lower-cased; other parameters (q=...) do not matter."""
    kind, *params = (part.strip() for part in text.split(";"))
    version = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "version":
            version = value.strip().strip('"')
    return kind.lower(), version


_KNOWN = {_key(mime): mime for mime in SPEC_REPORTS}
_VERSIONS: dict[str, list[str]] = {}
for _kind, _version in _KNOWN:
    if _version is not None:
        _VERSIONS.setdefault(_kind, []).append(_version)


def report_mime(accept: str | None) -> str:
    """The report MIME an `Accept` asks for: empty or `*/*` means the vulnerability report 1.1 (what
    harbor-scanner-trivy does; the 1.0 spec said the native report, which has the same body). A type
    without `version` means its only version. Of several media ranges, the first this scanner produces
    wins; one that only names the raw report is 501, one that names no report at all 415."""
    ranges = [part for part in (accept or "").split(",") if part.strip()]
    if not ranges:
        return VULNERABILITY_1_1
    spec_only: str | None = None
    for media_range in ranges:
        kind, version = _key(media_range)
        if kind in ("*/*", "application/*"):
            return VULNERABILITY_1_1
        if version is None and len(_VERSIONS.get(kind, ())) == 1:
            version = _VERSIONS[kind][0]
        mime = _KNOWN.get((kind, version))
        if mime in PRODUCED:
            return mime
        if mime is not None:
            spec_only = spec_only or mime
    if spec_only is not None:
        raise NotCapable(f"this scanner does not produce {spec_only}")
    raise UnsupportedMediaType(f"unsupported report type {accept!r}; supported: {', '.join(PRODUCED)}")


def metadata_mime(accept: str | None) -> str:
    """The metadata MIME to answer with: 1.0 when the caller asks for it (Harbor's client does), else 1.1."""
    asked = {_key(part) for part in (accept or "").split(",") if part.strip()}
    return METADATA_1_0 if _key(METADATA_1_0) in asked else METADATA_1_1


def wanted_report(accept: str | None, sbom_media_type: str | None) -> Wanted:
    """The report a GET .../report asks for: `report_mime`, plus for the SBOM report the
    `sbom_media_type` query parameter, which must name a format this scanner writes (else 400)."""
    mime = report_mime(accept)
    if mime != SBOM_REPORT:
        return mime, None
    if not sbom_media_type:
        raise BadRequest(f"the SBOM report needs the query parameter sbom_media_type ({' or '.join(SBOM_MEDIA_TYPES)})")
    if sbom_media_type not in SBOM_MEDIA_TYPES:
        raise BadRequest(f"unsupported sbom_media_type {sbom_media_type!r}; supported: {', '.join(SBOM_MEDIA_TYPES)}")
    return mime, sbom_media_type
