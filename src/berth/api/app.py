"""Builds the /api/v2.0 FastAPI application over berth's services."""

from __future__ import annotations

from fastapi import FastAPI

from berth import __version__
from berth.api import (
    artifacts,
    configurations,
    health,
    labels,
    ldap,
    members,
    oidc,
    projects,
    quotas,
    repositories,
    robots,
    systeminfo,
    usergroups,
    users,
)
from berth.api.errors import install_error_handlers
from berth.auth.authenticator import Authenticator
from berth.auth.sessions import SessionStore
from berth.auth.web import WebLogin
from berth.config import Settings
from berth.services.registry import Registry

API_PREFIX = "/api/v2.0"


def create_api(
    registry: Registry, auth: Authenticator, settings: Settings, sessions: SessionStore, web: WebLogin
) -> FastAPI:
    app = FastAPI(
        title="berth — Harbor API v2.0",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.registry = registry
    app.state.auth = auth
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.web = web
    install_error_handlers(app)
    for router in (
        health.router, systeminfo.router, projects.router, projects.metadata_router, members.router,
        users.router, usergroups.router, robots.router, robots.permissions_router, configurations.router,
        ldap.router, oidc.router, artifacts.router, repositories.router, quotas.router, quotas.search_router,
        quotas.statistic_router, labels.router,
    ):
        app.include_router(router)
    return app
