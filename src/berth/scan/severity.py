"""A record's Harbor severity and CVSS ratings: the distro's own rating, then GHSA's, then the CVSS
base score computed from the vector, else Unknown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from berth.scan.model import Cvss, Severity

_UBUNTU_PRIORITY = {
    "negligible": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
#: Debian security tracker urgencies; "not yet assigned" and "end-of-life" say nothing of severity
_DEBIAN_URGENCY = {
    "unimportant": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
}
_GHSA_SEVERITY = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
#: OSV id prefix -> the source name Harbor's vendor_attributes.CVSS uses (as Trivy does)
_SOURCES = {
    "CVE": "nvd", "GHSA": "ghsa", "UBUNTU": "ubuntu", "USN": "ubuntu", "DEBIAN": "debian", "DSA": "debian",
    "DLA": "debian", "DTSA": "debian", "ALPINE": "alpine", "PYSEC": "pypa", "GO": "go", "RUSTSEC": "rustsec",
}


def score_rating(score: float) -> Severity:
    """CVSS qualitative rating of a base score (v2 has no Critical band, but v2 scores are rated the
    same way here so that a 10.0 is not hidden below a v3 9.0)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NEGLIGIBLE


def source_of(record_id: str) -> str:
    prefix = record_id.split("-", 1)[0]
    return _SOURCES.get(prefix, prefix.lower())


def cvss_ratings(source: str, entries: Iterable[Mapping[str, Any]]) -> Cvss | None:
    """One Cvss from a record's severity[] (vectors only; scores computed). Malformed vectors are skipped."""
    found: dict[str, Any] = {}
    for entry in entries:
        kind, vector = entry.get("type"), entry.get("score")
        if not isinstance(vector, str):
            continue
        try:
            if kind == "CVSS_V3" and "v3_vector" not in found:
                c3 = CVSS3(vector)
                found.update(v3_vector=c3.clean_vector(), v3_score=float(c3.scores()[0]))
            elif kind == "CVSS_V4" and "v4_vector" not in found:
                c4 = CVSS4(vector)
                found.update(v4_vector=c4.clean_vector(), v4_score=float(c4.base_score))
            elif kind == "CVSS_V2" and "v2_vector" not in found:
                c2 = CVSS2(vector)
                found.update(v2_vector=c2.clean_vector(), v2_score=float(c2.scores()[0]))
        except (CVSSError, ValueError, KeyError):  # a wrong vector is the source's mistake, not a scan failure
            continue
    return Cvss(source=source, **found) if found else None


def _distro_rating(record: Mapping[str, Any], affected: Mapping[str, Any]) -> Severity | None:
    for entry in [*(affected.get("severity") or ()), *(record.get("severity") or ())]:
        if entry.get("type") == "Ubuntu":
            rating = _UBUNTU_PRIORITY.get(str(entry.get("score", "")).strip().lower())
            if rating is not None:
                return rating
    for where in (affected.get("ecosystem_specific"), affected.get("database_specific"), record.get("database_specific")):
        if isinstance(where, Mapping) and isinstance(where.get("urgency"), str):
            # the tracker marks unconfirmed urgencies with "*" ("low*")
            rating = _DEBIAN_URGENCY.get(where["urgency"].strip().rstrip("*").lower())
            if rating is not None:
                return rating
    return None


def rate(record: Mapping[str, Any], affected: Mapping[str, Any]) -> tuple[Severity, tuple[Cvss, ...]]:
    """Severity of `record` for the package of its `affected` entry, and the CVSS ratings it carries."""
    # per-package severity replaces the top-level one (the schema allows only one of them)
    ratings = cvss_ratings(source_of(str(record.get("id", ""))), affected.get("severity") or record.get("severity") or ())
    cvss = (ratings,) if ratings else ()
    distro = _distro_rating(record, affected)
    if distro is not None:
        return distro, cvss
    database = record.get("database_specific")
    if isinstance(database, Mapping) and isinstance(database.get("severity"), str):
        ghsa = _GHSA_SEVERITY.get(database["severity"].strip().upper())
        if ghsa is not None:
            return ghsa, cvss
    if ratings is not None:
        for score in (ratings.v4_score, ratings.v3_score, ratings.v2_score):
            if score is not None:
                return score_rating(score), cvss
    return Severity.UNKNOWN, cvss
