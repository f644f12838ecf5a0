"""Who is behind the work in progress, and for which request: the root app opens a RequestScope per
HTTP request (its id), the protocol fronts set the acting principal once a request is authenticated,
and services read both when they publish events, so that no service signature has to carry the caller."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Actor:
    #: user or robot name ("robot$ci"), "anonymous", or "system" for background work
    name: str
    client_address: str = ""
    request_id: str = ""


@dataclass(slots=True)
class RequestScope:
    """One HTTP request as the access log sees it. Mutable and shared by reference, so the name a front
    sets deep inside the request (even in a copied context) is there when the log line is written."""

    request_id: str
    user: str = ""


SYSTEM = Actor("system")
_current: ContextVar[Actor] = ContextVar("berth_actor", default=SYSTEM)
_request: ContextVar[RequestScope | None] = ContextVar("berth_request", default=None)


def current_actor() -> Actor:
    return _current.get()


def set_actor(actor: Actor) -> None:
    """For the rest of the current request (one asyncio task), events name `actor`, with the request's id."""
    scope = _request.get()
    if scope is not None:
        scope.user = actor.name
        if not actor.request_id:
            actor = replace(actor, request_id=scope.request_id)
    _current.set(actor)


def begin_request(request_id: str) -> RequestScope:
    """Called once per HTTP request by the root app, before any front runs."""
    scope = RequestScope(request_id)
    _request.set(scope)
    _current.set(replace(SYSTEM, request_id=request_id))  # until a front names the caller
    return scope


def continue_request(request_id: str) -> None:
    """Background work done for a request (a job it queued): system work, under that request's id."""
    _request.set(RequestScope(request_id, SYSTEM.name))
    _current.set(replace(SYSTEM, request_id=request_id))


def current_request_id() -> str:
    scope = _request.get()
    return scope.request_id if scope is not None else _current.get().request_id
