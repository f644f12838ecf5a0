"""Who may do what on /v2: Harbor's v2auth, answered with the challenges docker clients expect.

Every /v2 request passes `authorize` before its handler runs. The decision itself is
auth.rbac's; this module maps a request to (target, action) and failures to 401 challenges.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.auth.rbac import ANONYMOUS, Subject, repository_actions, visible_project_ids
from berth.auth.token_service import client_address
from berth.auth.tokens import SERVICE
from berth.events.actor import Actor, set_actor
from berth.oci.context import Front
from berth.oci.errors import error_response
from berth.security.roles import ProjectRef
from berth.services.errors import ServiceError

#: the action each method needs on a repository (uploads always need push, whatever the method)
_METHOD_ACTIONS = {"GET": "pull", "HEAD": "pull", "POST": "push", "PATCH": "push", "PUT": "push", "DELETE": "delete"}
_SCOPE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete"}


def _realm(front: Front, request: Request) -> str:
    if front.settings.public_url:
        return front.settings.public_url.rstrip("/") + "/service/token"
    host = request.headers.get("host") or f"{front.settings.host}:{front.settings.port}"
    return f"{request.url.scheme}://{host}/service/token"


def _challenge(front: Front, request: Request, message: str, scope: str | None = None) -> Response:
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        challenge = 'Basic realm="harbor"'
    else:
        challenge = f'Bearer realm="{_realm(front, request)}",service="{SERVICE}"'
        if scope:
            challenge += f',scope="{scope}"'
    return error_response(401, "UNAUTHORIZED", message, None, {"WWW-Authenticate": challenge})


async def authorize(
    front: Front, request: Request, name: str | None, upload: bool, claimed: str | None = None,
) -> Subject | Response:
    """The request's Subject when it may proceed, else the 401/429 response to send; the project's
    reference goes to `request.state.project`. `claimed`: the name the client asked for, when mirror
    mode serves it as `name` (a token names what it was issued for)."""
    header = request.headers.get("authorization")
    try:
        subject = await front.auth.from_authorization(header, client_address(request), bearer=True)
    except ServiceError as exc:
        if exc.status == 401:
            return _challenge(front, request, exc.message)
        return error_response(exc.status, exc.code, exc.message)
    set_actor(Actor(subject.name or "anonymous", client_address(request)))
    if name is None:
        if request.scope["path"] in ("/v2", "/v2/") and subject.anonymous:
            return _challenge(front, request, "authentication required")
        return subject
    method = request.method
    action = "push" if upload else _METHOD_ACTIONS.get(method, "pull")
    if header is None and method in ("GET", "HEAD"):
        # always challenge anonymous reads, so clients fetch a token (Harbor #11271)
        return _refuse(front, request, claimed or name, action, "authorize header needed to send HEAD to repository")
    project_name, slash, _ = name.partition("/")
    project = await front.registry.projects.ref(project_name) if slash else None
    if project is None:
        if not slash:
            return _refuse(front, request, name, action, f"repository {name} is not in a project: use <project>/<repository>")
        return _refuse(front, request, name, action, f"project {project_name} not found")
    if action not in await _actions(front, subject, project, name, claimed or name):
        return _refuse(front, request, claimed or name, action,
                       f"unauthorized to access repository: {claimed or name}, action: {action}")
    request.state.project = project
    return subject


async def _actions(front: Front, subject: Subject, project: ProjectRef, name: str, claimed: str) -> frozenset[str]:
    if claimed == name:
        return repository_actions(subject, project, name)
    # mirror mode: a token's claims name what the client asked for; the proxy project's roles decide
    if subject.access is not None:
        if "pull" not in subject.access.get(claimed, frozenset()):
            return frozenset()
        subject = await front.auth.subject_by_name(subject.name) if subject.name else ANONYMOUS
    return repository_actions(subject, project, name) & {"pull"}


def _refuse(front: Front, request: Request, name: str, action: str, message: str) -> Response:
    return _challenge(front, request, message, f"repository:{name}:{_SCOPE_ACTIONS[action]}")


async def catalog_projects(front: Front, subject: Subject) -> set[int] | None:
    """The project ids whose repositories the catalog shows `subject` (None: all). A bearer token
    shows its holder's view only when it was issued for the catalog; otherwise the public view."""
    if subject.kind == "token":
        subject = await front.auth.subject_by_name(subject.name or "") if subject.catalog else ANONYMOUS
    return visible_project_ids(subject, await front.registry.projects.public_ids())
