"""Swagger tag `systeminfo`: general information (less for anonymous callers), volumes, the CA certificate."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth import __version__
from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, require_system
from berth.config import Settings
from berth.services.errors import NotFound

router = APIRouter(tags=["systeminfo"])


def _external_url(request: Request, settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = request.headers.get("host") or f"{settings.host}:{settings.port}"
    return f"{request.url.scheme}://{host}"


@router.get("/systeminfo", operation_id="getSystemInfo", response_model=schemas.GeneralInfo, response_model_exclude_none=True)
async def system_info(request: Request, registry: RegistryDep, subject: SubjectDep) -> schemas.GeneralInfo:
    settings: Settings = request.app.state.settings
    config = await registry.configurations.all()
    info = schemas.GeneralInfo(
        auth_mode=config["auth_mode"], primary_auth_mode=config["primary_auth_mode"],
        self_registration=config["self_registration"], banner_message=config["banner_message"],
        harbor_version=f"v{__version__}-berth",
        oidc_provider_name=config["oidc_name"] if config["auth_mode"] == "oidc_auth" else None,
    )
    if subject.anonymous:
        return info
    external = _external_url(request, settings)
    info.current_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    info.external_url = external
    info.registry_url = external.split("://", 1)[-1]
    info.project_creation_restriction = config["project_creation_restriction"]
    info.has_ca_root = settings.tls_cert is not None
    info.registry_storage_provider_name = settings.storage_driver
    info.read_only = config["read_only"]
    info.notification_enable = config["notification_enable"]
    return info


@router.get("/systeminfo/volumes", operation_id="getVolumes", response_model=schemas.SystemInfo)
async def volumes(request: Request, registry: RegistryDep, subject: SubjectDep) -> dict[str, list[dict[str, int]]]:
    """Total and free bytes of the blob folder (filesystem storage; object stores have no such figure)."""
    require_system(subject, "system-volumes", "read")
    settings: Settings = request.app.state.settings
    if settings.storage_driver != "filesystem":
        return {"storage": []}
    usage = shutil.disk_usage(Path(settings.effective_storage_options["root"]))
    return {"storage": [{"total": usage.total, "free": usage.free}]}


@router.get(
    "/systeminfo/getcert", operation_id="getCert", response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def get_cert(request: Request) -> Response:
    """The certificate berth serves TLS with, for clients to trust (404 without TLS)."""
    settings: Settings = request.app.state.settings
    if settings.tls_cert is None:
        raise NotFound("No certificate found")
    return Response(
        settings.tls_cert.read_bytes(), media_type="application/octet-stream",
        headers={"Content-Disposition": "attachment; filename=ca.crt"},
    )
