"""Harbor's vulnerability report (the 1.1 generic MIME and the 1.0 native one share this body) from an
image's inventory and findings, field by field as harbor-scanner-trivy fills it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from berth.scan.envelope import ArtifactRef, ScannerInfo, header
from berth.scan.model import Cvss, Finding, ImageInventory

#: the CVSS source Harbor reads first when an item has no preferred_cvss (vendor_attributes.CVSS.nvd)
_PREFERRED_SOURCE = "nvd"


def vulnerability_report(
    inventory: ImageInventory,
    findings: list[Finding],
    artifact: ArtifactRef,
    scanner: ScannerInfo,
    generated_at: datetime,
) -> dict[str, Any]:
    """The report. `vulnerabilities` is always a list (Harbor turns a missing one into [] anyway);
    `severity` is the highest item's, and absent when there is none (as Trivy's adapter sends it:
    the spec's enum has no "None", which is what Harbor shows for a clean image)."""
    ordered = sorted(findings, key=lambda f: (-f.severity, f.package.name, f.package.version, f.id))
    report = header(artifact, scanner, generated_at)
    if ordered:
        report["severity"] = max(f.severity for f in ordered).harbor
    report["vulnerabilities"] = [vulnerability_item(f) for f in ordered]
    return report


def vulnerability_item(finding: Finding) -> dict[str, Any]:
    package = finding.package
    vendor: dict[str, Any] = {}
    if finding.cvss:
        vendor["CVSS"] = {rating.source: _trivy_cvss(rating) for rating in finding.cvss}
    vendor["osv_id"] = finding.osv_id
    vendor["osv_ecosystem"] = package.ecosystem
    vendor["source_package"] = package.lookup_name
    if package.source_version and package.source_version != package.version:
        vendor["source_version"] = package.source_version
    vendor["purl"] = package.purl
    if package.path:
        vendor["path"] = package.path
    if finding.aliases:
        vendor["aliases"] = list(finding.aliases)
    item: dict[str, Any] = {
        "id": finding.id,
        "package": package.name,
        "version": package.version,
        "fix_version": finding.fix_version,
        "severity": finding.severity.harbor,
        "description": finding.description,
        "links": list(finding.links),
        "preferred_cvss": preferred_cvss(finding.cvss),
        "cwe_ids": list(finding.cwe_ids),
        "vendor_attributes": vendor,
    }
    if package.layer is not None:
        # not in the spec; sent by harbor-scanner-trivy and shown by Harbor: the layer that added the package
        item["layer"] = {"digest": package.layer.digest, "diff_id": package.layer.diff_id or ""}
    return item


def preferred_cvss(ratings: tuple[Cvss, ...]) -> dict[str, Any]:
    """The spec's CVSSDetails from one rating: NVD's when there is one, else the first with a v3
    score, else the first at all; {} without any rating."""
    if not ratings:
        return {}
    chosen = next((r for r in ratings if r.source == _PREFERRED_SOURCE), None)
    chosen = chosen or next((r for r in ratings if r.v3_score is not None), ratings[0])
    details: dict[str, Any] = {}
    for key, value in (
        ("score_v3", chosen.v3_score), ("score_v2", chosen.v2_score),
        ("vector_v3", chosen.v3_vector), ("vector_v2", chosen.v2_vector),
    ):
        if value is not None:
            details[key] = value
    return details


def _trivy_cvss(rating: Cvss) -> dict[str, Any]:
    """One source's rating under Trivy's key names, which Harbor reads when preferred_cvss is empty."""
    fields = {
        "V2Vector": rating.v2_vector, "V3Vector": rating.v3_vector, "V40Vector": rating.v4_vector,
        "V2Score": rating.v2_score, "V3Score": rating.v3_score, "V40Score": rating.v4_score,
    }
    return {key: value for key, value in fields.items() if value is not None}
