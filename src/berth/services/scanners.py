"""Scanner registrations as Harbor keeps them: Harbor's validation, one system default, the scanner a
project chose, credentials sealed with the secret box, an audit row for every change.

Talking to an adapter (ping, metadata) is berth.scan.client's; `adapter_metadata` is the one place
that calls it.
"""

from __future__ import annotations

import uuid as uuids
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from berth.db.models import ProjectScanner, ScannerRegistration, utcnow
from berth.db.session import Database, after_commit
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.security.keys import SecretBox
from berth.services.errors import BadRequest, Conflict, Forbidden, NotFound
from berth.services.querying import conditions, orderings

#: a ping or metadata request waits this long for the adapter (an API call waits on it)
METADATA_TIMEOUT_SECONDS = 10.0
#: Harbor's authentication schemes towards an adapter ("" is none)
AUTH_SCHEMES = ("", "Basic", "Bearer", "X-ScannerAdapter-API-Key")
_KEYS = {
    "name": ScannerRegistration.name, "description": ScannerRegistration.description,
    "url": ScannerRegistration.url, "is_default": ScannerRegistration.is_default,
    "disabled": ScannerRegistration.disabled,
    # Harbor's UI checks names and URLs for clashes with these exact-match keys
    "ex_name": ScannerRegistration.name, "ex_url": ScannerRegistration.url,
}

#: the flags `q` names compare as booleans ("is_default=true")
_FLAGS = {key: lambda value: str(value).lower() in ("true", "1") for key in ("is_default", "disabled")}


@dataclass(frozen=True, slots=True)
class Registration:
    id: int
    uuid: str
    name: str
    description: str
    url: str
    auth: str
    #: sealed with the secret box ("" when none); `ScannerService.credential` opens it
    sealed_credential: str
    skip_cert_verify: bool
    use_internal_addr: bool
    immutable: bool
    is_default: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RegistrationInput:
    """A create or update request (Harbor's ScannerRegistrationReq)."""

    name: str
    url: str
    description: str = ""
    auth: str = ""
    #: None or "" on update: keep the stored credential while `auth` still needs one
    access_credential: str | None = None
    skip_cert_verify: bool = False
    use_internal_addr: bool = False
    disabled: bool = False


def registration_problem(name: str, url: str, auth: str) -> str | None:
    """Harbor's Registration.Validate (pure): a name, an http(s) URL, a known auth scheme."""
    if not name.strip():
        return "missing registration name"
    if len(name) > 255:
        return "registration name is longer than 255 characters"
    if not url.strip():
        return "scanner registration validate: empty url"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "scanner registration validate: invalid url"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "scanner registration validate: invalid scheme"
    if len(url) > 1024:
        return "scanner registration validate: url is longer than 1024 characters"
    if auth not in AUTH_SCHEMES:
        return f"auth scheme {auth} is not supported"
    return None


async def adapter_metadata(url: str, auth: str, credential: str, skip_cert_verify: bool) -> dict[str, Any]:
    """The adapter's `GET /api/v1/metadata` (Harbor's ScannerAdapterMetadata), as Harbor's client asks."""
    from berth.scan.client import AdapterAuth, ScannerClient  # the pluggable scanner API client

    transport = httpx.AsyncHTTPTransport(verify=False) if skip_cert_verify else None
    async with ScannerClient(url, AdapterAuth(auth, credential) if auth and credential else None,
                             timeout=METADATA_TIMEOUT_SECONDS, transport=transport) as client:
        return await client.metadata()


async def metadata_or_400(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The adapter's metadata; an adapter that cannot be reached or answers wrongly is the request's
    problem (its URL or credential), not berth's: BadRequest with the reason."""
    try:
        return await call
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the adapter did, the caller gets its reason
        raise BadRequest(f"failed to get the metadata of the scanner adapter: {exc}"[:1000]) from None


async def ping_adapter(name: str, url: str, auth: str, credential: str) -> dict[str, Any]:
    """The "test connection" of a scanner: Harbor's checks, then the adapter's metadata (BadRequest)."""
    problem = registration_problem(name, url, auth)
    if problem:
        raise BadRequest(problem)
    return await metadata_or_400(adapter_metadata(url, auth, credential, False))


class ScannerService:
    def __init__(self, db: Database, box: SecretBox, events: EventBus) -> None:
        self._db = db
        self._box = box
        self._events = events
        #: called after every committed change (the pull policy forgets which scanner projects use)
        self.changed_hooks: list[Callable[[], None]] = []

    def credential(self, registration: Registration) -> str:
        return self._box.open(registration.sealed_credential) if registration.sealed_credential else ""

    # --- reading ----------------------------------------------------------------------------------

    async def list(self, q: str | None, sort: str | None, offset: int, limit: int) -> tuple[list[Registration], int]:
        query: Select = select(ScannerRegistration).where(*conditions(q, _KEYS, _FLAGS))
        async with self._db.read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await conn.execute(
                query.order_by(*orderings(sort, _KEYS, [ScannerRegistration.created_at, ScannerRegistration.id]))
                .offset(offset).limit(limit)
            )
            return [_record(row) for row in rows], total

    async def get(self, uuid: str) -> Registration:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ScannerRegistration).where(ScannerRegistration.uuid == uuid))).first()
        if row is None:
            raise NotFound(f"scanner registration {uuid[:64]} not found")
        return _record(row)

    async def default(self) -> Registration | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ScannerRegistration).where(ScannerRegistration.is_default))).first()
        return _record(row) if row is not None else None

    async def of_project(self, project_id: int) -> Registration | None:
        """The scanner that scans a project: its choice when enabled, else the enabled system default."""
        async with self._db.read() as conn:
            return await effective_registration(conn, project_id)

    # --- changing ---------------------------------------------------------------------------------

    async def create(self, data: RegistrationInput) -> Registration:
        self._check(data)
        now = utcnow()
        async with self._db.write() as conn:
            await self._unique(conn, data, None)
            first = not await conn.scalar(select(func.count()).select_from(ScannerRegistration))
            values = {
                "uuid": str(uuids.uuid4()), "name": data.name, "description": data.description, "url": data.url,
                "auth": data.auth, "access_credential": self._seal(data.auth, data.access_credential or ""),
                "skip_cert_verify": data.skip_cert_verify, "use_internal_addr": data.use_internal_addr,
                "disabled": data.disabled, "is_default": first and not data.disabled,  # the first one is the default
                "created_at": now, "updated_at": now,
            }
            try:
                await conn.execute(self._db.insert(ScannerRegistration).values(**values))
            except IntegrityError:
                raise Conflict(f"registration {data.name} already exists") from None
            await self._audit(conn, "create", data.name)
        return await self.get(values["uuid"])

    async def register_builtin(
        self, name: str, url: str, description: str = "", *, auth: str = "", credential: str = "",
    ) -> Registration:
        """Register berth's own adapter at start, once: immutable through the API, the default while no
        other is; a later start with another URL or credential moves it (idempotent, safe for nodes
        starting together). `credential` is what berth's mounted adapter expects, sealed here."""
        now = utcnow()
        async with self._db.write() as conn:
            row = (await conn.execute(select(ScannerRegistration).where(ScannerRegistration.name == name))).first()
            if row is None:
                has_default = await conn.scalar(select(ScannerRegistration.id).where(ScannerRegistration.is_default))
                await conn.execute(self._db.insert(ScannerRegistration).values(
                    uuid=str(uuids.uuid4()), name=name, description=description, url=url, auth=auth,
                    access_credential=self._seal(auth, credential), skip_cert_verify=False, use_internal_addr=True,
                    immutable=True, disabled=False, is_default=has_default is None, created_at=now, updated_at=now,
                ).on_conflict_do_nothing())
                after_commit(conn, self._changed)
            elif (row.url, row.description, row.auth) != (url, description, auth) or \
                    self._opened(row.access_credential) != credential:
                await conn.execute(update(ScannerRegistration).where(ScannerRegistration.id == row.id).values(
                    url=url, description=description, auth=auth, access_credential=self._seal(auth, credential),
                    updated_at=now))
                after_commit(conn, self._changed)
        async with self._db.read() as conn:
            return _record((await conn.execute(
                select(ScannerRegistration).where(ScannerRegistration.name == name))).one())

    def _opened(self, sealed: str) -> str:
        try:
            return self._box.open(sealed) if sealed else ""
        except ValueError:  # sealed under another key: it is replaced
            return ""

    async def update(self, uuid: str, data: RegistrationInput) -> Registration:
        self._check(data)
        current = await self.get(uuid)
        if current.immutable:
            raise Forbidden(f"registration {current.name} is immutable: it cannot be changed")
        keep = not data.access_credential and data.auth != "" and data.auth == current.auth
        sealed = current.sealed_credential if keep else self._seal(data.auth, data.access_credential or "")
        async with self._db.write() as conn:
            await self._unique(conn, data, uuid)
            try:
                await conn.execute(update(ScannerRegistration).where(ScannerRegistration.uuid == uuid).values(
                    name=data.name, description=data.description, url=data.url, auth=data.auth,
                    access_credential=sealed, skip_cert_verify=data.skip_cert_verify,
                    use_internal_addr=data.use_internal_addr, disabled=data.disabled, updated_at=utcnow(),
                ))
            except IntegrityError:
                raise Conflict(f"registration {data.name} already exists") from None
            await self._audit(conn, "update", data.name)
        return await self.get(uuid)

    async def delete(self, uuid: str) -> Registration:
        current = await self.get(uuid)
        if current.immutable:
            raise Forbidden(f"registration {current.name} is immutable: it cannot be deleted")
        async with self._db.write() as conn:
            await conn.execute(delete(ScannerRegistration).where(ScannerRegistration.uuid == uuid))
            await self._audit(conn, "delete", current.name)
        return current

    async def set_default(self, uuid: str) -> None:
        current = await self.get(uuid)
        async with self._db.write() as conn:
            # one UPDATE: exactly one row holds the flag afterwards, whatever another node did meanwhile
            await conn.execute(update(ScannerRegistration).values(is_default=ScannerRegistration.uuid == uuid))
            await self._audit(conn, "update", current.name, f"set scanner {current.name} as the system default")

    async def set_for_project(self, project_id: int, project_name: str, uuid: str) -> None:
        async with self._db.read() as conn:
            exists = await conn.scalar(select(ScannerRegistration.id).where(ScannerRegistration.uuid == uuid))
        if exists is None:
            raise BadRequest(f"scanner registration {uuid[:64]} not found")
        async with self._db.write() as conn:
            await conn.execute(delete(ProjectScanner).where(ProjectScanner.project_id == project_id))
            await conn.execute(self._db.insert(ProjectScanner).values(project_id=project_id, registration_uuid=uuid))
            await self._events.record(conn, ResourceChanged(
                resource_type="project", operation="update", resource=project_name, project=project_name,
                description=f"set the scanner of project {project_name}"))
            after_commit(conn, self._changed)

    async def metadata(self, registration: Registration) -> dict[str, Any]:
        return await adapter_metadata(registration.url, registration.auth, self.credential(registration),
                                      registration.skip_cert_verify)

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _check(data: RegistrationInput) -> None:
        problem = registration_problem(data.name, data.url, data.auth)
        if problem:
            raise BadRequest(problem)

    def _seal(self, auth: str, credential: str) -> str:
        # without a scheme no credential is sent, so none is kept
        return self._box.seal(credential) if auth and credential else ""

    @staticmethod
    async def _unique(conn: AsyncConnection, data: RegistrationInput, uuid: str | None) -> None:
        for column, value, what in ((ScannerRegistration.name, data.name, "name"),
                                    (ScannerRegistration.url, data.url, "url")):
            query = select(ScannerRegistration.id).where(column == value)
            if uuid is not None:
                query = query.where(ScannerRegistration.uuid != uuid)
            if await conn.scalar(query) is not None:
                raise Conflict(f"registration {what} {value[:300]} already exists")

    async def _audit(self, conn: AsyncConnection, operation: str, name: str, description: str = "") -> None:
        await self._events.record(conn, ResourceChanged(resource_type="scanner", operation=operation, resource=name,
                                                        description=description))
        after_commit(conn, self._changed)

    def _changed(self) -> None:
        for hook in self.changed_hooks:
            hook()


async def effective_registration(conn: AsyncConnection, project_id: int) -> Registration | None:
    """The project's chosen scanner when enabled, else the enabled system default."""
    chosen = (await conn.execute(
        select(ScannerRegistration).join(ProjectScanner, ProjectScanner.registration_uuid == ScannerRegistration.uuid)
        .where(ProjectScanner.project_id == project_id, ScannerRegistration.disabled.is_(False))
    )).first()
    if chosen is None:
        chosen = (await conn.execute(
            select(ScannerRegistration).where(ScannerRegistration.is_default, ScannerRegistration.disabled.is_(False))
        )).first()
    return _record(chosen) if chosen is not None else None


def _record(row: Any) -> Registration:
    return Registration(
        row.id, row.uuid, row.name, row.description, row.url, row.auth, row.access_credential,
        row.skip_cert_verify, row.use_internal_addr, row.immutable, row.is_default, row.disabled,
        row.created_at, row.updated_at,
    )
