"""Registry endpoints as Harbor keeps them (src/controller/registry): validation, a health check before
each create and update (Harbor refuses an unhealthy endpoint), the access secret sealed with the secret
box and never shown, an audit row for every change.

Talking to an endpoint is berth.replication.adapters'; `RegistryService.adapter` is where one is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import RemoteRegistry, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.replication.adapters import (
    CREDENTIAL_TYPES, Adapter, Endpoint, PingFailed, UnsupportedType, create_adapter, tls_verify, type_problem,
)
from berth.security.keys import SecretBox
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.querying import conditions, orderings

#: what Harbor answers in place of a stored access secret; sent back on update, it keeps the stored one
MASKED_SECRET = "*****"
#: the keys `q` matches on (strings)
_KEYS = {
    "name": RemoteRegistry.name, "description": RemoteRegistry.description, "type": RemoteRegistry.type,
    "url": RemoteRegistry.url, "status": RemoteRegistry.status,
}
#: the keys `sort` orders by
_SORTS = {**_KEYS, "id": RemoteRegistry.id, "creation_time": RemoteRegistry.created_at,
          "update_time": RemoteRegistry.updated_at}


@dataclass(frozen=True, slots=True)
class RegistryEndpoint:
    id: int
    name: str
    description: str
    type: str
    url: str
    credential_type: str
    access_key: str
    #: sealed with the secret box ("" when none); `RegistryService.endpoint` opens it
    sealed_secret: str
    insecure: bool
    ca_certificate: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RegistryInput:
    """A create request, or an update merged onto the stored registry (Harbor's model.Registry)."""

    name: str
    type: str
    url: str
    description: str = ""
    credential_type: str = ""
    access_key: str = ""
    #: None on update: keep the stored secret
    access_secret: str | None = None
    insecure: bool = False
    ca_certificate: str = ""


def normalized_url(url: str) -> str:
    """Harbor's lib.ValidateHTTPURL (pure): trimmed, `http://` when no scheme, no trailing slash;
    BadRequest for another scheme or no host."""
    url = url.strip()
    if not url:
        raise BadRequest("invalid URL: the URL cannot be empty")
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise BadRequest(f"invalid URL {url[:300]}") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest(f"invalid HTTP scheme: {parts.scheme[:32]}")
    if not parts.hostname or len(url) > 1024 or any(c.isspace() for c in url):
        raise BadRequest(f"invalid URL {url[:300]}")
    return url.rstrip("/")


def input_problem(data: RegistryInput) -> str | None:
    """Harbor's validation of a registry (pure), with berth's type and CA checks."""
    if not data.name:
        return "name cannot be empty"
    if len(data.name) > 64:
        return "the max length of name is 64"
    problem = type_problem(data.type)
    if problem:
        return problem
    if data.credential_type and data.credential_type not in CREDENTIAL_TYPES:
        return f"invalid credential type {data.credential_type[:32]!r}: one of {', '.join(CREDENTIAL_TYPES)}"
    if data.ca_certificate.strip():
        try:
            tls_verify(Endpoint(type=data.type, url=data.url, ca_certificate=data.ca_certificate))
        except ValueError as exc:
            return str(exc)
    return None


async def check_health(endpoint: Endpoint) -> None:
    """BadRequest with the reason unless the endpoint answers as a healthy registry."""
    try:
        async with create_adapter(endpoint) as adapter:
            await adapter.ping()
    except UnsupportedType as exc:
        raise BadRequest(str(exc)) from None
    except ValueError as exc:  # an invalid CA certificate
        raise BadRequest(str(exc)) from None
    except PingFailed as exc:
        raise BadRequest(f"the registry is unhealthy: {exc.reason}"[:1000]) from None


class RegistryService:
    def __init__(self, db: Database, box: SecretBox, events: EventBus) -> None:
        self._db = db
        self._box = box
        self._events = events
        #: called after every update and delete (proxy-cache projects forget their upstream clients)
        self.changed_hooks: list[Callable[[], None]] = []

    def endpoint(self, registry: RegistryEndpoint) -> Endpoint:
        """What an adapter needs, with the access secret opened."""
        secret = self._box.open(registry.sealed_secret) if registry.sealed_secret else ""
        return Endpoint(type=registry.type, url=registry.url, access_key=registry.access_key, access_secret=secret,
                        insecure=registry.insecure, ca_certificate=registry.ca_certificate)

    def adapter(self, registry: RegistryEndpoint) -> Adapter:
        try:
            return create_adapter(self.endpoint(registry))
        except (UnsupportedType, ValueError) as exc:
            raise BadRequest(str(exc)) from None

    # --- reading ----------------------------------------------------------------------------------

    async def list(
        self, q: str | None, sort: str | None, offset: int, limit: int, name: str | None = None,
    ) -> tuple[list[RegistryEndpoint], int]:
        query: Select = select(RemoteRegistry).where(*conditions(q, _KEYS))
        if name:  # the older `name` parameter: a fuzzy match, as Harbor keeps it
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(RemoteRegistry.name.like(f"%{escaped}%", escape="\\"))
        async with self._db.read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await conn.execute(
                query.order_by(*orderings(sort, _SORTS, [RemoteRegistry.created_at, RemoteRegistry.id]))
                .offset(offset).limit(limit)
            )
            return [_record(row) for row in rows], total

    async def get(self, registry_id: int) -> RegistryEndpoint:
        async with self._db.read() as conn:
            row = (await conn.execute(select(RemoteRegistry).where(RemoteRegistry.id == registry_id))).first()
        if row is None:
            raise NotFound(f"registry {registry_id} not found")
        return _record(row)

    # --- changing ---------------------------------------------------------------------------------

    async def create(self, data: RegistryInput) -> RegistryEndpoint:
        data = await self._checked(data, None)
        now = utcnow()
        async with self._db.write() as conn:
            await self._unique(conn, data.name, None)
            try:
                result = await conn.execute(self._db.insert(RemoteRegistry).values(
                    **self._columns(data, self._seal(data.access_secret or "")), status="healthy",
                    created_at=now, updated_at=now,
                ).returning(RemoteRegistry.id))
            except IntegrityError:
                raise Conflict(f"registry {data.name} already exists") from None
            registry_id = result.scalar_one()
            await self._audit(conn, "create", data.name)
        return await self.get(registry_id)

    async def update(self, registry_id: int, data: RegistryInput) -> RegistryEndpoint:
        current = await self.get(registry_id)
        keep = data.access_secret is None or data.access_secret == MASKED_SECRET
        if keep:
            data = replace(data, access_secret=self.endpoint(current).access_secret)
        data = await self._checked(data, registry_id)
        async with self._db.write() as conn:
            await self._unique(conn, data.name, registry_id)
            try:
                await conn.execute(update(RemoteRegistry).where(RemoteRegistry.id == registry_id).values(
                    **self._columns(data, current.sealed_secret if keep else self._seal(data.access_secret or "")),
                    status="healthy", updated_at=utcnow(),
                ))
            except IntegrityError:
                raise Conflict(f"registry {data.name} already exists") from None
            await self._audit(conn, "update", data.name)
        self._changed()
        return await self.get(registry_id)

    async def delete(self, registry_id: int) -> RegistryEndpoint:
        # Harbor refuses (412) while a replication policy or a proxy-cache project uses it (api/registries.py checks)
        current = await self.get(registry_id)
        async with self._db.write() as conn:
            await conn.execute(delete(RemoteRegistry).where(RemoteRegistry.id == registry_id))
            await self._audit(conn, "delete", current.name)
        self._changed()
        return current

    def _changed(self) -> None:
        for hook in self.changed_hooks:
            hook()

    # --- helpers ------------------------------------------------------------------------------------

    async def _checked(self, data: RegistryInput, registry_id: int | None) -> RegistryInput:
        """The input with its URL normalized, once it is valid, unique and its endpoint healthy."""
        data = replace(data, url=normalized_url(data.url))
        problem = input_problem(data)
        if problem:
            raise BadRequest(problem)
        async with self._db.read() as conn:  # before the (slow) health check
            await self._unique(conn, data.name, registry_id)
        await check_health(endpoint_of(data))
        return data

    @staticmethod
    def _columns(data: RegistryInput, sealed_secret: str) -> dict[str, Any]:
        has_credential = bool(data.access_key or data.access_secret)
        return {
            "name": data.name, "description": data.description, "type": data.type, "url": data.url,
            "credential_type": (data.credential_type or "basic") if has_credential else data.credential_type,
            "access_key": data.access_key, "access_secret": sealed_secret, "insecure": data.insecure,
            "ca_certificate": data.ca_certificate,
        }

    def _seal(self, secret: str) -> str:
        return self._box.seal(secret) if secret else ""

    @staticmethod
    async def _unique(conn: AsyncConnection, name: str, registry_id: int | None) -> None:
        query = select(RemoteRegistry.id).where(RemoteRegistry.name == name)
        if registry_id is not None:
            query = query.where(RemoteRegistry.id != registry_id)
        if await conn.scalar(query) is not None:
            raise Conflict(f"registry {name[:300]} already exists")

    async def _audit(self, conn: AsyncConnection, operation: str, name: str) -> None:
        await self._events.record(conn, ResourceChanged(resource_type="registry", operation=operation, resource=name))


def endpoint_of(data: RegistryInput) -> Endpoint:
    return Endpoint(type=data.type, url=data.url, access_key=data.access_key, access_secret=data.access_secret or "",
                    insecure=data.insecure, ca_certificate=data.ca_certificate)


def _record(row: Any) -> RegistryEndpoint:
    return RegistryEndpoint(
        row.id, row.name, row.description, row.type, row.url, row.credential_type, row.access_key,
        row.access_secret, row.insecure, row.ca_certificate, row.status, row.created_at, row.updated_at,
    )
