"""Who is behind the work in progress: set by the protocol fronts once a request is authenticated and
read by services when they publish events, so that no service signature has to carry the caller."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    #: user or robot name ("robot$ci"), "anonymous", or "system" for background work
    name: str
    client_address: str = ""
    request_id: str = ""


SYSTEM = Actor("system")
_current: ContextVar[Actor] = ContextVar("berth_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


def set_actor(actor: Actor) -> None:
    """For the rest of the current request (one asyncio task), events name `actor`."""
    _current.set(actor)
