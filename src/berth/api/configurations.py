"""Swagger tag `configure`: GET/PUT /configurations (system administrators only; secrets never shown)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from berth.api import schemas
from berth.api.deps import RegistryDep, SubjectDep, require_sysadmin
from berth.services.configurations import ITEMS, UNSUPPORTED

router = APIRouter(tags=["configure"])


@router.get("/configurations", operation_id="getConfigurations", response_model=schemas.ConfigurationsResponse,
            response_model_exclude_none=True)
async def get_configurations(registry: RegistryDep, subject: SubjectDep) -> dict[str, dict[str, Any]]:
    """Every item with its value; `editable` is false for items the config file sets and for Harbor's
    UAA and HTTP-auth-proxy items, which berth does not implement."""
    require_sysadmin(subject)
    values = await registry.configurations.all()
    fixed = registry.configurations.fixed
    shown = {key: {"value": values[key], "editable": key not in fixed} for key, item in ITEMS.items() if not item.secret}
    blank = {str: "", bool: False, int: 0}
    shown |= {key: {"value": blank[kind], "editable": False} for key, kind in UNSUPPORTED.items()}
    return shown


@router.put("/configurations", operation_id="updateConfigurations")
async def update_configurations(
    registry: RegistryDep, subject: SubjectDep, configurations: Annotated[schemas.Configurations, Body()],
) -> Response:
    """Change some items; all are checked before any is stored."""
    require_sysadmin(subject)
    await registry.configurations.update(configurations.model_dump(exclude_unset=True))
    return Response(status_code=200)
