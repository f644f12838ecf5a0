"""Swagger tag `configure`: GET/PUT /configurations (system administrators only; secrets never shown)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from berth.api.deps import RegistryDep, SubjectDep, require_login
from berth.services.configurations import ITEMS
from berth.services.errors import Forbidden

router = APIRouter(tags=["configure"])


def _require_admin(subject) -> None:  # type: ignore[no-untyped-def]
    require_login(subject)
    if not subject.sysadmin:
        raise Forbidden("forbidden")


@router.get("/configurations", operation_id="getConfigurations")
async def get_configurations(registry: RegistryDep, subject: SubjectDep) -> dict[str, dict[str, Any]]:
    _require_admin(subject)
    values = await registry.configurations.all()
    return {key: {"value": values[key], "editable": True} for key, item in ITEMS.items() if not item.secret}


@router.put("/configurations", operation_id="updateConfigurations")
async def update_configurations(
    registry: RegistryDep, subject: SubjectDep, configurations: Annotated[dict[str, Any], Body()],
) -> Response:
    """Change some items; all are checked before any is stored."""
    _require_admin(subject)
    await registry.configurations.update(configurations)
    return Response(status_code=200)
