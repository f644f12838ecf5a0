"""Users: Harbor's profile rules, argon2id password hashes, onboarding from LDAP and OIDC."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import ProjectMember, User, UserGroupMember, WebSession, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ResourceChanged
from berth.security.passwords import (
    ILLEGAL_NAME_CHARS,
    hash_password,
    name_problem,
    needs_rehash,
    password_problem,
    verify_password,
)
from berth.services.configurations import ConfigurationService
from berth.services.errors import BadRequest, Conflict, Forbidden, NotFound
from berth.services.querying import conditions, orderings

ADMIN_ID = 1
# Harbor's e-mail pattern (src/server/v2.0/handler/user.go)
_EMAIL = re.compile(
    r"""^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])"""
    r"""|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"""
)
#: what `q` and `sort` may name in a user list
_USER_KEYS = {"username": User.username, "email": User.email, "user_id": User.id, "sysadmin_flag": User.sysadmin,
              "creation_time": User.created_at, "update_time": User.updated_at}
# argon2id takes ~64 MiB and tens of milliseconds: a few at a time, off the event loop
_HASHING = asyncio.Semaphore(2)


async def hash_off_loop(password: str) -> str:
    async with _HASHING:
        return await asyncio.to_thread(hash_password, password)


async def verify_off_loop(stored_hash: str | None, password: str) -> bool:
    async with _HASHING:
        return await asyncio.to_thread(verify_password, stored_hash, password)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    email: str
    realname: str
    comment: str
    sysadmin: bool
    source: str
    has_cli_secret: bool
    created_at: datetime
    updated_at: datetime


def _record(row: User) -> UserRecord:
    return UserRecord(
        row.id, row.username, row.email or "", row.realname, row.comment, row.sysadmin, row.source,
        row.cli_secret_hash is not None, row.created_at, row.updated_at,
    )


def profile_problem(email: str | None, realname: str | None, comment: str | None) -> str | None:
    """Harbor's profile checks (pure): a reason, or None."""
    if not email:
        return "email can't be empty"
    if not _EMAIL.match(email) or len(email) > 255:
        return "email with illegal format"
    if realname is not None:
        if not 1 <= len(realname) <= 255:
            return "realname with illegal length"
        if any(c in ILLEGAL_NAME_CHARS for c in realname):
            return "realname contains illegal characters"
    if comment is not None and len(comment) > 30:
        return "comment with illegal length"
    return None


def fixed_user(actor_user_id: int | None, user_id: int) -> bool:
    """Harbor's rule: no one deletes, or changes the admin flag of, themselves or the first admin."""
    return user_id == ADMIN_ID or user_id == actor_user_id


async def require_local_accounts(configurations: ConfigurationService) -> None:
    """Local users are created only in database mode (LDAP, OIDC and HTTP modes bring their own)."""
    mode = await configurations.get("auth_mode")
    if mode != "db_auth":
        raise Forbidden(f"creating local user is not allowed under auth mode: {mode}")


class UserService:
    def __init__(self, db: Database, events: EventBus | None = None) -> None:
        self._db = db
        self._events = events or EventBus()
        #: bumped on any change that can alter what a user may do (cached credentials are dropped)
        self.version = 0

    def _changed(self) -> None:
        self.version += 1

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, user_id: int) -> UserRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(User).where(User.id == user_id))).first()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return _record(row)  # type: ignore[arg-type]

    async def find_by_name(self, username: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(User).where(User.username == username))).first()
        return None if row is None else _record(row)  # type: ignore[arg-type]

    async def find_by_subiss(self, subiss: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(User).where(User.oidc_subiss == subiss))).first()
        return None if row is None else _record(row)  # type: ignore[arg-type]

    async def list(
        self, *, username: str | None = None, q: str | None = None, sort: str | None = None,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[UserRecord], int]:
        """A page of users and the total: `username` is a substring; `q` and `sort` are Harbor's."""
        query: Select = select(User).where(*conditions(q, _USER_KEYS))
        if username:
            query = query.where(User.username.contains(username, autoescape=True))
        async with self._db.read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery()))
            order = orderings(sort, _USER_KEYS, [User.id])
            rows = (await conn.execute(query.order_by(*order, User.id).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], int(total or 0)  # type: ignore[arg-type]

    # --- writes --------------------------------------------------------------------------------

    async def create(
        self, username: str, email: str, password: str, realname: str = "", comment: str = "",
        *, sysadmin: bool = False,
    ) -> UserRecord:
        problem = (
            name_problem(username) or profile_problem(email, realname or username, comment) or password_problem(password)
        )
        if problem:
            raise BadRequest(problem)
        password_hash = await hash_off_loop(password)
        return await self._insert(
            _event("create", username), username=username, email=email, realname=realname or username,
            comment=comment, password_hash=password_hash, sysadmin=sysadmin, source="db",
        )

    async def record_login(self, username: str, client_address: str, succeeded: bool) -> None:
        """A web log-in (POST /c/login) happened, for the audit log; the operator is the principal."""
        await self._events.record_alone(self._db, ResourceChanged(
            resource_type="user", operation="login", resource=username, description="login", succeeded=succeeded,
            operator=username, client_address=client_address))

    async def record_logout(self, username: str, client_address: str) -> None:
        await self._events.record_alone(self._db, ResourceChanged(
            resource_type="user", operation="logout", resource=username, description="logout", operator=username,
            client_address=client_address))

    async def _insert(self, event: ResourceChanged | None = None, **values: object) -> UserRecord:
        now = utcnow()
        try:
            async with self._db.write() as conn:
                clash = (
                    await conn.execute(
                        select(User.username, User.email).where(
                            or_(User.username == values["username"], and_(User.email.is_not(None), User.email == values["email"]))
                        )
                    )
                ).first()
                if clash is not None:
                    if clash.username == values["username"]:
                        raise Conflict(f"username {values['username']} is already used")
                    raise Conflict(f"email {values['email']} is already used")
                user_id = await conn.scalar(
                    self._db.insert(User).values(**values, created_at=now, updated_at=now).returning(User.id)
                )
                if event is not None:
                    await self._events.record(conn, event)
        except IntegrityError:
            raise Conflict(f"username {values['username']} or its email is already used") from None
        return await self.get(int(user_id))

    async def update_profile(self, user_id: int, email: str | None, realname: str | None, comment: str | None) -> None:
        current = await self.get(user_id)
        email = email if email is not None else current.email
        problem = profile_problem(email, realname, comment)
        if problem:
            raise BadRequest(problem)
        values: dict[str, object] = {"email": email, "updated_at": utcnow()}
        if realname is not None:
            values["realname"] = realname
        if comment is not None:
            values["comment"] = comment
        try:
            async with self._db.write() as conn:
                clash = await conn.scalar(select(User.id).where(User.email == email, User.id != user_id))
                if clash is not None:
                    raise Conflict(f"email {email} is already used")
                await conn.execute(update(User).where(User.id == user_id).values(**values))
                await self._events.record(conn, _event("update", current.username))
        except IntegrityError:
            raise Conflict(f"email {email} is already used") from None

    async def delete(self, user_id: int) -> None:
        user = await self.get(user_id)
        async with self._db.write() as conn:
            await conn.execute(
                delete(ProjectMember).where(ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id)
            )
            await conn.execute(delete(User).where(User.id == user_id))
            await self._events.record(conn, _event("delete", user.username))
        self._changed()

    async def change_password(self, user_id: int, new_password: str, old_password: str | None) -> None:
        """Change a local password; `old_password` is checked when given (a user changing their own)."""
        problem = password_problem(new_password)
        if problem:
            raise BadRequest(problem)
        async with self._db.read() as conn:
            stored = await conn.scalar(select(User.password_hash).where(User.id == user_id))
            username = await conn.scalar(select(User.username).where(User.id == user_id))
        if old_password is not None and not await verify_off_loop(stored, old_password):
            raise Forbidden("Current password is incorrect")
        if stored is not None and await verify_off_loop(stored, new_password):
            raise BadRequest("New password is identical to old password")
        new_hash = await hash_off_loop(new_password)
        async with self._db.write() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(password_hash=new_hash, updated_at=utcnow()))
            await conn.execute(delete(WebSession).where(WebSession.user_id == user_id))
            if username:
                await self._events.record(conn, _event("update", username, ", change user password"))
        self._changed()

    async def set_sysadmin(self, user_id: int, flag: bool) -> None:
        user = await self.get(user_id)
        async with self._db.write() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(sysadmin=flag, updated_at=utcnow()))
            await self._events.record(conn, _event("update", user.username, ", add/remove user as system administrator"))
        self._changed()

    async def set_cli_secret(self, user_id: int, secret: str) -> None:
        problem = password_problem(secret)
        if problem:
            raise BadRequest(problem)
        await self.get(user_id)
        secret_hash = await hash_off_loop(secret)
        async with self._db.write() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(cli_secret_hash=secret_hash, updated_at=utcnow()))
        self._changed()

    # --- authentication ------------------------------------------------------------------------

    async def check_password(self, username: str, password: str) -> UserRecord | None:
        """The local user when `password` is theirs; None otherwise (same cost either way)."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(User).where(User.username == username))).first()
        stored = row.password_hash if row is not None else None
        ok = await verify_off_loop(stored, password)
        if not ok or row is None:
            return None
        if needs_rehash(stored):  # type: ignore[arg-type]
            new_hash = await hash_off_loop(password)
            async with self._db.write() as conn:
                await conn.execute(update(User).where(User.id == row.id).values(password_hash=new_hash))
        return _record(row)  # type: ignore[arg-type]

    async def check_cli_secret(self, username: str, secret: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(User).where(User.username == username))).first()
        ok = await verify_off_loop(row.cli_secret_hash if row is not None else None, secret)
        return _record(row) if ok and row is not None else None  # type: ignore[arg-type]

    async def onboard(
        self, *, source: str, username: str, email: str, realname: str, sysadmin: bool | None,
        oidc_subiss: str | None = None, group_ids: list[int] | None = None,
    ) -> UserRecord:
        """Create or refresh a user that an external provider (LDAP, OIDC) vouched for, with its groups.
        An account of another source (the local admin, say) is never adopted: Conflict."""
        problem = name_problem(username)
        if problem:
            raise BadRequest(problem)
        now = utcnow()
        async with self._db.write() as conn:
            key = User.oidc_subiss == oidc_subiss if oidc_subiss else User.username == username
            row = (await conn.execute(select(User).where(key))).first()
            if row is not None and (row.source != source or row.id == ADMIN_ID):
                raise Conflict(f"username {username} belongs to a {row.source} account")
            if row is None:
                clash = await conn.scalar(select(User.id).where(User.username == username))
                if clash is not None:
                    raise Conflict(f"username {username} is already used by another account")
                email_clash = email and await conn.scalar(select(User.id).where(User.email == email))
                user_id = await conn.scalar(
                    self._db.insert(User).values(
                        username=username, email=None if (not email or email_clash) else email,
                        realname=realname or username, comment="", password_hash=None,
                        sysadmin=bool(sysadmin), source=source, oidc_subiss=oidc_subiss,
                        created_at=now, updated_at=now,
                    ).returning(User.id)
                )
            else:
                user_id = row.id
                values: dict[str, object] = {"updated_at": now}
                if sysadmin is not None:
                    values["sysadmin"] = sysadmin
                if realname:
                    values["realname"] = realname
                await conn.execute(update(User).where(User.id == user_id).values(**values))
            if group_ids is not None:
                await conn.execute(delete(UserGroupMember).where(UserGroupMember.user_id == user_id))
                for group_id in sorted(set(group_ids)):
                    await conn.execute(self._db.insert(UserGroupMember).values(user_id=user_id, group_id=group_id))
        self._changed()
        return await self.get(int(user_id))

    async def count_others(self) -> int:
        async with self._db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(User).where(User.id != ADMIN_ID)) or 0)

    async def ensure_admin(self, password: str) -> bool:
        """Create user 1, `admin`, on first start. True when it was created now."""
        async with self._db.read() as conn:
            exists = await conn.scalar(select(User.id).where(User.id == ADMIN_ID))
        if exists is not None:
            return False
        password_hash = await hash_off_loop(password)
        now = utcnow()
        async with self._db.write() as conn:
            if await conn.scalar(select(User.id).where(User.id == ADMIN_ID)) is not None:
                return False
            await conn.execute(
                self._db.insert(User).values(
                    id=ADMIN_ID, username="admin", email="admin@berth.invalid", realname="system admin",
                    comment="admin user", password_hash=password_hash, sysadmin=True, source="db",
                    created_at=now, updated_at=now,
                ).on_conflict_do_nothing()
            )
            if not self._db.is_sqlite:  # an explicit id does not move PostgreSQL's sequence
                await conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))"))
        return True


def _event(operation: str, username: str, detail: str = "") -> ResourceChanged:
    """For the audit log, in Harbor's words ("update user with name: bob, change user password")."""
    return ResourceChanged(resource_type="user", operation=operation, resource=username,
                           description=f"{operation} user with name: {username}{detail}")
