"""Builds the /api/v2.0 FastAPI application over the registry's services."""

from __future__ import annotations

from fastapi import FastAPI

from berth import __version__
from berth.api import health
from berth.api.errors import install_error_handlers
from berth.services.registry import Registry

API_PREFIX = "/api/v2.0"


def create_api(registry: Registry) -> FastAPI:
    app = FastAPI(
        title="berth — Harbor API v2.0",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.registry = registry
    install_error_handlers(app)
    app.include_router(health.router)
    return app
