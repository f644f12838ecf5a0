"""The compliance report (`berth report compliance`): what a registry holds, gathered through the
Harbor API (`gather`, the only I/O here), and the report's numbers computed from it (`build_report`
and the small pure functions it calls). Rendering is `report_render.py`.

Every number comes from Harbor's operations (projects, repositories, artifacts with their scan
overview, accessories and tags, the vulnerabilities addition, CVE allowlists, robots, the audit
log), so the report works against berth and against Harbor. What a registry does not answer (an
operation refused or missing, berth's signature `verification`) is reported as not available.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import Any

from berth.client import HarborClient, HarborError
from berth.client.paths import repository_segment, segment

#: the JSON report's layout version (bump it when a key changes meaning)
REPORT_VERSION = 1
#: allowlists whose expiry falls within this many days are listed
ALLOWLIST_WARNING_DAYS = 7
#: Harbor's severities from least to most severe, with the codes its pull policy compares
#: (berth.scan.policy reads a project's `severity` the same way: none/negligible/unknown are 0)
SEVERITY_RANK = {"unknown": 0, "none": 1, "negligible": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
_THRESHOLD_CODE = {"none": 0, "negligible": 0, "unknown": 0, "low": 2, "medium": 3, "high": 4, "critical": 5}
#: severities the MTTR table shows, most severe first
SEVERITIES = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown")
#: (label, largest age in days) of the age buckets, the last without a bound
FINDING_AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (("0-7d", 7), ("8-30d", 30), ("31-90d", 90), (">90d", None))
ROBOT_AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-30d", 30), ("31-90d", 90), ("91-365d", 365), (">365d", None))
ROBOT_EXPIRY_STATES = ("expired", "within_7d", "within_30d", "later", "never")
_SIGNATURE_TYPES = ("signature.cosign", "signature.notation")
#: cosign's tag for an artifact's accessory (`sha256-<hex>.sig`, `.att`, `.sbom`)
_COSIGN_TAG = re.compile(r"^sha256-[0-9a-f]{64}(\.[a-z]+)?$")
_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_SCAN_SUCCESS = "Success"
#: repositories read at once (the client's pool holds 20 connections)
READERS = 8


# --- what the registry holds (gathered) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    package: str
    version: str
    severity: str


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    project: str
    repository: str
    digest: str
    type: str
    pushed_at: datetime
    tags: tuple[str, ...] = ()
    #: digests of its accessories (any type: signatures, SBOMs, attestations)
    accessories: tuple[str, ...] = ()
    signed: bool = False
    #: a signature verified under the project's trust policy (berth's `verification`); None: no
    #: verdict given (Harbor, or no trust policy in audit or enforce mode)
    verified: bool | None = None
    #: the vulnerability scan's status, None when never scanned
    scan_status: str | None = None
    #: the findings of a successful scan, None without one
    findings: tuple[Finding, ...] | None = None


@dataclass(frozen=True, slots=True)
class Allowlist:
    cve_ids: frozenset[str] = frozenset()
    #: unix seconds; None (or 0) never expires
    expires_at: int | None = None

    def in_force(self, now: datetime) -> frozenset[str]:
        """Harbor ignores an expired list as a whole."""
        if self.expires_at and now.timestamp() >= self.expires_at:
            return frozenset()
        return self.cve_ids


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    name: str
    prevent_vul: bool = False
    severity: str = ""
    reuse_system_allowlist: bool = True
    allowlist: Allowlist = field(default_factory=Allowlist)


@dataclass(frozen=True, slots=True)
class RobotFacts:
    name: str
    level: str
    created_at: datetime | None
    #: unix seconds, -1 never
    expires_at: int
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Pull:
    resource: str
    at: datetime
    username: str = ""


@dataclass
class Inventory:
    """Everything the report is computed from; a None list is a section the registry did not answer."""

    url: str
    now: datetime
    since: timedelta
    projects: list[ProjectFacts] = field(default_factory=list)
    artifacts: list[ArtifactFacts] = field(default_factory=list)
    system_allowlist: Allowlist | None = None
    robots: list[RobotFacts] | None = None
    pulls: list[Pull] | None = None
    #: section -> why it is not available
    unavailable: dict[str, str] = field(default_factory=dict)


def parse_since(text: str) -> timedelta:
    """`30d`, `12h`, `2w` -> the period; ValueError on anything else."""
    match = _SINCE.match(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"invalid period {text!r}: a positive number of hours, days or weeks, like 30d, 12h or 2w")
    amount, unit = int(match[1]), match[2]
    return timedelta(hours=amount) if unit == "h" else timedelta(days=amount * (7 if unit == "w" else 1))


def parse_time(text: str | None) -> datetime | None:
    """Harbor's RFC 3339 times (`2026-01-02T03:04:05.678Z`), or None for none or Go's zero time."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return None if value.year <= 1 else value.astimezone(UTC)


def gather(client: HarborClient, since: timedelta, now: datetime | None = None) -> Inventory:
    """Read what the report needs through the Harbor API (as the client's user sees it)."""
    now = now or datetime.now(UTC)
    inventory = Inventory(url=client.url, now=now, since=since)
    repositories: list[tuple[str, str]] = []
    for project in client.paginate("/projects", params={"with_detail": "true"}):
        if "cve_allowlist" not in project:  # a list may leave it out; the project itself has it
            project = client.get(f"/projects/{segment(project['name'])}") or project
        inventory.projects.append(_project_facts(project))
        repositories += [(project["name"], r["name"])
                         for r in client.paginate(f"/projects/{segment(project['name'])}/repositories")]
    # a request per scanned artifact: repositories are read side by side on the client's pool (in order)
    with ThreadPoolExecutor(READERS) as pool:
        for facts in pool.map(lambda pr: list(_artifacts_of(client, *pr)), repositories):
            inventory.artifacts.extend(facts)
    try:
        inventory.system_allowlist = _allowlist(client.get("/system/CVEAllowlist"))
    except HarborError as error:
        inventory.unavailable["system_allowlist"] = _why(error)
    try:
        inventory.robots = [_robot_facts(r) for r in client.paginate("/robots")]
    except HarborError as error:
        inventory.unavailable["robots"] = _why(error)
    try:
        inventory.pulls = _pulls(client, now - since, now)
    except HarborError as error:
        inventory.unavailable["pulls"] = _why(error)
    return inventory


def _pulls(client: HarborClient, start: datetime, now: datetime) -> list[Pull]:
    """The audit log's pulls in the period: from `/auditlog-exts` (Harbor 2.13 and later write their
    new entries there only; berth serves both shapes from one log), else the older `/audit-logs`."""
    # Harbor's range takes whole seconds: the upper end rounded up, or a pull within the report's
    # own second would be left out (the exact bounds are applied below)
    end = now.replace(microsecond=0) + timedelta(seconds=1 if now.microsecond else 0)
    query = f"operation=pull,op_time=[{start:%Y-%m-%d %H:%M:%S}~{end:%Y-%m-%d %H:%M:%S}]"
    for path in ("/auditlog-exts", "/audit-logs"):
        try:
            entries = list(client.paginate(path, params={"q": query}))
        except HarborError as error:
            if error.status == 404 and path != "/audit-logs":
                continue  # a Harbor before 2.13
            raise
        pulls = []
        for entry in entries:
            at = parse_time(entry.get("op_time"))
            if entry.get("operation") == "pull" and at is not None and start <= at <= now:
                pulls.append(Pull(entry.get("resource", ""), at, entry.get("username", "")))
        return pulls
    return []


def _why(error: HarborError) -> str:
    return f"the registry answered {error.status} {error.code}: {error.message}"


def _project_facts(project: dict[str, Any]) -> ProjectFacts:
    metadata = project.get("metadata") or {}
    return ProjectFacts(
        name=project["name"],
        prevent_vul=str(metadata.get("prevent_vul", "")).lower() == "true",
        severity=str(metadata.get("severity", "")),
        reuse_system_allowlist=str(metadata.get("reuse_sys_cve_allowlist", "true")).lower() != "false",
        allowlist=_allowlist(project.get("cve_allowlist")),
    )


def _allowlist(body: dict[str, Any] | None) -> Allowlist:
    body = body or {}
    items = frozenset(i["cve_id"] for i in body.get("items") or [] if i.get("cve_id"))
    return Allowlist(items, body.get("expires_at") or None)


def _robot_facts(robot: dict[str, Any]) -> RobotFacts:
    expires = robot.get("expires_at")
    return RobotFacts(name=robot.get("name", ""), level=robot.get("level", ""),
                      created_at=parse_time(robot.get("creation_time")),
                      expires_at=-1 if expires is None else int(expires), disabled=bool(robot.get("disable")))


def _artifacts_of(client: HarborClient, project: str, repository: str) -> Iterator[ArtifactFacts]:
    inner = repository.removeprefix(project + "/")
    # Harbor wants a repository name's slashes encoded twice (a/b -> a%252Fb)
    path = f"/projects/{segment(project)}/repositories/{repository_segment(inner)}/artifacts"
    params = {"with_scan_overview": "true", "with_accessory": "true", "with_tag": "true", "with_label": "false"}
    for artifact in client.paginate(path, params=params):
        accessories = artifact.get("accessories") or []
        signatures = [a for a in accessories if a.get("type") in _SIGNATURE_TYPES]
        verdicts = [a["verification"].get("verified") is True for a in signatures if a.get("verification")]
        status = _scan_status(artifact.get("scan_overview") or {})
        findings = None
        if status == _SCAN_SUCCESS:
            findings = _findings(client.get(f"{path}/{artifact['digest']}/additions/vulnerabilities") or {})
        yield ArtifactFacts(
            project=project, repository=repository, digest=artifact["digest"], type=artifact.get("type", ""),
            pushed_at=parse_time(artifact.get("push_time")) or datetime.fromtimestamp(0, UTC),
            tags=tuple(t["name"] for t in artifact.get("tags") or []),
            accessories=tuple(a["digest"] for a in accessories if a.get("digest")),
            signed=bool(signatures), verified=any(verdicts) if verdicts else None,
            scan_status=status, findings=findings,
        )


def _scan_status(overview: dict[str, Any]) -> str | None:
    """The vulnerability reports' status: Success when one report succeeded, else the first one's."""
    statuses = [r.get("scan_status") for mime, r in overview.items() if "vuln" in mime and isinstance(r, dict)]
    if not statuses:
        return None
    return _SCAN_SUCCESS if _SCAN_SUCCESS in statuses else statuses[0]


def _findings(addition: dict[str, Any]) -> tuple[Finding, ...]:
    found: dict[tuple[str, str], Finding] = {}
    for report in addition.values():
        for item in (report or {}).get("vulnerabilities") or []:
            finding = Finding(item.get("id", ""), item.get("package", ""), item.get("version", ""),
                              item.get("severity") or "Unknown")
            found.setdefault((finding.package, finding.id), finding)
    return tuple(found.values())


# --- the numbers (pure) ---------------------------------------------------------------------------


def passes_policy(artifact: ArtifactFacts, project: ProjectFacts, system: Allowlist | None, now: datetime,
                  ) -> bool | None:
    """Would the project's CVE policy let this scanned artifact be pulled? None: no policy
    (`prevent_vul` off) or no successful scan. Harbor's rule: the findings left after the allowlist in
    force (the system's unless the project has its own), none at or above the project's severity."""
    if not project.prevent_vul or artifact.findings is None:
        return None
    allowlist = (system or Allowlist()) if project.reuse_system_allowlist else project.allowlist
    exempt = allowlist.in_force(now)
    threshold = _THRESHOLD_CODE.get(project.severity.strip().lower(), 0)
    remaining = [SEVERITY_RANK.get(f.severity.lower(), 0) for f in artifact.findings if f.id not in exempt]
    return not remaining or max(remaining) < threshold


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def project_rows(inventory: Inventory) -> list[dict[str, Any]]:
    """One row per project: signature coverage, scan coverage, pass rate, open critical/high."""
    by_project: dict[str, list[ArtifactFacts]] = defaultdict(list)
    for artifact in inventory.artifacts:
        by_project[artifact.project].append(artifact)
    _, still_open = finding_history(inventory.artifacts)
    rows = []
    for project in sorted(inventory.projects, key=lambda p: p.name):
        artifacts = by_project.get(project.name, [])
        images = [a for a in artifacts if a.type == "IMAGE"]
        scanned = [a for a in images if a.findings is not None]
        signed = [a for a in artifacts if a.signed]
        verdicts = [a.verified for a in signed if a.verified is not None]
        judged = [passes_policy(a, project, inventory.system_allowlist, inventory.now) for a in scanned]
        passed = sum(1 for v in judged if v)
        open_here = [f for f in still_open if f["project"] == project.name]
        rows.append({
            "project": project.name,
            "artifacts": len(artifacts),
            "signed": len(signed),
            "signature_coverage": ratio(len(signed), len(artifacts)),
            "verified": sum(verdicts) if verdicts else None,
            "images": len(images),
            "scanned": len(scanned),
            "scan_coverage": ratio(len(scanned), len(images)),
            "policy": f"prevent {project.severity or 'unknown'} and above" if project.prevent_vul else None,
            "passed": passed if project.prevent_vul else None,
            "pass_rate": ratio(passed, len(scanned)) if project.prevent_vul else None,
            "open_critical": sum(1 for f in open_here if f["severity"] == "Critical"),
            "open_high": sum(1 for f in open_here if f["severity"] == "High"),
        })
    return rows


def finding_history(artifacts: Iterable[ArtifactFacts]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(remediated, still open) findings from the scanned artifacts of each repository in push order.

    A finding (package, id) opens at the push time of the first scanned artifact that has it; it is
    remediated at the push time of the first later scanned artifact of the same repository that does
    not have it (and opens again if a later one has it again). What the newest scanned artifact
    still has is open."""
    by_repository: dict[str, list[ArtifactFacts]] = defaultdict(list)
    for artifact in artifacts:
        if artifact.findings is not None:
            by_repository[artifact.repository].append(artifact)
    remediated: list[dict[str, Any]] = []
    still_open: list[dict[str, Any]] = []
    for repository, scanned in sorted(by_repository.items()):
        scanned.sort(key=lambda a: (a.pushed_at, a.digest))
        opened: dict[tuple[str, str], tuple[datetime, Finding]] = {}
        for artifact in scanned:
            present = {(f.package, f.id): f for f in artifact.findings or ()}
            for key in [k for k in opened if k not in present]:
                first_seen, finding = opened.pop(key)
                remediated.append({**_finding_row(artifact.project, repository, finding, first_seen),
                                   "remediated_at": artifact.pushed_at,
                                   "days": (artifact.pushed_at - first_seen).total_seconds() / 86400})
            for key, finding in present.items():
                opened.setdefault(key, (artifact.pushed_at, finding))
        still_open.extend(_finding_row(scanned[-1].project, repository, finding, first_seen)
                          for first_seen, finding in opened.values())
    return remediated, still_open


def _finding_row(project: str, repository: str, finding: Finding, first_seen: datetime) -> dict[str, Any]:
    return {"project": project, "repository": repository, "id": finding.id, "package": finding.package,
            "severity": _severity_name(finding.severity), "first_seen": first_seen}


def _severity_name(severity: str) -> str:
    return next((s for s in SEVERITIES if s.lower() == severity.lower()), "Unknown")


def age_bucket(days: int, buckets: tuple[tuple[str, int | None], ...]) -> str:
    return next(label for label, most in buckets if most is None or days <= most)


def age_days(then: datetime, now: datetime) -> int:
    """Whole days from `then` to `now` (never negative)."""
    return max(0, int((now - then).total_seconds() // 86400))


def open_findings_by_age(still_open: list[dict[str, Any]], now: datetime) -> dict[str, dict[str, int]]:
    """Open Critical and High findings counted by age (days since first seen)."""
    table = {severity: dict.fromkeys((label for label, _ in FINDING_AGE_BUCKETS), 0) for severity in ("Critical", "High")}
    for finding in still_open:
        if finding["severity"] in table:
            table[finding["severity"]][age_bucket(age_days(finding["first_seen"], now), FINDING_AGE_BUCKETS)] += 1
    return table


def mean_time_to_remediate(remediated: list[dict[str, Any]], start: datetime) -> dict[str, dict[str, Any]]:
    """Per severity: how many findings were remediated at or after `start`, and their mean time to
    remediate in days (None when none were)."""
    out = {}
    for severity in SEVERITIES:
        days = [r["days"] for r in remediated if r["severity"] == severity and r["remediated_at"] >= start]
        out[severity] = {"remediated": len(days), "mean_days": round(fmean(days), 2) if days else None,
                         "mean_seconds": round(fmean(days) * 86400, 3) if days else None}
    return out


def expiring_allowlists(inventory: Inventory, within_days: int = ALLOWLIST_WARNING_DAYS) -> list[dict[str, Any]]:
    """Entries of the allowlists in effect (the system's, and a project's own where the project does
    not reuse the system's) whose list expires from now to `within_days` days ahead (Harbor's expiry
    is the list's, so each entry of such a list is listed)."""
    lists: list[tuple[str, Allowlist]] = []
    if inventory.system_allowlist is not None:
        lists.append(("system", inventory.system_allowlist))
    lists.extend((f"project {p.name}", p.allowlist) for p in sorted(inventory.projects, key=lambda p: p.name)
                 if not p.reuse_system_allowlist)
    now = inventory.now.timestamp()
    rows = []
    for scope, allowlist in lists:
        if allowlist.expires_at and now <= allowlist.expires_at <= now + within_days * 86400:
            rows.extend({"scope": scope, "cve_id": cve, "expires_at": datetime.fromtimestamp(allowlist.expires_at, UTC),
                         "days_left": round((allowlist.expires_at - now) / 86400, 1)}
                        for cve in sorted(allowlist.cve_ids))
    return rows


def robot_expiry_state(robot: RobotFacts, now: datetime) -> str:
    if robot.expires_at == -1:
        return "never"
    left = robot.expires_at - now.timestamp()
    if left <= 0:
        return "expired"
    return "within_7d" if left <= 7 * 86400 else "within_30d" if left <= 30 * 86400 else "later"


def robot_credentials(robots: list[RobotFacts], now: datetime) -> dict[str, Any]:
    """Robots counted by age and by expiry, and one row each (oldest first)."""
    rows = []
    for robot in robots:
        age = age_days(robot.created_at, now) if robot.created_at else None
        rows.append({
            "name": robot.name, "level": robot.level, "disabled": robot.disabled, "age_days": age,
            "expires_at": None if robot.expires_at == -1 else datetime.fromtimestamp(robot.expires_at, UTC),
            "expiry": robot_expiry_state(robot, now),
        })
    rows.sort(key=lambda r: (-(r["age_days"] or 0), r["name"]))
    by_age = dict.fromkeys((label for label, _ in ROBOT_AGE_BUCKETS), 0)
    for row in rows:
        if row["age_days"] is not None:
            by_age[age_bucket(row["age_days"], ROBOT_AGE_BUCKETS)] += 1
    by_expiry = dict.fromkeys(ROBOT_EXPIRY_STATES, 0)
    for row in rows:
        by_expiry[row["expiry"]] += 1
    return {"total": len(rows), "by_age": by_age, "by_expiry": by_expiry, "robots": rows}


def risky_pulls(pulls: list[Pull], artifacts: list[ArtifactFacts]) -> dict[str, Any]:
    """Pulls of unsigned artifacts and of artifacts with a Critical finding, resolved from the audit
    log's resource (`repo@digest`, or `repo:tag` by the tag's current artifact)."""
    by_digest = {(a.repository, a.digest): a for a in artifacts}
    by_tag = {(a.repository, tag): a for a in artifacts for tag in a.tags}
    accessories = {(a.repository, d) for a in artifacts for d in a.accessories}
    counts: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    unresolved = accessory_pulls = 0
    for pull in pulls:
        repository, reference = _split_resource(pull.resource)
        artifact = by_digest.get((repository, reference)) or by_tag.get((repository, reference))
        if artifact is not None:
            counts[(artifact.repository, artifact.digest)].append(pull.at)
        elif (repository, reference) in accessories or _COSIGN_TAG.match(reference):
            accessory_pulls += 1
        else:
            unresolved += 1
    rows = []
    for key, times in counts.items():
        artifact = by_digest[key]
        critical = None if artifact.findings is None else sum(
            1 for f in artifact.findings if f.severity.lower() == "critical")
        if artifact.signed and not critical:
            continue
        rows.append({"repository": artifact.repository, "digest": artifact.digest, "tags": list(artifact.tags),
                     "pulls": len(times), "signed": artifact.signed, "critical": critical,
                     "last_pull": max(times)})
    rows.sort(key=lambda r: (-r["pulls"], r["repository"], r["digest"]))
    return {
        "pulls": len(pulls),
        "artifact_pulls": sum(len(t) for t in counts.values()),
        "accessory_pulls": accessory_pulls,
        "unresolved_pulls": unresolved,
        "unsigned_pulls": sum(r["pulls"] for r in rows if not r["signed"]),
        "critical_pulls": sum(r["pulls"] for r in rows if r["critical"]),
        "artifacts": rows,
    }


def _split_resource(resource: str) -> tuple[str, str]:
    if "@" in resource:
        repository, _, digest = resource.partition("@")
        return repository, digest
    repository, colon, tag = resource.rpartition(":")
    return (repository, tag) if colon and "/" not in tag else (resource, "")


def build_report(inventory: Inventory) -> dict[str, Any]:
    """The whole report as JSON-ready data (times as datetimes; the renderers format them)."""
    now, start = inventory.now, inventory.now - inventory.since
    rows = project_rows(inventory)
    remediated, still_open = finding_history(inventory.artifacts)
    artifacts = sum(r["artifacts"] for r in rows)
    images = sum(r["images"] for r in rows)
    policed = [r for r in rows if r["passed"] is not None]
    judged = sum(r["scanned"] for r in policed)
    verdicts = [r["verified"] for r in rows if r["verified"] is not None]
    unavailable = dict(inventory.unavailable)
    if not verdicts and any(r["signed"] for r in rows):
        unavailable["verified"] = ("no signature carried a verification verdict (berth gives one under a "
                                   "project's trust policy in audit or enforce mode; Harbor gives none)")
    open_rows = sorted((f for f in still_open if f["severity"] in ("Critical", "High")),
                       key=lambda f: (f["first_seen"], f["repository"], f["id"]))
    return {
        "version": REPORT_VERSION,
        "registry": inventory.url,
        "generated_at": now,
        "period": {"since": start, "until": now, "days": round(inventory.since.total_seconds() / 86400, 2)},
        "totals": {
            "projects": len(rows),
            "artifacts": artifacts,
            "signed": sum(r["signed"] for r in rows),
            "signature_coverage": ratio(sum(r["signed"] for r in rows), artifacts),
            "verified": sum(verdicts) if verdicts else None,
            "images": images,
            "scanned": sum(r["scanned"] for r in rows),
            "scan_coverage": ratio(sum(r["scanned"] for r in rows), images),
            "policy_projects": len(policed),
            "policy_scanned": judged,
            "policy_passed": sum(r["passed"] for r in policed),
            "pass_rate": ratio(sum(r["passed"] for r in policed), judged),
            "open_critical": sum(r["open_critical"] for r in rows),
            "open_high": sum(r["open_high"] for r in rows),
        },
        "projects": rows,
        "open_findings_by_age": open_findings_by_age(still_open, now),
        "open_findings": [{**f, "age_days": age_days(f["first_seen"], now)} for f in open_rows],
        "mttr": mean_time_to_remediate(remediated, start),
        "remediations": [{**r, "days": round(r["days"], 4)} for r in remediated if r["remediated_at"] >= start],
        "allowlists_expiring": expiring_allowlists(inventory),
        "robots": robot_credentials(inventory.robots, now) if inventory.robots is not None else None,
        "pulls": risky_pulls(inventory.pulls, inventory.artifacts) if inventory.pulls is not None else None,
        "unavailable": unavailable,
    }
