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

#: signing clients that may read what they sign with push access (Harbor's User-Agent checks, and
#: `berth sign`)
_SIGNERS = ("cosign", "notation", "berth-sign")


def bypasses(subject: Subject, project: ProjectRef, repository: str, user_agent: str, method: str = "GET") -> bool:
    """Harbor's SkipPolicyChecking: a registry bearer token holding scanner-pull (the scanner's robot,
    and system administrators, whose tokens carry every action), or push from cosign, notation (or
    `berth sign`); and, berth's addition, any HEAD with push: it carries no content, and signers that
    check the image exists before attaching to it (sigstore-js's `sigstore attach`, whose User-Agent is
    npm's fetch stack) cannot sign an image they may not HEAD."""
    if subject.kind != "token":
        return False
    actions = repository_actions(subject, project, repository)
    if "scanner-pull" in actions:
        return True
    if "push" not in actions:
        return False
    agent = user_agent.lower()
    return method == "HEAD" or any(signer in agent for signer in _SIGNERS)


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
