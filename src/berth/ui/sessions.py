"""Log-in, log-out and OIDC onboarding pages. The password check, the session and the OIDC flow are
the ones /c/ uses (auth/web.py): the UI renders forms around them and adds nothing to decide."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.web import local_target
from berth.services.errors import ServiceError
from berth.ui.pages import Problem, Ui

OIDC_MODE = "oidc_auth"




class SessionPages:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    async def home(self, request: Request) -> Response:
        """`/`: a logged-in user's projects, else the log-in page."""
        subject = await self.ui.sessions.subject(request, csrf_checked=True)
        return self.ui.redirect("/projects" if subject is not None else "/login")

    async def login_form(self, request: Request) -> Response:
        target = local_target(request.query_params.get("next"))
        if await self.ui.sessions.subject(request, csrf_checked=True) is not None:
            return self.ui.redirect(target if target != "/" else "/projects")
        return await self._form(request, target)

    async def _form(self, request: Request, target: str, error: str = "", principal: str = "",
                    status: int = 200) -> Response:
        mode = await self.ui.auth.configurations.get("auth_mode")
        return self.ui.render(request, "login.html", status, next=target, error=error, principal=principal,
                              oidc=mode == OIDC_MODE, mode=mode)

    async def login(self, request: Request) -> Response:
        form = await self.ui.form(request)
        target = local_target(form.get("next"))
        principal = form.get("principal", "")
        response = self.ui.redirect(target if target != "/" else "/projects")
        try:
            await self.ui.web.open_session(request, principal, form.get("password", ""), response)
        except ServiceError as exc:
            message = "Invalid user name or password." if exc.status == 401 else exc.message
            return await self._form(request, target, message, principal[:255], exc.status)
        return response

    async def logout(self, request: Request) -> Response:
        subject = await self.ui.sessions.subject(request, csrf_checked=True)
        response = self.ui.redirect("/login")
        await self.ui.web.close_session(request, response, subject)
        return response

    async def onboard_form(self, request: Request) -> Response:
        """After a first OIDC log-in (when the provider's users are not onboarded on their own): choose
        the user name berth keeps for this person."""
        return self.ui.render(request, "oidc_onboard.html", username=request.query_params.get("username", "")[:255],
                              error="")

    async def onboard(self, request: Request) -> Response:
        form = await self.ui.form(request)
        response = self.ui.redirect("/projects")
        try:
            await self.ui.web.finish_onboarding(request, form.get("username", ""), response)
        except ServiceError as exc:
            return self.ui.render(request, "oidc_onboard.html", exc.status, username=form.get("username", "")[:255],
                                  error=Problem.about(exc.message, {"username": r"user ?name|\\bname\\b"}))
        return response
