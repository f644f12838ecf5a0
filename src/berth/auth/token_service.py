"""GET /service/token: the Docker token service (docker login, skopeo, oras, kubelet pulls).

Credentials are checked once here; the JWT then carries, per requested repository, every action
(pull, push, delete, scanner-pull) RBAC allows the caller there, whatever actions were asked for.
That is Harbor's rule, and clients depend on it: oras-py, for one, reuses the token it got for a
pull when it pushes next.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response

from berth.auth.authenticator import Authenticator
from berth.auth.rbac import Subject, repository_actions
from berth.auth.tokens import SERVICE, ScopeInvalid, parse_scopes
from berth.events.actor import Actor, set_actor
from berth.references import is_valid_name
from berth.services.errors import ServiceError

log = structlog.get_logger("berth.auth")
REPOSITORY_ACTIONS = ("pull", "push", "delete", "scanner-pull")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"errors": [{"code": code, "message": message}]})
    return Response(body, status, headers, media_type="application/json")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def issue_token(auth: Authenticator, request: Request) -> Response:
    if request.method != "GET":
        return _error(405, "METHOD_NOT_ALLOWED", "the token service answers GET", {"Allow": "GET"})
    service = request.query_params.get("service")
    if service is not None and service != SERVICE:
        return _error(400, "BAD_REQUEST", f"Unable to handle service: {service[:100]}")
    try:
        scopes = parse_scopes(request.query_params.getlist("scope"))
    except ScopeInvalid as exc:
        return _error(400, "BAD_REQUEST", str(exc))
    try:
        subject = await auth.from_authorization(
            request.headers.get("authorization"), client_address(request), bearer=False
        )
    except ServiceError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="harbor"'} if exc.status == 401 else None
        return _error(exc.status, exc.code, exc.message, headers)
    set_actor(Actor(subject.name or "anonymous", client_address(request)))
    if subject.anonymous and not scopes:
        return _error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": 'Basic realm="harbor"'})
    access = [await _grant(auth, subject, scope.type, scope.name, scope.actions) for scope in scopes]
    config = await auth.configurations.all()
    expires_in = int(config["token_expiration"]) * 60
    token, issued = auth.tokens.issue(subject.name or "", access, expires_in)
    issued_at = datetime.fromtimestamp(issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"token": token, "access_token": token, "expires_in": expires_in, "issued_at": issued_at}
    return Response(orjson.dumps(body), 200, {"Cache-Control": "no-store"}, media_type="application/json")


async def _grant(auth: Authenticator, subject: Subject, kind: str, name: str, wanted: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
    """One `access` entry: what of `wanted` the subject may do (an empty list when nothing)."""
    allowed: frozenset[str] = frozenset()
    if kind == "repository" and is_valid_name(name):
        project = await auth.projects.ref(name.split("/", 1)[0]) if "/" in name else None
        if project is not None:
            allowed = repository_actions(subject, project, name)
        if "pull" not in allowed and await _mirror_pull(auth, subject, name):
            allowed = frozenset({"pull"})
        actions = [action for action in REPOSITORY_ACTIONS if action in allowed]
    elif kind == "registry" and name == "catalog":
        # the catalog itself shows each caller only what it may see
        actions = ["*"] if "*" in wanted and not subject.anonymous else []
    else:
        actions = []
    return {"type": kind, "name": name, "actions": actions}


async def _mirror_pull(auth: Authenticator, subject: Subject, name: str) -> bool:
    """Mirror mode: whether a proxy project configured as a mirror lets `subject` pull `name` through
    it (the /v2 front checks the very project each request goes to)."""
    for target in set(auth.mirror_projects.values()):
        project = await auth.projects.ref(target)
        mirrored = f"{target}/{name}"
        if project is not None and project.registry_id and is_valid_name(mirrored) \
                and "pull" in repository_actions(subject, project, mirrored):
            return True
    return False
