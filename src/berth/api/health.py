"""Swagger tags `health` and `ping`: GET /health and GET /ping, both without authentication."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from berth.services.health import ComponentHealth, check_database, check_storage

router = APIRouter()


class ComponentHealthStatus(BaseModel):
    name: str
    status: str
    error: str | None = None


class OverallHealthStatus(BaseModel):
    status: str
    components: list[ComponentHealthStatus]


def _status(healthy: bool) -> str:
    return "healthy" if healthy else "unhealthy"


@router.get("/ping", operation_id="getPing", tags=["ping"], response_class=PlainTextResponse)
async def get_ping() -> str:
    """Replies Pong while the process handles API requests, whatever the state of its dependencies."""
    return "Pong"


@router.get(
    "/health",
    operation_id="getHealth",
    tags=["health"],
    response_model=OverallHealthStatus,
    response_model_exclude_none=True,
)
async def get_health(request: Request) -> OverallHealthStatus:
    """The status of berth's components; "healthy" only when every component is."""
    registry = request.app.state.registry
    checks: list[ComponentHealth] = [ComponentHealth("core")]
    checks += await asyncio.gather(check_database(registry.db), check_storage(registry.storage))
    components = [ComponentHealthStatus(name=c.name, status=_status(c.healthy), error=c.error) for c in checks]
    return OverallHealthStatus(status=_status(all(c.healthy for c in checks)), components=components)
