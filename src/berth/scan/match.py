"""Which OSV records affect which installed packages: OSV's evaluation algorithm (versions[], then
SEMVER/ECOSYSTEM ranges of introduced/fixed/last_affected/limit events), one Finding per CVE."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from berth.scan.model import Finding, Package, Severity
from berth.scan.osv import Record, is_withdrawn, lookup_name, same_ecosystem
from berth.scan.severity import rate
from berth.scan.versions import UnparseableVersion, UnsupportedEcosystem, Version, parse_version

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
#: an event's version that sorts before every version ("0" in OSV)
_ZERO = "0"


class RecordSource(Protocol):
    """Where the matcher reads records from (VulnDB, or a list in a test)."""

    async def records_for(self, ecosystem: str, name: str) -> Sequence[Record]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A package version against one `affected` entry: affected or not, and the lowest fix above it."""

    affected: bool
    fix_version: str = ""


_NOT_AFFECTED = Verdict(False)


def _range_verdict(events: Sequence[Mapping[str, str]], parse: Any, installed: Version) -> tuple[bool, list[str]]:
    """OSV's IsAffected for one range, and the range's `fixed` versions above `installed`."""
    parsed: list[tuple[str, str, Version | None]] = []
    for event in events:
        for kind, value in event.items():
            if kind in ("introduced", "fixed", "last_affected", "limit"):
                # "0" is before every version; "*" (limit only) after every one
                parsed.append((kind, value, None if value in (_ZERO, "*") else parse(value)))
    limits = [(value, v) for kind, value, v in parsed if kind == "limit"]
    if limits and not any(value == "*" or (v is not None and installed < v) for value, v in limits):
        return False, []
    # sort by version, "0" first (sorted() is stable, so equal versions keep the record's order)
    ordered = sorted(
        (e for e in parsed if e[0] != "limit"),
        key=_EventKey,
    )
    vulnerable = False
    for kind, value, v in ordered:
        if kind == "introduced" and (v is None or not installed < v):
            vulnerable = True
        elif kind == "fixed" and v is not None and not installed < v:
            vulnerable = False
        elif kind == "last_affected" and v is not None and v < installed:
            vulnerable = False
    fixes = [value for kind, value, v in parsed if kind == "fixed" and v is not None and installed < v]
    return vulnerable, fixes


class _EventKey:
    """Sort key for (kind, text, version) with "0" (version None) before everything."""

    __slots__ = ("version",)

    def __init__(self, event: tuple[str, str, Version | None]) -> None:
        self.version = event[2]

    def __lt__(self, other: _EventKey) -> bool:
        if self.version is None:
            return other.version is not None
        if other.version is None:
            return False
        return self.version < other.version


def evaluate(affected: Mapping[str, Any], ecosystem: str, version: str) -> Verdict:
    """Whether `version` of a package in `ecosystem` is affected according to one `affected` entry."""
    listed = version in (affected.get("versions") or ())
    try:
        installed = parse_version(ecosystem, version)
    except (UnparseableVersion, UnsupportedEcosystem):
        # without an ordering only the explicit list can say anything
        return Verdict(listed)
    in_range = False
    fixes: list[str] = []
    for range_ in affected.get("ranges") or ():
        kind = range_.get("type")
        if kind == "GIT":  # needs the repository's commit graph; packages carry no commit
            continue
        range_ecosystem = "SEMVER" if kind == "SEMVER" else ecosystem
        try:
            installed_here = installed if kind != "SEMVER" else parse_version("SEMVER", version)
            hit, range_fixes = _range_verdict(
                range_.get("events") or (), lambda text: parse_version(range_ecosystem, text), installed_here
            )
        except (UnparseableVersion, UnsupportedEcosystem):
            continue  # a range whose events do not parse cannot be ordered: skip it, as osv-scanner does
        if hit:
            in_range = True
            fixes.extend(range_fixes)
    if not (listed or in_range):
        return _NOT_AFFECTED
    return Verdict(True, _lowest(ecosystem, fixes))


def _lowest(ecosystem: str, versions: Iterable[str]) -> str:
    lowest = ""
    for candidate in versions:
        if not lowest or parse_version(ecosystem, candidate) < parse_version(ecosystem, lowest):
            lowest = candidate
    return lowest


def _cve_of(record: Record) -> str | None:
    for candidate in [*(record.get("upstream") or ()), *(record.get("aliases") or ()), record.get("id", "")]:
        found = _CVE.search(candidate)
        if found:
            return found.group()
    return None


def _links(record: Record) -> tuple[str, ...]:
    references = record.get("references") or ()
    ordered = [r for r in references if r.get("type") == "ADVISORY"]
    ordered += [r for r in references if r.get("type") != "ADVISORY"]
    return tuple(dict.fromkeys(r["url"] for r in ordered if r.get("url")))


def _finding(record: Record, affected: Mapping[str, Any], package: Package, verdict: Verdict) -> Finding:
    osv_id = record["id"]
    finding_id = _cve_of(record) or osv_id
    severity, cvss = rate(record, affected)
    database = record.get("database_specific")
    cwe_ids = tuple(database.get("cwe_ids") or ()) if isinstance(database, Mapping) else ()
    others = [*(record.get("aliases") or ()), *(record.get("upstream") or ()), osv_id]
    return Finding(
        id=finding_id,
        osv_id=osv_id,
        package=package,
        severity=severity,
        fix_version=verdict.fix_version,
        description=record.get("summary") or record.get("details") or "",
        links=_links(record),
        cvss=cvss,
        cwe_ids=cwe_ids,
        aliases=tuple(dict.fromkeys(a for a in others if a != finding_id)),
    )


def match_package(package: Package, records: Iterable[Record]) -> list[Finding]:
    """Findings for one package among `records` (those indexed under its name), one per id."""
    name = lookup_name(package.ecosystem, package.lookup_name)
    version = package.lookup_version
    if package.ecosystem == "Go" and version.startswith("v"):
        version = version[1:]  # OSV's Go ranges are v-less
    found: dict[str, Finding] = {}
    for record in records:
        if is_withdrawn(record):
            continue
        for affected in record.get("affected") or ():
            target = affected.get("package") or {}
            if not same_ecosystem(target.get("ecosystem", ""), package.ecosystem):
                continue
            if lookup_name(target["ecosystem"], target.get("name", "")) != name:
                continue
            verdict = evaluate(affected, package.ecosystem, version)
            if verdict.affected:
                finding = _finding(record, affected, package, verdict)
                found[finding.id] = _merge(found[finding.id], finding) if finding.id in found else finding
    return list(found.values())


def _merge(kept: Finding, other: Finding) -> Finding:
    """Two records on the same CVE (a DSA and a DEBIAN-CVE, a GHSA and a PYSEC) make one finding: the
    first record's text, the best-known severity, every rating, link and alias."""
    severity = kept.severity if kept.severity is not Severity.UNKNOWN else other.severity
    return replace(
        kept,
        severity=severity,
        fix_version=kept.fix_version or other.fix_version,
        description=kept.description or other.description,
        links=tuple(dict.fromkeys(kept.links + other.links)),
        cvss=kept.cvss + tuple(c for c in other.cvss if c not in kept.cvss),
        cwe_ids=tuple(dict.fromkeys(kept.cwe_ids + other.cwe_ids)),
        aliases=tuple(dict.fromkeys(a for a in kept.aliases + other.aliases + (other.osv_id,) if a != kept.id)),
    )


async def match(packages: Iterable[Package], source: RecordSource) -> list[Finding]:
    """Findings for every package, in package order."""
    findings: list[Finding] = []
    for package in packages:
        records = await source.records_for(package.ecosystem, package.lookup_name)
        findings.extend(match_package(package, records))
    return findings
