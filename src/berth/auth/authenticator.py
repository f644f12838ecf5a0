"""Who is asking: turns an Authorization header (Basic or Bearer) or a session into a Subject.

Basic credentials are checked by the configured provider (local database, LDAP, or the OIDC CLI
secret), or as a robot when the name has the robot prefix. A successful check is remembered for a
minute under a hash of the credentials, so a CI job that sends Basic auth on every request does not
pay an argon2 check each time; any change to users, members or robots forgets every entry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from dataclasses import dataclass

import structlog

from berth.auth.ldap_settings import LdapConfig, LdapError
from berth.auth.rbac import ANONYMOUS, Subject
from berth.auth.ratelimit import LoginLimiter
from berth.auth.tokens import TokenInvalid, TokenIssuer
from berth.services.configurations import ConfigurationService
from berth.services.errors import BadRequest, Conflict, Unauthorized
from berth.services.projects import ProjectService
from berth.services.robots import RobotRecord, RobotService
from berth.services.usergroups import LDAP_GROUP, UserGroupService
from berth.services.users import UserRecord, UserService

log = structlog.get_logger("berth.auth")
_REMEMBER_SECONDS = 60.0


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) from `Basic base64(user:password)`, or None when it is not Basic auth."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed Basic credentials")
    return user, password


def ldap_config(values: dict) -> LdapConfig:  # type: ignore[type-arg]
    return LdapConfig(
        url=values["ldap_url"], search_dn=values["ldap_search_dn"], search_password=values["ldap_search_password"],
        base_dn=values["ldap_base_dn"], filter=values["ldap_filter"], uid=values["ldap_uid"] or "cn",
        scope=values["ldap_scope"], timeout=values["ldap_timeout"], verify_cert=values["ldap_verify_cert"],
        group_base_dn=values["ldap_group_base_dn"], group_search_filter=values["ldap_group_search_filter"],
        group_attribute_name=values["ldap_group_attribute_name"] or "cn",
        group_search_scope=values["ldap_group_search_scope"], group_admin_dn=values["ldap_group_admin_dn"],
        group_membership_attribute=values["ldap_group_membership_attribute"] or "memberof",
    )


@dataclass(frozen=True, slots=True)
class _Remembered:
    """Who a checked password belongs to; roles are looked up afresh (from their own cache)."""

    principal: UserRecord | RobotRecord
    until: float
    versions: tuple[int, int, int]


class Authenticator:
    def __init__(
        self, users: UserService, projects: ProjectService, robots: RobotService, groups: UserGroupService,
        configurations: ConfigurationService, tokens: TokenIssuer, limiter: LoginLimiter | None = None,
    ) -> None:
        self.users = users
        self.projects = projects
        self.robots = robots
        self.groups = groups
        self.configurations = configurations
        self.tokens = tokens
        self.limiter = limiter or LoginLimiter()
        #: mirror mode's proxy projects (Settings.mirror_projects): the token service grants pull there too
        self.mirror_projects: dict[str, str] = {}
        self._remembered: dict[bytes, _Remembered] = {}

    def _versions(self) -> tuple[int, int, int]:
        """What a remembered login depends on: users (passwords, admin flags, groups), robots, the auth mode."""
        return (self.users.version, self.robots.version, self.configurations.version)

    # --- subjects --------------------------------------------------------------------------------

    async def subject_for_user(self, user: UserRecord) -> Subject:
        roles = await self.projects.roles_of(user.id)
        return Subject(name=user.username, sysadmin=user.sysadmin, roles=roles, kind="user", user_id=user.id)

    def subject_for_robot(self, robot: RobotRecord, prefix: str) -> Subject:
        return Subject(
            name=prefix + robot.name, kind="robot", robot_id=robot.id,
            grants=robot.project_grants(), system_grants=robot.system_grants(),
            expires_at=None if robot.expires_at == -1 else float(robot.expires_at),
        )

    def subject_for_token(self, token: str) -> Subject:
        try:
            return self.tokens.verify(token).holder
        except TokenInvalid as exc:
            raise Unauthorized(str(exc)) from None

    async def subject_by_name(self, name: str) -> Subject:
        """The full Subject behind a token's `sub` (the token proved who it is); anonymous if gone."""
        prefix = await self.configurations.get("robot_name_prefix")
        if name.startswith(prefix):
            robot = await self.robots.find_by_name(name[len(prefix):])
            if robot is None or robot.disabled or robot.expired():
                return ANONYMOUS
            return self.subject_for_robot(robot, prefix)
        user = await self.users.find_by_name(name) if name else None
        return ANONYMOUS if user is None else await self.subject_for_user(user)

    # --- credentials -----------------------------------------------------------------------------

    async def from_authorization(self, header: str | None, address: str, *, bearer: bool) -> Subject:
        """The Subject for a request; ANONYMOUS without credentials; Unauthorized for bad ones."""
        if not header:
            return ANONYMOUS
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and bearer:
            return self.subject_for_token(value.strip())
        credentials = parse_basic(header)
        if credentials is None:
            raise Unauthorized(f"unsupported authorization scheme {scheme[:20]!r}")
        return await self.login(*credentials, address)

    async def login(self, username: str, password: str, address: str) -> Subject:
        """Check a user name (or robot name) and password; Unauthorized when wrong, 429 when throttled."""
        key = hashlib.sha256(f"{username}\0{password}".encode()).digest()
        remembered = self._remembered.get(key)
        now = time.monotonic()
        if remembered is not None and remembered.until > now and remembered.versions == self._versions():
            return await self._subject(remembered.principal)
        self.limiter.check(username, address)
        versions = self._versions()
        principal, reason = await self._check(username, password)
        if principal is None:
            self.limiter.failed(username, address)
            log.info("login refused", username=username[:255], client=address, reason=reason)
            raise Unauthorized("invalid credentials")
        self.limiter.succeeded(username, address)
        if len(self._remembered) > 10_000:
            self._remembered.clear()
        until = now + _REMEMBER_SECONDS
        if isinstance(principal, RobotRecord) and principal.expires_at != -1:
            until = min(until, now + principal.expires_at - time.time())  # never remembered past its expiry
        self._remembered[key] = _Remembered(principal, until, versions)
        return await self._subject(principal)

    async def _subject(self, principal: UserRecord | RobotRecord) -> Subject:
        if isinstance(principal, RobotRecord):
            return self.subject_for_robot(principal, await self.configurations.get("robot_name_prefix"))
        return await self.subject_for_user(principal)

    async def _check(self, username: str, password: str) -> tuple[UserRecord | RobotRecord | None, str]:
        if not username or not password:
            return None, "empty user name or password"
        config = await self.configurations.all()
        prefix = config["robot_name_prefix"]
        if username.startswith(prefix):
            return await self.robots.check(username[len(prefix):], password)
        mode = config["auth_mode"]
        user: UserRecord | None = None
        if mode == "db_auth":
            user = await self.users.check_password(username, password)
        elif username.strip().lower() == "admin":
            # the local admin keeps its password in every mode; no directory spelling of the name reaches it
            user = await self.users.check_password("admin", password)
        elif mode == "ldap_auth":
            user = await self._ldap_login(config, username, password)
        elif mode == "oidc_auth":
            user = await self.users.check_cli_secret(username, password)
        if user is None:
            return None, "wrong user name or password"
        return user, ""

    async def _ldap_login(self, config: dict, username: str, password: str) -> UserRecord | None:  # type: ignore[type-arg]
        from berth.auth import ldap as ldap_provider  # loaded on the first LDAP login

        settings = ldap_config(config)
        try:
            found = await asyncio.to_thread(ldap_provider.authenticate, settings, username, password)
        except LdapError as exc:
            log.warning("LDAP login failed", username=username[:255], error=str(exc))
            return None
        if found is None:
            return None
        group_ids = []
        for dn in found.group_dns:
            if settings.group_base_dn and not dn.lower().endswith(settings.group_base_dn.lower()):
                continue
            name = dn.split(",", 1)[0].partition("=")[2] or dn
            group_ids.append((await self.groups.ensure(LDAP_GROUP, name, dn)).id)
        admin = ldap_provider.is_admin(settings, found) if settings.group_admin_dn else None
        try:
            user = await self.users.onboard(
                source="ldap", username=found.username, email=found.email, realname=found.realname,
                sysadmin=admin, group_ids=group_ids,
            )
        except (Conflict, BadRequest) as exc:
            log.warning("LDAP login refused", username=username[:255], reason=exc.message)
            return None
        self.projects.groups_changed()
        return user

    def forget(self) -> None:
        self._remembered.clear()
