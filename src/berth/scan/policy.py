"""The vulnerability pull policy: may this manifest GET/HEAD go ahead? (pure; Harbor's `vulnerable`
middleware, shared/reference/harbor/behaviours.md section a, plus berth's grace for unscanned images).

The caller gathers the inputs (project settings, the artifact's scan state, the allowlists) and
decides who bypasses the policy (the scanner's pull, signers); this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.scan.model import Severity

#: Harbor's error code for every refusal of this policy (HTTP 412)
POLICY_VIOLATION = "PROJECTPOLICYVIOLATION"
SUCCESS = "Success"
#: Harbor's artifact types whose index is not judged once a report exists (children carry the findings)
_INDEX_TYPES_SKIPPED = frozenset({"IMAGE", "CNAB"})
#: project `severity` -> (name, code) as Harbor's ParseSeverityVersion3 reads it: "negligible" is "None",
#: anything else unknown (an empty value too) is "Unknown"; None and Unknown have code 0
_THRESHOLDS = {"none": ("None", 0), "negligible": ("None", 0), "unknown": ("Unknown", 0),
               **{s.name.lower(): (s.harbor, int(s)) for s in (Severity.LOW, Severity.MEDIUM, Severity.HIGH,
                                                                Severity.CRITICAL)}}


@dataclass(frozen=True, slots=True)
class Allowlist:
    """CVE ids exempt from the policy, until `expires_at` (unix seconds; None: never expires)."""

    cve_ids: frozenset[str] = frozenset()
    expires_at: int | None = None

    def expired(self, now: float) -> bool:
        """Harbor's IsExpired: an expired list is ignored as a whole."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    """A project's settings that the policy reads."""

    prevent_vul: bool = False
    #: the project's `severity` metadata as stored ("high", "" ...)
    severity: str = ""
    #: use the system allowlist (Harbor: a missing `reuse_sys_cve_allowlist` counts as true)
    reuse_system_allowlist: bool = True
    allowlist: Allowlist = field(default_factory=Allowlist)
    #: whether a scanner is registered for the project (without one, unscanned images are allowed)
    has_scanner: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """The artifact's latest vulnerability report from the project's scanner."""

    status: str
    #: unix time the scan started (when the report was created, if it has not started)
    started_at: float
    #: (vulnerability id, severity) of every finding
    findings: tuple[tuple[str, Severity], ...] = ()


@dataclass(frozen=True, slots=True)
class ArtifactState:
    """What the policy needs to know about the pulled artifact."""

    #: Harbor's artifact type (IMAGE, CHART, CNAB ...)
    type: str
    is_index: bool
    #: unix time the artifact was pushed
    pushed_at: float
    #: the artifact is a cosign or notation signature (Harbor never blocks those)
    is_signature: bool = False
    report: Report | None = None

    @property
    def scannable(self) -> bool:
        return self.type == "IMAGE" and not self.is_signature


@dataclass(frozen=True, slots=True)
class Allowed:
    #: why, for logs and tests: "policy off", "signature", "not scannable", "index", "clean", "grace"
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    message: str
    status: int = 412


Verdict = Allowed | Refused


def threshold(severity: str) -> tuple[str, int]:
    """Harbor's reading of a project's `severity`: (its name as messages show it, its code)."""
    return _THRESHOLDS.get(severity.strip().lower(), ("Unknown", 0))


def effective_allowlist(project: ProjectPolicy, system: Allowlist) -> Allowlist:
    """The system's list when the project reuses it, else the project's own."""
    return system if project.reuse_system_allowlist else project.allowlist


def _policy_text(name: str) -> str:
    return (f"cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "
            f"\"{name}\" or higher from running.' To continue with pull, please contact your project "
            "administrator")


def pull_verdict(
    project: ProjectPolicy, artifact: ArtifactState, system_allowlist: Allowlist, now: float,
    grace: float | None = None,
) -> Verdict:
    """Allowed, or Refused with Harbor's code and message.

    `grace` (seconds, berth's addition): an artifact without a successful scan is refused for at most
    this long after it was pushed (no report) or after its scan started (pending, running, failed or
    stopped); None refuses it until a scan succeeds, as Harbor does.
    """
    if not project.prevent_vul:
        return Allowed("policy off")
    if artifact.is_signature:
        return Allowed("signature")
    name, code = threshold(project.severity)
    report = artifact.report
    if report is None:
        if not (artifact.scannable and project.has_scanner):
            return Allowed("not scannable")
        if grace is not None and now - artifact.pushed_at >= grace:
            return Allowed("grace")
        return Refused(POLICY_VIOLATION, f"current image without vulnerability scanning {_policy_text(name)} for help.")
    if artifact.is_index and artifact.type in _INDEX_TYPES_SKIPPED:
        return Allowed("index")
    if report.status != SUCCESS:
        if grace is not None and now - max(report.started_at, artifact.pushed_at) >= grace:
            return Allowed("grace")
        return Refused(POLICY_VIOLATION, f'current image with "{report.status}" status of vulnerability scanning '
                                         f"{_policy_text(name)} for help.")
    allowlist = effective_allowlist(project, system_allowlist)
    exempt = frozenset() if allowlist.expired(now) else allowlist.cve_ids
    remaining = [severity for cve, severity in report.findings if cve not in exempt]
    if not remaining or int(max(remaining)) < code:
        return Allowed("clean")
    count = len(remaining)
    thing = "vulnerabilities" if count > 1 else "vulnerability"
    return Refused(POLICY_VIOLATION, f"current image with {count} {thing} {_policy_text(name)} to exempt matched "
                                     "vulnerabilities through configuring the CVE allowlist.")
