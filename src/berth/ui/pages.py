"""What every page of the web UI shares: the templates, who is looking (the session), the access
decision through auth/rbac.py, paging with permalinks, and the error page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from berth import __version__
from berth.auth.authenticator import Authenticator
from berth.auth.rbac import Subject, is_allowed, is_allowed_system
from berth.auth.sessions import SessionStore
from berth.auth.token_service import client_address
from berth.auth.web import WebLogin
from berth.config import Settings
from berth.events.actor import Actor, set_actor
from berth.security.roles import Permission, ProjectRef
from berth.services.errors import BadRequest, Forbidden, NotFound
from berth.services.projects import ProjectRecord
from berth.services.registry import Registry

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
#: what asgi-csrf puts in the ASGI scope: a callable giving this browser's token (and setting its cookie)
CSRF_SCOPE_KEY = "csrftoken"
CSRF_FIELD = "csrftoken"
#: the project tabs beyond summary and repositories that have pages (_project_head.html links only these)
PROJECT_TABS = frozenset({"robots", "members", "policies", "labels", "webhooks", "logs",
                          "configuration"})
#: The UI's one rule for refusals (a form the service refused, a page that cannot be shown): a page
#: asked for by the browser itself answers with the refusal's status (400, 403, 404, 409 ...), the
#: form drawn again with the service's message next to the field; an htmx request answers 200 with
#: the same markup and the refusal's status in this header, because htmx swaps only 2xx answers and
#: Chromium logs every 4xx fetch as a console error (an error page there also says where it goes:
#: HX-Retarget, HX-Reswap and HX-Reselect put it in the page's <main>).
REFUSED_HEADER = "X-Berth-Refused"
DEFAULT_PAGE_SIZE = 15
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Problem:
    """A refused form's message and the field it is about ("" when it is about the form as a whole).
    Templates draw it with `problem_attrs` and `problem_note` beside that field, or with
    `form_problem` at the form's top; a plain string is a problem about no single field."""

    message: str
    field: str = ""

    def __bool__(self) -> bool:
        return bool(self.message)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def about(cls, message: str, fields: Mapping[str, str]) -> Problem:
        """The service's `message`, tied to the first of `fields` (a form field's name -> a regular
        expression of the words the service's messages use for it) that it mentions; to no field
        when none matches."""
        for name, words in fields.items():
            if re.search(words, message, re.IGNORECASE):
                return cls(message, name)
        return cls(message)


def _field_of(problem: Problem | str | None) -> str:
    return problem.field if isinstance(problem, Problem) and problem.message else ""


def problem_attrs(problem: Problem | str | None, name: str, note_id: str, help_id: str = "") -> Markup:
    """The attributes of the input for field `name`: aria-invalid and aria-describedby pointing at the
    problem's note (`note_id`) when the problem is about it, and at its help text (`help_id`) always."""
    mine = _field_of(problem) == name and bool(name)
    described = " ".join(part for part in (help_id, note_id if mine else "") if part)
    return Markup((' aria-invalid="true"' if mine else "")
                  + (f' aria-describedby="{escape(described)}"' if described else ""))


def problem_note(problem: Problem | str | None, name: str, note_id: str) -> Markup:
    """The problem's message, drawn right after the input of field `name` when it is about that field."""
    if not name or _field_of(problem) != name:
        return Markup("")
    return Markup('<small id="{}" class="problem" role="alert">{}</small>').format(note_id, str(problem))


def form_problem(problem: Problem | str | None, note_id: str) -> Markup:
    """The problem's message at the top of its form, when it is about no single field."""
    if not problem or _field_of(problem):
        return Markup("")
    return Markup('<p id="{}" class="problem" role="alert">{}</p>').format(note_id, str(problem))


class LoginRequired(Exception):
    """No live session: the browser goes to the log-in page, and from there back to `target`."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


@dataclass(frozen=True, slots=True)
class Pager:
    """A page of a list and the links to its neighbours; the filters stay in the query string, so
    every page of every filtered list has a permalink."""

    page: int
    size: int
    total: int = 0
    filters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, *filter_names: str) -> Pager:
        query = request.query_params
        filters = {name: query[name] for name in filter_names if query.get(name)}
        return cls(_positive(query.get("page"), 1), min(_positive(query.get("page_size"), DEFAULT_PAGE_SIZE),
                                                       MAX_PAGE_SIZE), 0, filters)

    def counted(self, total: int) -> Pager:
        return Pager(self.page, self.size, total, self.filters)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def link(self, page: int) -> str:
        params = {**self.filters, "page": str(page)}
        if self.size != DEFAULT_PAGE_SIZE:
            params["page_size"] = str(self.size)
        return "?" + urlencode(params)


def _positive(value: str | None, default: int) -> int:
    if value is None or not value.isascii() or not value.isdigit() or int(value) < 1:
        return default
    return min(int(value), 1_000_000_000)


def row_id(text: str, what: str = "page") -> int:
    """A row id from the path; anything else is no such `what` (404)."""
    if not (text.isascii() and text.isdigit() and len(text) < 12):
        raise NotFound(f"there is no such {what}")
    return int(text)


def verb_needs(request: Request, needs: dict[str, str]) -> tuple[str, str]:
    """The path's `action` (a form's verb: delete, disable ...) and the RBAC action it needs; 404 for another."""
    verb = request.path_params["action"]
    if verb not in needs:
        raise NotFound("there is no such page")
    return verb, needs[verb]


def size(value: int | None) -> str:
    """Bytes as people read them: 1.5 MiB."""
    if value is None or value < 0:
        return "unlimited"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def when(value: datetime | None) -> str:
    if value is None or value.year < 2:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def unixtime(value: int | float | None) -> str:
    return when(datetime.fromtimestamp(value, UTC)) if value and value > 0 else "never"


class Ui:
    """The pieces every page handler uses: berth's services, the session store and log-in flows, and
    the templates."""

    def __init__(self, registry: Registry, auth: Authenticator, sessions: SessionStore, web: WebLogin,
                 settings: Settings) -> None:
        self.registry = registry
        self.auth = auth
        self.sessions = sessions
        self.web = web
        self.settings = settings
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True,
        )
        self.templates.filters.update(size=size, when=when, unixtime=unixtime)
        self.templates.globals.update(version=__version__, may=_may, project_tabs=PROJECT_TABS,
                                      problem_attrs=problem_attrs, problem_note=problem_note,
                                      form_problem=form_problem)

    # --- who is looking ------------------------------------------------------------------------

    async def viewer(self, request: Request) -> Subject:
        """The logged-in user, or LoginRequired. The form's CSRF token was checked before the handler ran."""
        subject = await self.sessions.subject(request, csrf_checked=True)
        if subject is None or subject.anonymous:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target if request.method == "GET" else request.url.path)
        set_actor(Actor(subject.name or "anonymous", client_address(request)))
        request.state.user = subject
        return subject

    async def project(self, subject: Subject, name: str, resource: str = "project", action: str = "read",
                      ) -> ProjectRecord:
        """The project, when `subject` may `action` its `resource`. A project the user may not see is
        "not found", as one that does not exist, so private names cannot be probed."""
        try:
            project = await self.registry.projects.get(name, by_name=True)
        except NotFound:
            raise NotFound(f"project {name} not found") from None
        if not is_allowed(subject, Permission("project", "read"), project.ref):
            raise NotFound(f"project {name} not found")
        self.require(subject, project.ref, resource, action)
        return project

    @staticmethod
    def require(subject: Subject, project: ProjectRef, resource: str, action: str) -> None:
        if not is_allowed(subject, Permission(resource, action), project):
            raise Forbidden(f"your role in this project does not allow {action} on {resource}")

    @staticmethod
    def may_system(request: Request, resource: str, action: str) -> bool:
        """Whether the page's viewer (set by `viewer`) may `action` the system resource `resource`."""
        subject = getattr(request.state, "user", None)
        return subject is not None and is_allowed_system(subject, Permission(resource, action))

    @staticmethod
    def may(subject: Subject, project: ProjectRef, resource: str, action: str) -> bool:
        return is_allowed(subject, Permission(resource, action), project)

    # --- answers -------------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The page (or htmx fragment) drawn from `template`, answered with `status`: the one rule of
        every form here (see REFUSED_HEADER) applies when it is a refusal (4xx or 5xx)."""
        token = request.scope.get(CSRF_SCOPE_KEY)
        page = self.templates.get_template(template).render(
            request=request, path=request.url.path, user=getattr(request.state, "user", None),
            csrf_token=token if token is not None else _no_token, csrf_field=CSRF_FIELD, **context,
        )
        lost = {key: Problem(value.message) for key, value in context.items()
                if isinstance(value, Problem) and value.field and str(escape(value.message)) not in page}
        if lost:  # a field the page does not draw (now): the message goes to the form's top, never lost
            return self.render(request, template, status, **(context | lost))
        headers = {"Cache-Control": "no-store", "Vary": "HX-Request, Cookie"}
        if status >= 400 and self.partial(request):
            headers[REFUSED_HEADER] = str(status)
            status = 200
        return HTMLResponse(page, status, headers=headers)

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        """The error page. For an htmx request it replaces the page's <main> (not the fragment htmx
        asked for, which it cannot stand for), under the rule of `render`."""
        response = self.render(request, "error.html", status, title=title, message=message)
        if self.partial(request):
            response.headers.update({"HX-Retarget": "#main", "HX-Reswap": "outerHTML", "HX-Reselect": "#main"})
        return response

    @staticmethod
    def partial(request: Request) -> bool:
        """htmx asked for a fragment (not for a page to restore its history from)."""
        return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"

    @staticmethod
    def redirect(target: str) -> Response:
        return RedirectResponse(target, status_code=303)

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        """The posted form's text fields (files are no part of any form here)."""
        return (await Ui.form_with_list(request, ""))[0]

    @staticmethod
    async def form_with_list(request: Request, name: str) -> tuple[dict[str, str], list[str]]:
        """The posted form's text fields, and every value of the repeated field `name` (checkboxes)."""
        try:
            form = await request.form()
        except Exception as exc:  # a malformed body is the client's mistake, not ours
            raise BadRequest(f"the form could not be read: {exc}") from None
        values = {key: value for key, value in form.items() if isinstance(value, str)}
        return values, [value for value in form.getlist(name) if isinstance(value, str)] if name else []


def _may(subject: Subject | None, project: ProjectRecord, resource: str, action: str) -> bool:
    """For templates: whether the viewer may `action` the project's `resource` (auth/rbac.py decides)."""
    return subject is not None and is_allowed(subject, Permission(resource, action), project.ref)


def _no_token() -> str:
    return ""
