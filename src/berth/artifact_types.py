"""What kind of artifact a manifest is, by Harbor's rules (src/controller/artifact/manifest and
processor): IMAGE, CHART, CNAB, WASM, SBOM, CNAI, a type named by a vendor config media type, or
UNKNOWN. Pure: the manifest's parsed JSON and media type in, names out."""

from __future__ import annotations

import re
from typing import Any

from berth import mediatypes as mt

IMAGE, CHART, CNAB, WASM, SBOM, CNAI, UNKNOWN = "IMAGE", "CHART", "CNAB", "WASM", "SBOM", "CNAI", "UNKNOWN"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
CNAB_MANIFEST = "application/vnd.cnab.manifest.v1"
WASM_CONFIG = "application/vnd.wasm.config.v1+json"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"

#: the media type (see `artifact_media_types`) -> type, as Harbor registers its processors
_PROCESSORS = {
    mt.OCI_INDEX: IMAGE,
    mt.DOCKER_MANIFEST_LIST: IMAGE,
    mt.OCI_CONFIG: IMAGE,
    mt.DOCKER_CONFIG: IMAGE,
    HELM_CONFIG: CHART,
    CNAB_MANIFEST: CNAB,
    WASM_CONFIG: WASM,
    HARBOR_SBOM: SBOM,
    MODEL_MANIFEST: CNAI,
}
# a vendor config type names its kind: application/vnd.<vendor>.<kind>.config.<version>+json
_VENDOR_CONFIG = re.compile(r"^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$")
_WASM_ANNOTATIONS = (("module.wasm.image/variant", "compat"), ("run.oci.handler", "wasm"))


def artifact_media_types(manifest_media_type: str, doc: dict[str, Any]) -> tuple[str, str]:
    """(media type, artifact type) as Harbor records them for a manifest or index.

    Manifests: the config's media type (WASM for wasm-annotated images), and `artifactType` or else
    the config's media type. Indexes: the index media type (or its `org.opencontainers.artifactType`
    annotation, which CNAB uses), and `artifactType` or "".
    """
    if manifest_media_type in (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST):
        annotations = doc.get("annotations") or {}
        media_type = annotations.get("org.opencontainers.artifactType") or manifest_media_type
        return str(media_type), str(doc.get("artifactType") or "")
    config = doc.get("config") or {}
    config_type = str(config.get("mediaType") or "")
    annotations = doc.get("annotations") or {}
    media_type = WASM_CONFIG if any(annotations.get(k) == v for k, v in _WASM_ANNOTATIONS) else config_type
    return media_type, str(doc.get("artifactType") or config_type)


def artifact_type(media_type: str, artifact_type_: str) -> str:
    """Harbor's `type` of an artifact: its processor's, else the vendor config's kind, else UNKNOWN."""
    resolved = artifact_type_ or media_type
    known = _PROCESSORS.get(resolved)
    if known is not None:
        return known
    match = _VENDOR_CONFIG.match(resolved)
    return match.group(1).upper() if match else UNKNOWN
