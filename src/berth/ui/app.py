"""The web UI's ASGI app: its routes, the CSRF check on every form (asgi-csrf), the static files and
berth's favicon, and the error pages (never a stack trace)."""

from __future__ import annotations

from urllib.parse import urlencode

import structlog
from asgi_csrf import Errors, asgi_csrf
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from berth.guard import FaultGuard
from berth.services.errors import RegistryError, ServiceError
from berth.ui.admin import AdminPages
from berth.ui.artifacts import ArtifactPages
from berth.ui.pages import CSRF_FIELD, STATIC, LoginRequired, Ui
from berth.ui.labels import LabelPages
from berth.ui.members import MemberPages
from berth.ui.policies import PolicyPages
from berth.ui.projects import ProjectPages
from berth.ui.security import SecurityPages
from berth.ui.robots import RobotPages
from berth.ui.sessions import SessionPages
from berth.ui.settings import SettingsPages
from berth.ui.webhooks import WebhookPages

#: the paths the UI answers; everything else stays with the other fronts (and their 404s)
_EXACT = frozenset({"/", "/login", "/logout", "/oidc-onboard", "/favicon.ico", "/projects", "/security", "/admin"})
_PREFIXES = ("/projects/", "/static/", "/admin/")
#: a form is a few fields: larger bodies are refused before anything reads them
MAX_FORM_BYTES = 64 * 1024
_CSRF_COOKIE = "berth_csrf"
#: what scripts/install-ui-assets puts in static/vendor/
VENDOR_FILES = ("htmx.min.js", "pico.min.css")
log = structlog.get_logger("berth.ui")


def owns(path: str) -> bool:
    """Whether `path` is the web UI's."""
    return path in _EXACT or path.startswith(_PREFIXES)


def create_ui(ui: Ui, *, secure_cookies: bool) -> ASGIApp:
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
    if missing:
        log.warning("the web UI's assets are missing: its pages come without style and htmx "
                    "(make install, or scripts/install-ui-assets, installs them)", missing=missing)
    sessions, projects, artifacts = SessionPages(ui), ProjectPages(ui), ArtifactPages(ui)
    security = SecurityPages(ui)
    robots, members, policies = RobotPages(ui), MemberPages(ui), PolicyPages(ui)
    labels, webhooks, settings = LabelPages(ui), WebhookPages(ui), SettingsPages(ui)
    admin = AdminPages(ui)
    routes = [
        Route("/", sessions.home),
        Route("/login", sessions.login_form, methods=["GET"]),
        Route("/login", sessions.login, methods=["POST"]),
        Route("/logout", sessions.logout, methods=["POST"]),
        Route("/oidc-onboard", sessions.onboard_form, methods=["GET"]),
        Route("/oidc-onboard", sessions.onboard, methods=["POST"]),
        Route("/projects", projects.list, methods=["GET"]),
        Route("/projects/-/new", projects.new_form, methods=["GET"]),
        Route("/projects/-/new", projects.create, methods=["POST"]),
        Route("/projects/{project}", projects.summary, methods=["GET"]),
        Route("/projects/{project}/repositories", projects.repositories, methods=["GET"]),
        Route("/projects/{project}/repositories/{rest:path}", artifacts.dispatch, methods=["GET", "POST"]),
        Route("/projects/{project}/security", security.project, methods=["GET"]),
        Route("/security", security.system, methods=["GET"]),
        Route("/projects/{project}/robots", robots.list, methods=["GET"]),
        Route("/projects/{project}/robots", robots.create, methods=["POST"]),
        Route("/projects/{project}/robots/{robot_id}", robots.edit_form, methods=["GET"]),
        Route("/projects/{project}/robots/{robot_id}", robots.save, methods=["POST"]),
        Route("/projects/{project}/robots/{robot_id}/{action}", robots.action, methods=["POST"]),
        Route("/projects/{project}/members", members.list, methods=["GET"]),
        Route("/projects/{project}/members", members.add, methods=["POST"]),
        Route("/projects/{project}/members/{member_id}/{action}", members.change, methods=["POST"]),
        Route("/projects/{project}/policies", policies.page, methods=["GET"]),
        Route("/projects/{project}/policies/immutable", policies.add_immutable, methods=["POST"]),
        Route("/projects/{project}/policies/immutable/{rule_id}/{action}", policies.change_immutable, methods=["POST"]),
        Route("/projects/{project}/policies/retention/rules", policies.add_retention_rule, methods=["POST"]),
        Route("/projects/{project}/policies/retention/rules/{index}/{action}", policies.change_retention_rule,
              methods=["POST"]),
        Route("/projects/{project}/policies/retention/schedule", policies.schedule, methods=["POST"]),
        Route("/projects/{project}/policies/retention/run", policies.run, methods=["POST"]),
        Route("/projects/{project}/policies/retention/executions/{execution_id}", policies.execution,
              methods=["GET"]),
        Route("/projects/{project}/labels", labels.list, methods=["GET"]),
        Route("/projects/{project}/labels", labels.create, methods=["POST"]),
        Route("/projects/{project}/labels/{label_id}/{action}", labels.change, methods=["POST"]),
        Route("/projects/{project}/webhooks", webhooks.list, methods=["GET"]),
        Route("/projects/{project}/webhooks", webhooks.create, methods=["POST"]),
        Route("/projects/{project}/webhooks/{policy_id}/deliveries", webhooks.deliveries, methods=["GET"]),
        Route("/projects/{project}/webhooks/{policy_id}/deliveries/{execution_id}", webhooks.delivery,
              methods=["GET"]),
        Route("/projects/{project}/webhooks/{policy_id}/{action}", webhooks.change, methods=["POST"]),
        Route("/projects/{project}/logs", settings.logs, methods=["GET"]),
        Route("/projects/{project}/configuration", settings.configuration, methods=["GET"]),
        Route("/projects/{project}/configuration", settings.save_configuration, methods=["POST"]),
        Route("/projects/{project}/configuration/trust-policy", settings.save_trust_policy, methods=["POST"]),
        Route("/admin", admin.index, methods=["GET"]),
        Route("/admin/users", admin.users, methods=["GET"]),
        Route("/admin/users", admin.create_user, methods=["POST"]),
        Route("/admin/users/{user_id}/{action}", admin.user_action, methods=["POST"]),
        Route("/admin/groups", admin.groups, methods=["GET"]),
        Route("/admin/groups", admin.create_group, methods=["POST"]),
        Route("/admin/groups/{group_id}/delete", admin.delete_group, methods=["POST"]),
        Route("/admin/groups/{group_id}/rename", admin.rename_group, methods=["POST"]),
        Route("/admin/registries", admin.registries, methods=["GET"]),
        Route("/admin/registries/{registry_id}", admin.registry_form, methods=["GET"]),
        Route("/admin/registries/{registry_id}", admin.save_registry, methods=["POST"]),
        Route("/admin/registries/{registry_id}/delete", admin.delete_registry, methods=["POST"]),
        Route("/admin/replication", admin.replication, methods=["GET"]),
        Route("/admin/replication/executions", admin.executions, methods=["GET"]),
        Route("/admin/replication/executions/{execution_id}", admin.execution, methods=["GET"]),
        Route("/admin/replication/executions/{execution_id}/stop", admin.stop_execution, methods=["POST"]),
        Route("/admin/replication/executions/{execution_id}/tasks/{task_id}", admin.task_log, methods=["GET"]),
        Route("/admin/replication/{policy_id}", admin.policy_form, methods=["GET"]),
        Route("/admin/replication/{policy_id}", admin.save_policy, methods=["POST"]),
        Route("/admin/replication/{policy_id}/delete", admin.delete_policy, methods=["POST"]),
        Route("/admin/replication/{policy_id}/run", admin.run_policy, methods=["POST"]),
        Route("/admin/scanners", admin.scanners, methods=["GET"]),
        Route("/admin/scanners", admin.add_scanner, methods=["POST"]),
        Route("/admin/scanners/{uuid}", admin.scanner_form, methods=["GET"]),
        Route("/admin/scanners/{uuid}", admin.save_scanner, methods=["POST"]),
        Route("/admin/scanners/{uuid}/{action}", admin.scanner_action, methods=["POST"]),
        Route("/admin/scan-all", admin.scan_all, methods=["POST"]),
        Route("/admin/quotas", admin.quotas, methods=["GET"]),
        Route("/admin/quotas/{quota_id}", admin.set_quota, methods=["POST"]),
        Route("/admin/labels", admin.labels, methods=["GET"]),
        Route("/admin/labels", admin.create_label, methods=["POST"]),
        Route("/admin/labels/{label_id}/delete", admin.delete_label, methods=["POST"]),
        Route("/admin/auth", admin.settings, methods=["GET"]),
        Route("/admin/auth", admin.save_settings, methods=["POST"]),
        Route("/admin/settings", admin.settings, methods=["GET"]),
        Route("/admin/settings", admin.save_settings, methods=["POST"]),
        Route("/admin/robots", admin.robots, methods=["GET"]),
        Route("/admin/robots", admin.create_robot, methods=["POST"]),
        Route("/admin/robots/{robot_id}/delete", admin.delete_robot, methods=["POST"]),
        Route("/admin/robots/{robot_id}", admin.robot, methods=["GET"]),
        Route("/admin/robots/{robot_id}", admin.save_robot, methods=["POST"]),
        Route("/admin/gc", admin.job, methods=["GET"]),
        Route("/admin/gc", admin.job_run, methods=["POST"]),
        Route("/admin/gc/{execution_id}", admin.job_log, methods=["GET"]),
        Route("/admin/gc/{execution_id}/stop", admin.job_stop, methods=["POST"]),
        Route("/admin/purge", admin.job, methods=["GET"]),
        Route("/admin/purge", admin.job_run, methods=["POST"]),
        Route("/admin/purge/{execution_id}", admin.job_log, methods=["GET"]),
        Route("/admin/purge/{execution_id}/stop", admin.job_stop, methods=["POST"]),
        Route("/admin/allowlist", admin.allowlist, methods=["GET"]),
        Route("/admin/allowlist", admin.save_allowlist, methods=["POST"]),
        Route("/favicon.ico", _favicon, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return ui.error(request, exc.status, _TITLES.get(exc.status, "Refused"), exc.message)

    async def registry_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)
        status = 404 if exc.code.endswith("UNKNOWN") else 400
        return ui.error(request, status, _TITLES[status], exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return ui.error(request, exc.status_code, _TITLES.get(exc.status_code, "Refused"), message)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        target = "/login?" + urlencode({"next": exc.target})
        if ui.partial(request):  # htmx would swap the log-in page into the list: send the whole page there
            return Response(status_code=204, headers={"HX-Redirect": target})
        return ui.redirect(target)

    async def crashed(request: Request, exc: Exception) -> Response:
        # FaultGuard logs it with its traceback; the browser gets a page without one
        return ui.error(request, 500, "Something went wrong",
                        "berth could not answer this request. The server's log has the details.")

    app = Starlette(routes=routes, exception_handlers={
        ServiceError: service_error, RegistryError: registry_error, HTTPException: http_error,
        LoginRequired: login_required, Exception: crashed,
    })

    async def csrf_failed(scope: Scope, send: Send, error: Errors) -> None:
        request = Request(scope)
        response = ui.error(
            request, 403, "This form has expired",
            "The form was sent without its security token (CSRF), or with a stale one, so nothing was done. "
            "Go back, reload the page and send it again.")
        await response(scope, _no_body, send)

    protected = asgi_csrf(
        app, cookie_name=_CSRF_COOKIE, signing_secret=ui.registry.box.derive("berth-ui-csrf"),
        cookie_secure=secure_cookies, cookie_samesite="Lax", send_csrf_failed=csrf_failed,
        # a browser with no cookie at all is checked too: log-in forms are no exception (login CSRF)
        always_protect={"/login", "/logout", "/oidc-onboard", "/projects/-/new"},
    )
    assert CSRF_FIELD == "csrftoken"  # asgi-csrf's form field name
    return FaultGuard(_LimitedBody(protected, ui), lambda status, code, message: _plain_error(status))


async def _favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


async def _no_body() -> dict:  # type: ignore[type-arg]
    return {"type": "http.disconnect"}


_TITLES = {400: "That did not work", 401: "Log in first", 403: "Not allowed", 404: "Not found",
           405: "Not allowed", 409: "Already there", 412: "Not possible now", 429: "Too many attempts",
           500: "Something went wrong"}


def _plain_error(status: int) -> Response:
    """What FaultGuard answers when the page itself cannot be drawn (a fault below the UI)."""
    return Response("<!doctype html><title>berth</title><p>berth could not answer this request; "
                    "the server's log has the details.</p>", status, media_type="text/html")


class _LimitedBody:
    """Refuses (413) a request body larger than MAX_FORM_BYTES before the CSRF check reads it whole."""

    def __init__(self, app: ASGIApp, ui: Ui) -> None:
        self.app = app
        self.ui = ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = dict(scope.get("headers") or ()).get(b"content-length", b"0")
        if scope["type"] == "http" and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
            message = f"A form here holds at most {MAX_FORM_BYTES // 1024} KiB."
            await self.ui.error(Request(scope), 413, "That is too large", message)(scope, receive, send)
            return
        received = 0

        async def limited() -> dict:  # type: ignore[type-arg]
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_FORM_BYTES:
                raise _TooLarge
            return message

        await self.app(scope, limited, send)


class _TooLarge(ServiceError):
    status, code = 413, "PAYLOAD_TOO_LARGE"

    def __init__(self) -> None:
        super().__init__("the form is too large")
