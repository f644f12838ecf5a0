"""Docker registry bearer tokens: scope parsing, RS256 JWTs as Harbor's token service signs them."""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from berth.auth.rbac import Subject
from berth.security.keys import TokenKeyRing
from berth.services.cache import LruCache

ISSUER = "harbor-token-issuer"
SERVICE = "harbor-registry"
_ACTION = re.compile(r"^[a-z*-]{1,32}$")
_TYPE = re.compile(r"^[a-z0-9_-]{1,64}$")
MAX_SCOPES = 32


class ScopeInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> list[Scope]:
    """`type:name:actions` (the name may hold colons, e.g. a port); one query value may hold several,
    separated by spaces, as docker sends them."""
    scopes = []
    for part in text.split():
        first, last = part.find(":"), part.rfind(":")
        if first <= 0 or last == first:
            raise ScopeInvalid(f"malformed scope {part[:200]!r}: expected type:name:actions")
        kind, name, actions = part[:first], part[first + 1:last], part[last + 1:]
        if not _TYPE.match(kind) or not name or len(name) > 512:
            raise ScopeInvalid(f"malformed scope {part[:200]!r}")
        action_list = tuple(dict.fromkeys(a for a in actions.split(",") if a))
        if any(not _ACTION.match(a) for a in action_list):
            raise ScopeInvalid(f"malformed actions in scope {part[:200]!r}")
        scopes.append(Scope(kind, name, action_list))
    return scopes


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    scopes = [scope for value in values for scope in parse_scope(value)]
    if len(scopes) > MAX_SCOPES:
        raise ScopeInvalid(f"too many scopes: at most {MAX_SCOPES}")
    return scopes


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    issued_at: float
    expires_at: float
    access: dict[str, frozenset[str]]  # repository name -> actions
    catalog: bool
    #: the Subject a request with this token acts as (built once: the hot path only looks it up)
    holder: Subject


class TokenInvalid(Exception):
    pass


class TokenIssuer:
    def __init__(self, keys: TokenKeyRing) -> None:
        self.keys = keys
        # verifying RS256 costs ~40 µs: the hot path checks a token once, then trusts this cache
        self._verified: LruCache[str, VerifiedToken] = LruCache(max_entries=20_000)
        self._reloaded = 0.0

    def issue(self, subject: str, access: list[dict[str, Any]], expires_in: int) -> tuple[str, float]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + expires_in,
            "nbf": now,
            "iat": now,
            "jti": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16)),
            "access": access,
        }
        key = self.keys.signing
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid}), float(now)

    def scanner_pull(self, repository: str, expires_in: int) -> str:
        """What Harbor's scan job hands an adapter: a token to pull one repository, with the
        `scanner-pull` action that lets it past the vulnerability pull policy."""
        access = [{"type": "repository", "name": repository, "actions": ["pull", "scanner-pull"]}]
        return self.issue("scanner", access, expires_in)[0]

    def verify(self, token: str) -> VerifiedToken:
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None:
            if cached.expires_at <= now:
                self._verified.discard(token)
                raise TokenInvalid("token has expired")
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalid("malformed token") from None
        if header.get("alg") != "RS256":
            raise TokenInvalid("token is not signed with RS256")
        kid = str(header.get("kid", ""))
        key = self.keys.by_kid(kid)
        if key is None and now - self._reloaded > 10:
            # another node, or `berth rotate-token-key`, may have added a key since this one started
            self._reloaded = now
            self.keys.reload()
            key = self.keys.by_kid(kid)
        if key is None:
            raise TokenInvalid("token is signed by an unknown key")
        try:
            claims = jwt.decode(
                token, key.public, algorithms=["RS256"], audience=SERVICE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid token: {exc}") from None
        access: dict[str, frozenset[str]] = {}
        catalog = False
        for entry in claims.get("access") or []:
            if not isinstance(entry, dict):
                continue
            actions = frozenset(str(a) for a in entry.get("actions") or [])
            if entry.get("type") == "repository":
                access[str(entry.get("name"))] = access.get(str(entry.get("name")), frozenset()) | actions
            elif entry.get("type") == "registry" and entry.get("name") == "catalog" and "*" in actions:
                catalog = True
        holder = Subject(name=str(claims["sub"]), kind="token", access=access, issued_at=float(claims["iat"]),
                         catalog=catalog)
        verified = VerifiedToken(str(claims["sub"]), float(claims["iat"]), float(claims["exp"]), access, catalog, holder)
        self._verified.put(token, verified)
        return verified
