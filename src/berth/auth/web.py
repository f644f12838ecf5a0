"""Browser log-in under /c/ (Harbor's paths): password log-in and log-out, and OIDC's
authorization-code flow with PKCE: /c/oidc/login -> provider -> /c/oidc/callback -> session cookie.

Between the redirect and the callback, the login state (state, nonce, PKCE verifier) travels in a
cookie sealed with the secret box, so any node can finish a login another node began.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from berth.auth import oidc
from berth.auth.authenticator import Authenticator
from berth.auth.rbac import Subject
from berth.auth.sessions import SessionStore
from berth.auth.token_service import client_address
from berth.config import Settings
from berth.security.keys import SecretBox
from berth.services.errors import BadRequest, Conflict, NotFound, PreconditionFailed, ServiceError, Unauthorized
from berth.services.usergroups import OIDC_GROUP

log = structlog.get_logger("berth.auth")
_STATE_COOKIE = "oidc_state"
_COOKIE_SECONDS = 600  # a login must finish within ten minutes
_ONBOARD_COOKIE = "oidc_onboard"
_USERNAME_BAD = re.compile(r'[,"~#%$\s]')


def _error(exc: ServiceError) -> Response:
    return Response(orjson.dumps({"errors": [{"code": exc.code, "message": exc.message}]}), exc.status,
                    media_type="application/json")


def oidc_config(values: dict) -> oidc.OidcConfig:  # type: ignore[type-arg]
    return oidc.OidcConfig(
        endpoint=values["oidc_endpoint"], client_id=values["oidc_client_id"], client_secret=values["oidc_client_secret"],
        scope=values["oidc_scope"], verify_cert=values["oidc_verify_cert"], user_claim=values["oidc_user_claim"],
        groups_claim=values["oidc_groups_claim"], admin_group=values["oidc_admin_group"],
        group_filter=values["oidc_group_filter"], extra_redirect_params=values["oidc_extra_redirect_parms"],
        auto_onboard=values["oidc_auto_onboard"],
    )


class WebLogin:
    """The /c/ endpoints as one small ASGI app."""

    def __init__(self, auth: Authenticator, sessions: SessionStore, box: SecretBox, settings: Settings) -> None:
        self.auth = auth
        self.sessions = sessions
        self.box = box
        self.settings = settings
        self._client: tuple[oidc.OidcConfig, oidc.OidcClient] | None = None

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        request = Request(scope, receive)
        routes = {
            ("POST", "/c/login"): self.login,
            ("GET", "/c/log_out"): self.log_out,
            ("GET", "/c/oidc/login"): self.oidc_login,
            ("GET", "/c/oidc/callback"): self.oidc_callback,
            ("POST", "/c/oidc/onboard"): self.oidc_onboard,
        }
        handler = routes.get((request.method, request.url.path))
        try:
            if handler is None:
                raise NotFound(f"no such endpoint: {request.method} {request.url.path}")
            response = await handler(request)
        except ServiceError as exc:
            response = _error(exc)
        await response(scope, receive, send)

    def _secure(self, request: Request) -> bool:
        """Cookies get Secure when the browser talks https to us, directly or through a proxy."""
        return request.url.scheme == "https" or (self.settings.public_url or "").startswith("https://")

    def _external(self, request: Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.headers.get('host', f'{self.settings.host}:{self.settings.port}')}"

    # --- password log-in -------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        """Harbor's UI log-in: form fields `principal` and `password`; robots cannot open sessions."""
        form = await request.form()
        response = Response(status_code=200)
        await self.open_session(request, str(form.get("principal", "")), str(form.get("password", "")), response)
        return response

    async def open_session(self, request: Request, principal: str, password: str, response: Response) -> Subject:
        """Check a user's password (local, LDAP, or the local admin in any mode; never a robot), record
        the attempt, and set a new session's cookies on `response`. The web UI logs in through here too."""
        prefix = await self.auth.configurations.get("robot_name_prefix")
        if principal.startswith(prefix):
            raise Unauthorized("robot accounts cannot log in to the web interface")
        try:
            subject = await self.auth.login(principal, password, client_address(request))
        except ServiceError:
            await self.auth.users.record_login(principal, client_address(request), succeeded=False)
            raise
        await self.auth.users.record_login(principal, client_address(request), succeeded=True)
        assert subject.user_id is not None
        await self.sessions.start(subject.user_id, response)
        return subject

    async def log_out(self, request: Request) -> Response:
        response = Response(status_code=200)
        await self.close_session(request, response, await self.sessions.subject(request))
        return response

    async def close_session(self, request: Request, response: Response, subject: Subject | None) -> None:
        """End the request's session (clearing its cookies on `response`) and record the log-out."""
        await self.sessions.end(request, response)
        if subject is not None and subject.name:
            await self.auth.users.record_logout(subject.name, client_address(request))

    # --- OIDC ------------------------------------------------------------------------------------

    async def _oidc(self) -> oidc.OidcClient:
        values = await self.auth.configurations.all()
        if values["auth_mode"] != "oidc_auth":
            raise PreconditionFailed("OIDC log-in needs auth_mode oidc_auth")
        config = oidc_config(values)
        if self._client is None or self._client[0] != config:
            if self._client is not None:
                await self._client[1].aclose()
            try:
                self._client = (config, oidc.OidcClient(config))
            except oidc.OidcError as exc:
                raise BadRequest(f"OIDC settings: {exc}") from None
        return self._client[1]

    async def oidc_login(self, request: Request) -> Response:
        client = await self._oidc()
        try:
            url, state = await client.begin_login(self._external(request) + "/c/oidc/callback")
        except oidc.OidcError as exc:
            raise _BadGateway(f"OIDC provider: {exc}") from None
        response = RedirectResponse(url, status_code=302)
        sealed = self.box.seal(json.dumps(
            {"state": state.state, "nonce": state.nonce, "verifier": state.code_verifier, "redirect": state.redirect_uri,
             "next": local_target(request.query_params.get("redirect_url"))}
        ))
        response.set_cookie(_STATE_COOKIE, sealed, max_age=_COOKIE_SECONDS, httponly=True, samesite="lax",
                            secure=self._secure(request), path="/c/oidc/")
        return response

    async def oidc_callback(self, request: Request) -> Response:
        client = await self._oidc()
        sealed = request.cookies.get(_STATE_COOKIE)
        if not sealed:
            raise BadRequest("no OIDC login in progress (the state cookie is missing or expired)")
        try:
            kept = json.loads(self.box.open(sealed, max_age=_COOKIE_SECONDS))
        except ValueError:
            raise BadRequest("the OIDC state cookie is not valid") from None
        state = oidc.OidcLoginState(kept["state"], kept["nonce"], kept["verifier"], kept["redirect"])
        try:
            identity = await client.finish_login(state, dict(request.query_params))
        except oidc.OidcError as exc:
            log.info("OIDC login refused", reason=str(exc), client=client_address(request))
            raise Unauthorized(f"OIDC login failed: {exc}") from None
        known = await self.auth.users.find_by_subiss(identity.subject + identity.issuer)
        if known is None and not (await self.auth.configurations.get("oidc_auto_onboard")):
            response = RedirectResponse("/oidc-onboard?" + urlencode({"username": _suggest(identity.username)}), 302)
            # path /: the web UI's /oidc-onboard form finishes the onboarding as much as /c/oidc/onboard
            response.set_cookie(_ONBOARD_COOKIE, self.box.seal(json.dumps(_identity_json(identity))), max_age=_COOKIE_SECONDS,
                                httponly=True, samesite="lax", secure=self._secure(request), path="/")
            response.delete_cookie(_STATE_COOKIE, path="/c/oidc/")
            return response
        username = known.username if known else _suggest(identity.username)
        if not username:
            raise BadRequest("the OIDC provider gave no user name: set oidc_user_claim, or turn off oidc_auto_onboard")
        user = await self._onboard(identity, username)
        response = RedirectResponse(local_target(kept.get("next")), status_code=302)
        response.delete_cookie(_STATE_COOKIE, path="/c/oidc/")
        await self.sessions.start(user.id, response)
        await self.auth.users.record_login(user.username, client_address(request), succeeded=True)
        return response

    async def oidc_onboard(self, request: Request) -> Response:
        """Finish a first OIDC login with the user name the person chose (JSON {"username": ...})."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise BadRequest("invalid onboarding request") from None
        response = Response(status_code=200)
        await self.finish_onboarding(request, str(body.get("username", "") if isinstance(body, dict) else ""), response)
        return response

    async def finish_onboarding(self, request: Request, username: str, response: Response) -> None:
        """Onboard the identity in the onboarding cookie as `username` and start its session on
        `response` (the web UI's /oidc-onboard form finishes here too)."""
        await self._oidc()  # only while OIDC is the auth mode
        sealed = request.cookies.get(_ONBOARD_COOKIE)
        if not sealed:
            raise BadRequest("no OIDC onboarding in progress")
        try:
            identity = _identity_from_json(json.loads(self.box.open(sealed, max_age=_COOKIE_SECONDS)))
        except ValueError:
            raise BadRequest("invalid onboarding request") from None
        username = username.strip()
        if not username or _USERNAME_BAD.search(username) or len(username) > 255:
            raise BadRequest("username contains illegal characters or has an illegal length")
        user = await self._onboard(identity, username)
        response.delete_cookie(_ONBOARD_COOKIE, path="/")
        await self.sessions.start(user.id, response)

    async def _onboard(self, identity: oidc.OidcIdentity, username: str):  # type: ignore[no-untyped-def]
        group_ids = [(await self.auth.groups.ensure(OIDC_GROUP, name)).id for name in identity.groups]
        admin_group = await self.auth.configurations.get("oidc_admin_group")
        try:
            user = await self.auth.users.onboard(
                source="oidc", username=username, email=identity.email, realname=identity.realname or username,
                sysadmin=identity.is_admin if admin_group else None, oidc_subiss=identity.subject + identity.issuer,
                group_ids=group_ids,
            )
        except Conflict as exc:
            raise Conflict(f"{exc.message}: choose another user name") from None
        self.auth.projects.groups_changed()
        return user

    async def ping(self, url: str, verify_cert: bool) -> None:
        """Harbor's /system/oidc/ping: is `url` a working OIDC issuer?"""
        config = oidc.OidcConfig(endpoint=url, client_id="berth-ping", client_secret="", verify_cert=verify_cert)
        async with oidc.OidcClient(config) as client:
            try:
                await client.ping()
            except oidc.OidcError as exc:
                raise BadRequest(f"failed to verify the OIDC endpoint: {exc}") from None


class _BadGateway(ServiceError):
    status, code = 502, "UNKNOWN"


def local_target(target: str | None) -> str:
    """Where to send a browser after a log-in: `target` when it is a path on this server (never another
    site: not `//host`, not `/\\host`, no scheme), else `/`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or not target.isprintable():
        return "/"
    return target


def _suggest(username: str) -> str:
    return username.replace(" ", "_")  # as Harbor: spaces are not allowed in user names


def _identity_json(identity: oidc.OidcIdentity) -> dict:  # type: ignore[type-arg]
    return {"issuer": identity.issuer, "subject": identity.subject, "username": identity.username,
            "email": identity.email, "realname": identity.realname, "groups": list(identity.groups),
            "is_admin": identity.is_admin}


def _identity_from_json(data: dict) -> oidc.OidcIdentity:  # type: ignore[type-arg]
    return oidc.OidcIdentity(data["issuer"], data["subject"], data["username"], data["email"], data["realname"],
                             tuple(data["groups"]), bool(data["is_admin"]))
