"""What every Harbor API handler needs: the caller (Subject), access checks, Harbor's pagination."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response

from berth.api.numbers import Int64
from berth.auth.authenticator import Authenticator
from berth.auth.rbac import ANONYMOUS, Subject, is_allowed, is_allowed_system
from berth.auth.token_service import client_address
from berth.db.models import BIGINTEGER_RANGE
from berth.events.actor import Actor, set_actor
from berth.security.roles import Permission, ProjectRef
from berth.services.errors import BadRequest, Forbidden, NotFound, ServiceError, Unauthorized
from berth.services.projects import ProjectRecord
from berth.services.registry import Registry

MAX_PAGE_SIZE = 100


class UnprocessableEntity(ServiceError):
    status, code = 422, "UNPROCESSABLE_ENTITY"


async def storable_text(request: Request) -> None:
    """Every request: text with a NUL character (%00, \\u0000) or a lone UTF-16 surrogate (\\ud800) in
    the path, the query or a JSON body is a 400. PostgreSQL can neither store nor compare the first,
    no database driver can encode the second; SQLite answers the same."""
    texts = [request.scope["path"], *(part for item in request.query_params.multi_items() for part in item)]
    if any(not _storable(text) for text in texts):
        raise BadRequest(_NOT_STORABLE)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()  # kept on the request: FastAPI parses the same bytes
        if _SUSPECT_ESCAPE.search(body) and not _all_storable(_json_or_none(body)):
            raise BadRequest(_NOT_STORABLE)


_NOT_STORABLE = "text must not hold NUL characters or lone surrogates"
#: JSON escapes behind the only strings that are not storable (a NUL or a surrogate can only be escaped)
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])")


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)  # as FastAPI parses it (lone surrogates included)
    except ValueError:
        return None  # FastAPI answers the malformed body itself


def _all_storable(value: Any) -> bool:
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dict):
        return all(_storable(k) and _all_storable(v) for k, v in value.items())
    return not isinstance(value, list) or all(_all_storable(v) for v in value)


def registry(request: Request) -> Registry:
    return request.app.state.registry


def authenticator(request: Request) -> Authenticator:
    return request.app.state.auth


async def current_subject(request: Request) -> Subject:
    """The caller: Basic auth (user, robot, OIDC CLI secret) or a browser session; else anonymous."""
    cached = getattr(request.state, "subject", None)
    if cached is not None:
        return cached
    auth: Authenticator = request.app.state.auth
    header = request.headers.get("authorization")
    if header:
        subject = await auth.from_authorization(header, client_address(request), bearer=False)
    else:
        subject = await request.app.state.sessions.subject(request) or ANONYMOUS
    request.state.subject = subject
    set_actor(Actor(subject.name or "anonymous", client_address(request)))
    return subject


SubjectDep = Annotated[Subject, Depends(current_subject)]
RegistryDep = Annotated[Registry, Depends(registry)]


def require_login(subject: Subject) -> None:
    if subject.anonymous:
        raise Unauthorized("UnAuthorized")


def require_sysadmin(subject: Subject, message: str = "forbidden") -> None:
    """Only a system administrator (not a robot with system grants): 401 anonymous, 403 otherwise."""
    require_login(subject)
    if not subject.sysadmin:
        raise Forbidden(message)


def require_system(subject: Subject, resource: str, action: str) -> None:
    """System-level access (users, groups, configuration ...): 401 for anonymous, 403 otherwise."""
    if not is_allowed_system(subject, Permission(resource, action)):
        require_login(subject)
        raise Forbidden("forbidden")


def require_project(subject: Subject, project: ProjectRecord | ProjectRef, resource: str, action: str) -> None:
    ref = project if isinstance(project, ProjectRef) else project.ref
    if not is_allowed(subject, Permission(resource, action), ref):
        require_login(subject)
        raise Forbidden("forbidden")


async def visible_project(
    registry: Registry, subject: Subject, name_or_id: str, *, by_name: bool | None = None,
) -> ProjectRecord:
    """The project; to anyone but a system admin, a missing project is refused exactly like a private
    one (401 anonymous, 403 otherwise), so private project names cannot be probed."""
    try:
        return await registry.projects.get(name_or_id, by_name=by_name)
    except NotFound:
        if subject.sysadmin:
            raise
        require_login(subject)
        raise Forbidden("forbidden") from None


async def visible_project_ref(registry: Registry, subject: Subject, name: str) -> ProjectRef:
    """visible_project for a name, from the in-process cache (access checks need no more)."""
    ref = await registry.projects.ref(name)
    if ref is None:
        if subject.sysadmin:
            raise NotFound(f"project {name} not found")
        require_login(subject)
        raise Forbidden("forbidden")
    return ref


async def project_for(
    registry: Registry, subject: Subject, name_or_id: str, request: Request, resource: str = "project",
    action: str = "read",
) -> ProjectRecord:
    """The project named or numbered by the path, when the caller may `action` it (else 401/403)."""
    by_name = request.headers.get("x-is-resource-name", "").lower() == "true" or None
    project = await visible_project(registry, subject, name_or_id, by_name=by_name)
    require_project(subject, project, resource, action)
    return project


class Paging:
    """Harbor's page/page_size (default 1 and 10, at most 100), with X-Total-Count and Link."""

    def __init__(self, page: int, page_size: int) -> None:
        if page_size > MAX_PAGE_SIZE:
            raise UnprocessableEntity(f"page_size in query should be less than or equal to {MAX_PAGE_SIZE}")
        self.page = page
        self.page_size = page_size or 10

    @property
    def offset(self) -> int:
        # a page far beyond the last is empty, not an OFFSET no database holds
        return min((self.page - 1) * self.page_size, BIGINTEGER_RANGE.stop - 1)

    @property
    def limit(self) -> int:
        return self.page_size

    def headers(self, request: Request, response: Response, total: int) -> None:
        response.headers["X-Total-Count"] = str(total)
        links = []
        params = dict(request.query_params)
        path = request.url.path
        if self.page > 1:
            links.append(f'<{path}?{urlencode({**params, "page": self.page - 1, "page_size": self.page_size})}>; rel="prev"')
        if self.page * self.page_size < total:
            links.append(f'<{path}?{urlencode({**params, "page": self.page + 1, "page_size": self.page_size})}>; rel="next"')
        if links:
            response.headers["Link"] = " , ".join(links)


async def paging(
    page: Annotated[Int64, Query(ge=1)] = 1, page_size: Annotated[Int64, Query(ge=0)] = 10,
) -> Paging:
    # an async dependency: FastAPI runs plain functions and classes in its thread pool
    return Paging(page, page_size)


PagingDep = Annotated[Paging, Depends(paging)]


def harbor_time(value: datetime | None) -> str:
    """Harbor's timestamps: RFC 3339 in UTC with milliseconds."""
    if value is None:
        return ""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    # formatted by hand: lists format thousands of these, and %Y does not pad year 1 (Harbor's "never")
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z")
