"""Builds the /api/v2.0 FastAPI application over berth's services."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from berth import __version__
from berth.api import (
    allowlist,
    artifacts,
    auditlogs,
    configurations,
    gc,
    health,
    icons,
    immutable,
    jobservice,
    labels,
    ldap,
    members,
    oidc,
    projects,
    purge,
    quotas,
    registries,
    repositories,
    replication,
    retention,
    robots,
    scanexport,
    scanners,
    scans,
    schedules,
    securityhub,
    systeminfo,
    trust,
    usergroups,
    users,
    webhooks,
)
from berth.api.deps import storable_text
from berth.api.errors import install_error_handlers
from berth.auth.authenticator import Authenticator
from berth.auth.sessions import SessionStore
from berth.auth.web import WebLogin
from berth.config import Settings
from berth.services.registry import Registry

API_PREFIX = "/api/v2.0"


def create_api(
    registry: Registry, auth: Authenticator, settings: Settings, sessions: SessionStore, web: WebLogin,
    job_types: list[str] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="berth — Harbor API v2.0",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,  # served below with Swagger UI's files from the package, not a CDN
        redoc_url=None,
        dependencies=[Depends(storable_text)],
    )
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        """The browsable API description; works offline (air-gapped installs included)."""
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=app.title,
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon-32x32.png",
        )

    app.state.registry = registry
    app.state.auth = auth
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.web = web
    #: the job types /jobservice/queues shows and pauses: every kind this deployment runs, and SCHEDULER
    app.state.job_types = job_types or ["SCHEDULER"]
    install_error_handlers(app)
    for router in (
        health.router, systeminfo.router, projects.router, projects.metadata_router, members.router,
        users.router, usergroups.router, robots.router, robots.permissions_router, configurations.router,
        ldap.router, oidc.router, artifacts.router, repositories.router, quotas.router, quotas.search_router,
        quotas.statistic_router, labels.router, jobservice.router, schedules.router, webhooks.router,
        webhooks.jobs_router, auditlogs.router, auditlogs.project_router, purge.router, gc.router, icons.router,
        scanners.router, scanners.project_router, allowlist.router, securityhub.router, scans.router, scanexport.router,
        trust.router, immutable.router, retention.router, registries.router, replication.router,
    ):
        app.include_router(router)
    return app
