"""Swagger tag `SystemCVEAllowlist`: the system CVE allowlist, read by any user, replaced by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, harbor_time, require_login, require_system
from berth.services.projects import normalize_allowlist

router = APIRouter(tags=["SystemCVEAllowlist"])


@router.get("/system/CVEAllowlist", operation_id="getSystemCVEAllowlist", response_model=schemas.CVEAllowlist)
async def get_system_cve_allowlist(registry: RegistryDep, subject: SubjectDep) -> schemas.CVEAllowlist:
    require_login(subject)
    allowlist = await registry.system_allowlist.get()
    return schemas.CVEAllowlist(
        id=allowlist.id, project_id=0, expires_at=allowlist.expires_at,
        items=[schemas.CVEAllowlistItem(cve_id=cve) for cve in allowlist.items],
        creation_time=harbor_time(allowlist.created_at), update_time=harbor_time(allowlist.updated_at),
    )


@router.put("/system/CVEAllowlist", operation_id="putSystemCVEAllowlist")
async def put_system_cve_allowlist(
    registry: RegistryDep, subject: SubjectDep, allowlist: Annotated[schemas.CVEAllowlist | None, Body()] = None,
) -> Response:
    """Replace the list: its `items` and `expires_at` (unix seconds; absent or null: never expires).
    Projects whose `reuse_sys_cve_allowlist` is not false use it in their pull policy."""
    require_system(subject, "configuration", "update")
    body = allowlist or schemas.CVEAllowlist()
    items = normalize_allowlist([item.model_dump() for item in body.items or []])
    await registry.system_allowlist.put(items, body.expires_at)
    return Response(status_code=200)
