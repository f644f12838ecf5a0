"""berth's addition to Harbor's `project` tag: a project's trust policy (which signatures a pull
needs), read by members, replaced by project admins (berth.sign.policy.TrustPolicy is the body)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api.deps import RegistryDep, SubjectDep, project_for
from berth.sign.policy import TrustPolicy

router = APIRouter(tags=["project"])
_PATH = "/projects/{project_name_or_id}/trust-policy"


@router.get(_PATH, operation_id="getTrustPolicy", response_model=TrustPolicy)
async def get_trust_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
) -> TrustPolicy:
    """The project's trust policy; `{"mode": "off", ...}` with the defaults while none is stored."""
    project = await project_for(registry, subject, project_name_or_id, request, "trust-policy", "read")
    return await registry.trust.policy(project.id) or TrustPolicy()


@router.put(_PATH, operation_id="updateTrustPolicy")
async def update_trust_policy(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    policy: Annotated[TrustPolicy, Body()],
) -> Response:
    """Replace the project's trust policy. A policy that does not validate (a key or certificate that
    does not parse, an unknown field) is a 400 saying why, and the stored one stays. Verdicts under the
    old policy are kept; pulls compute the new policy's as they need them."""
    project = await project_for(registry, subject, project_name_or_id, request, "trust-policy", "update")
    await registry.trust.put_policy(project.id, project.name, policy)
    return Response(status_code=200)
