"""SBOMs of an image's inventory (SPDX 2.3 JSON, CycloneDX 1.6 JSON) and Harbor's SBOM report around one."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from license_expression import ExpressionError, get_spdx_licensing
from packageurl import PackageURL

from berth.scan.envelope import ArtifactRef, ScannerInfo, header, timestamp
from berth.scan.mimes import CYCLONEDX_JSON, SPDX_JSON
from berth.scan.model import ImageInventory, Package

SPDX_VERSION = "SPDX-2.3"
CYCLONEDX_VERSION = "1.6"
_NAMESPACE = uuid.UUID("5b0e6a52-3a5e-4c1e-9b86-6d2b1f5f0b11")  # berth's: document ids from the artifact
_licensing = get_spdx_licensing()


def sbom_report(
    media_type: str,
    inventory: ImageInventory,
    artifact: ArtifactRef,
    scanner: ScannerInfo,
    generated_at: datetime,
) -> dict[str, Any]:
    """Harbor's SBOM report (`application/vnd.security.sbom.report+json; version=1.0`) holding the
    image's SBOM in `media_type` (SPDX or CycloneDX JSON)."""
    if media_type == SPDX_JSON:
        document, spec_version = spdx_document(inventory, artifact, scanner, generated_at), "2.3"
    elif media_type == CYCLONEDX_JSON:
        document, spec_version = cyclonedx_document(inventory, artifact, scanner, generated_at), CYCLONEDX_VERSION
    else:
        raise ValueError(f"no SBOM format {media_type!r}")
    report = header(artifact, scanner, generated_at)
    report["vendor_attributes"] = {
        "spec-version": spec_version,
        "create-by": scanner.name,
        "create-time": str(int(generated_at.timestamp())),
        "manifest-digest": inventory.manifest_digest,
        **({"platform": inventory.platform} if inventory.platform else {}),
    }
    report["media_type"] = media_type
    report["sbom"] = document
    return report


def image_purl(artifact: ArtifactRef, inventory: ImageInventory) -> str:
    """pkg:oci/<last path segment>@<digest>?repository_url=<repository> (the purl spec's OCI type)."""
    name = artifact.repository.rsplit("/", 1)[-1]
    qualifiers = {"repository_url": artifact.repository}
    if inventory.platform and "/" in inventory.platform:
        qualifiers["arch"] = inventory.platform.split("/")[1]
    if artifact.tag:
        qualifiers["tag"] = artifact.tag
    return PackageURL(type="oci", name=name, version=artifact.digest, qualifiers=qualifiers).to_string()


# -- SPDX 2.3 ------------------------------------------------------------------------------------------


def spdx_document(
    inventory: ImageInventory, artifact: ArtifactRef, scanner: ScannerInfo, created: datetime
) -> dict[str, Any]:
    """An SPDX 2.3 JSON document: the image DESCRIBED, CONTAINS its OS, which CONTAINS the OS
    packages; the language packages are CONTAINED by the image."""
    image_id = "SPDXRef-ContainerImage-" + _short_hash(artifact.digest)
    packages: list[dict[str, Any]] = [{
        "SPDXID": image_id,
        "name": _image_name(artifact),
        "versionInfo": artifact.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [_spdx_purl(image_purl(artifact, inventory))],
        "checksums": [{"algorithm": "SHA256", "checksumValue": inventory.manifest_digest.split(":", 1)[1]}]
        if inventory.manifest_digest.startswith("sha256:") else [],
    }]
    relationships = [_relation("SPDXRef-DOCUMENT", "DESCRIBES", image_id)]
    os_id = None
    if inventory.os is not None:
        os_id = "SPDXRef-OperatingSystem-" + _short_hash(inventory.os.id + (inventory.os.version_id or ""))
        packages.append({
            "SPDXID": os_id,
            "name": inventory.os.id,
            "versionInfo": inventory.os.version_id or "",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
            **({"description": inventory.os.pretty_name} if inventory.os.pretty_name else {}),
        })
        relationships.append(_relation(image_id, "CONTAINS", os_id))
    for index, package in enumerate(inventory.packages):
        package_id = f"SPDXRef-Package-{_short_hash(f'{index}:{package.purl}:{package.path}')}"
        packages.append(_spdx_package(package_id, package))
        parent = os_id if package.kind == "os" and os_id is not None else image_id
        relationships.append(_relation(parent, "CONTAINS", package_id))
    name = _image_name(artifact)
    return {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://berth.invalid/spdx/{quote(name, safe='/:@')}-"
                             f"{uuid.uuid5(_NAMESPACE, artifact.digest + timestamp(created))}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: {scanner.name}-{scanner.version}", f"Organization: {scanner.vendor}"],
        },
        "packages": packages,
        "relationships": relationships,
    }


def _spdx_package(package_id: str, package: Package) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "SPDXID": package_id,
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": [_spdx_purl(package.purl)],
    }
    expression = spdx_license_expression(package.licenses)
    if expression is not None:
        doc["licenseDeclared"] = expression
    elif package.licenses:
        doc["licenseDeclared"] = "NOASSERTION"
        doc["licenseComments"] = "declared: " + "; ".join(package.licenses)
    if package.source_name and (package.source_name, package.source_version) != (package.name, package.version):
        doc["sourceInfo"] = f"built from source package {package.source_name} {package.lookup_version}"
    attributions = []
    if package.layer is not None:
        attributions.append(f"LayerDigest: {package.layer.digest}")
        if package.layer.diff_id:
            attributions.append(f"LayerDiffID: {package.layer.diff_id}")
    if package.path:
        attributions.append(f"Path: {package.path}")
    if attributions:
        doc["attributionTexts"] = attributions
    return doc


def spdx_license_expression(licenses: tuple[str, ...]) -> str | None:
    """The declared licenses as one SPDX expression (AND of each), None if any is not SPDX."""
    if not licenses:
        return None
    parts = []
    for text in licenses:
        try:
            parsed = _licensing.parse(text, validate=True, strict=True)
        except ExpressionError:
            return None
        if parsed is None:
            return None
        rendered = str(parsed)
        parts.append(f"({rendered})" if " " in rendered and len(licenses) > 1 else rendered)
    return " AND ".join(parts)


def _spdx_purl(purl: str) -> dict[str, str]:
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}


def _relation(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


# -- CycloneDX -----------------------------------------------------------------------------------------


def cyclonedx_document(
    inventory: ImageInventory, artifact: ArtifactRef, scanner: ScannerInfo, created: datetime
) -> dict[str, Any]:
    """A CycloneDX 1.6 JSON BOM: the image as metadata.component, the OS and every package as
    components, and dependencies image -> OS -> OS packages, image -> language packages."""
    image = Component(
        type=ComponentType.CONTAINER, name=_image_name(artifact), version=artifact.digest,
        bom_ref=image_purl(artifact, inventory), purl=PackageURL.from_string(image_purl(artifact, inventory)),
    )
    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, artifact.digest + timestamp(created)))
    bom.metadata.timestamp = created
    bom.metadata.component = image
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name=scanner.name, version=scanner.version,
                  group=scanner.vendor)
    )
    os_component = None
    if inventory.os is not None:
        os_component = Component(
            type=ComponentType.OPERATING_SYSTEM, name=inventory.os.id, version=inventory.os.version_id,
            bom_ref=f"os:{inventory.os.id}:{inventory.os.version_id or ''}",
            description=inventory.os.pretty_name,
        )
        bom.components.add(os_component)
        bom.register_dependency(image, [os_component])
    taken: set[str] = set()
    os_packages, lang_packages = [], []
    for package in inventory.packages:
        component = _cyclonedx_component(package, taken)
        bom.components.add(component)
        (os_packages if package.kind == "os" and os_component is not None else lang_packages).append(component)
    if os_component is not None:
        bom.register_dependency(os_component, os_packages)
    bom.register_dependency(image, lang_packages)
    return orjson.loads(JsonV1Dot6(bom).output_as_string())


def _cyclonedx_component(package: Package, taken: set[str]) -> Component:
    reference = package.purl
    if reference in taken:  # the same package found twice (two site-packages): refs must be unique
        reference = f"{package.purl}#{package.path or len(taken)}"
    taken.add(reference)
    properties = [Property(name="berth:package:kind", value=package.kind),
                  Property(name="berth:package:ecosystem", value=package.ecosystem)]
    if package.source_name:
        properties.append(Property(name="berth:package:source_name", value=package.source_name))
    if package.source_version:
        properties.append(Property(name="berth:package:source_version", value=package.source_version))
    if package.layer is not None:
        properties.append(Property(name="aquasecurity:trivy:LayerDigest", value=package.layer.digest))
        if package.layer.diff_id:
            properties.append(Property(name="aquasecurity:trivy:LayerDiffID", value=package.layer.diff_id))
    if package.path:
        properties.append(Property(name="berth:package:path", value=package.path))
    expression = spdx_license_expression(package.licenses)
    licenses: list[Any]
    if expression is not None and " " in expression:
        licenses = [LicenseExpression(expression)]
    elif expression is not None:
        licenses = [DisjunctiveLicense(id=expression)]
    else:
        licenses = [DisjunctiveLicense(name=text) for text in package.licenses]
    return Component(
        type=ComponentType.LIBRARY, name=package.name, version=package.version, bom_ref=reference,
        purl=_parsed_purl(package.purl), licenses=licenses, properties=properties,
    )


def _parsed_purl(purl: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def _image_name(artifact: ArtifactRef) -> str:
    return f"{artifact.repository}:{artifact.tag}" if artifact.tag else f"{artifact.repository}@{artifact.digest}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
