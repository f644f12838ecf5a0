"""The pull policies on manifest GET/HEAD: content trust (signatures: the trust service's decision,
berth.sign.enforce decides) and then the vulnerability policy (the pull policy service's verdict,
berth.scan.policy decides), in Harbor's order; who bypasses them is Harbor's SkipPolicyChecking,
decided here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import Subject, repository_actions
from berth.oci.context import Front
from berth.oci.errors import error_response
from berth.scan.policy import Refused
from berth.security.roles import ProjectRef
from berth.sign.enforce import POLICY_VIOLATION

#: signing clients that may read what they sign with push access (Harbor's User-Agent checks)
_SIGNERS = ("cosign", "notation")
#: clients that only check the image is there before attaching a signature to it: sigstore-js's
#: `sigstore attach` (0.10) HEADs the image with the user agent of npm's fetch stack: minipass-fetch's
#: (make-fetch-happen's where that sets it)
_ATTACHERS = ("minipass-fetch/", "make-fetch-happen/")


def bypasses(subject: Subject, project: ProjectRef, repository: str, user_agent: str, method: str = "GET") -> bool:
    """Harbor's SkipPolicyChecking: a registry bearer token holding scanner-pull (the scanner's robot,
    and system administrators, whose tokens carry every action), or push from cosign or notation; and,
    berth's addition, a HEAD with push from sigstore-js, which cannot attach to an image it may not HEAD."""
    if subject.kind != "token":
        return False
    actions = repository_actions(subject, project, repository)
    if "scanner-pull" in actions:
        return True
    if "push" not in actions:
        return False
    agent = user_agent.lower()
    return any(signer in agent for signer in _SIGNERS) or (
        method == "HEAD" and agent.startswith(_ATTACHERS))


async def pull_refusal(front: Front, request: Request, repository: str, digest: str) -> Response | None:
    """The 412 to send instead of the manifest, or None when the pull may go ahead."""
    project = await front.registry.projects.ref(repository.partition("/")[0])  # cached by authorize
    if project is None:
        return None
    trust = await front.registry.trust.decision(project.id, repository, digest)
    if trust.refused and not _bypasses(request, project, repository):
        return error_response(412, POLICY_VIOLATION, trust.message)
    verdict = await front.registry.pull_policy.verdict(project.id, repository, digest)
    if not isinstance(verdict, Refused):
        return None
    if _bypasses(request, project, repository):
        return None
    return error_response(verdict.status, verdict.code, verdict.message)


def _bypasses(request: Request, project: ProjectRef, repository: str) -> bool:
    return bypasses(request.state.subject, project, repository, request.headers.get("user-agent", ""), request.method)
