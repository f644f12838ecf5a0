"""Browser sessions: a random `sid` cookie (only its SHA-256 stored) and a CSRF token for unsafe methods.

A cookie-authenticated POST/PUT/PATCH/DELETE must carry the session's CSRF token in the
`X-Harbor-CSRF-Token` header (Harbor's name), which a page reads from the `__csrf` cookie; another
site can make the browser send the cookie, but cannot read it to copy it into a header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import Response

from berth.auth.authenticator import Authenticator
from berth.auth.rbac import Subject
from berth.db.models import WebSession, utcnow
from berth.db.session import Database
from berth.services.errors import Forbidden

SESSION_COOKIE = "sid"
CSRF_COOKIE = "__csrf"
CSRF_HEADER = "x-harbor-csrf-token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database, auth: Authenticator, secure_cookies: bool) -> None:
        self._db = db
        self._auth = auth
        self._secure = secure_cookies

    async def start(self, user_id: int, response: Response) -> None:
        """Open a session for `user_id` and set its cookies on `response`."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        minutes = int(await self._auth.configurations.get("session_timeout"))
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(delete(WebSession).where(WebSession.expires_at < now))
            await conn.execute(
                self._db.insert(WebSession).values(
                    id_hash=_digest(sid), user_id=user_id, csrf_token=csrf, created_at=now,
                    expires_at=now + timedelta(minutes=minutes),
                )
            )
        response.set_cookie(SESSION_COOKIE, sid, max_age=minutes * 60, httponly=True, samesite="lax", secure=self._secure)
        response.set_cookie(CSRF_COOKIE, csrf, max_age=minutes * 60, httponly=False, samesite="strict", secure=self._secure)

    async def end(self, request: Request, response: Response) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            async with self._db.write() as conn:
                await conn.execute(delete(WebSession).where(WebSession.id_hash == _digest(sid)))
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(CSRF_COOKIE)

    async def subject(self, request: Request, *, csrf_checked: bool = False) -> Subject | None:
        """The session's user, or None without a live session. Unsafe methods need the CSRF header,
        unless the front checked its own CSRF token already (`csrf_checked`: the web UI's forms)."""
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(WebSession.user_id, WebSession.csrf_token, WebSession.expires_at).where(
                        WebSession.id_hash == _digest(sid)
                    )
                )
            ).first()
        if row is None or _aware(row.expires_at) <= utcnow():
            return None
        if request.method in _UNSAFE and not csrf_checked:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), row.csrf_token.encode()):
                raise Forbidden("CSRF token invalid")
        user = await self._auth.users.get(row.user_id)
        return await self._auth.subject_for_user(user)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
