"""Swagger tag `oidc`: POST /system/oidc/ping, test an OIDC issuer before saving it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.deps import SubjectDep, require_sysadmin
from berth.services.errors import BadRequest

router = APIRouter(tags=["oidc"])


@router.post("/system/oidc/ping", operation_id="pingOIDC")
async def ping_oidc(request: Request, subject: SubjectDep, endpoint: Annotated[schemas.OIDCPing, Body()]) -> Response:
    require_sysadmin(subject)
    if not endpoint.url or not endpoint.url.startswith(("http://", "https://")):
        raise BadRequest("url must be an http(s) URL of the OIDC issuer")
    await request.app.state.web.ping(endpoint.url, endpoint.verify_cert is not False)
    return Response(status_code=200)
