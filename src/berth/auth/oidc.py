"""OpenID Connect login as Harbor does it: discovery, authorization code with PKCE and a nonce,
ID-token verification against the provider's JWKS, userinfo merge and Harbor's claim mapping."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import structlog

log = structlog.get_logger("berth.oidc")

DISCOVERY_PATH = "/.well-known/openid-configuration"
_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# clock skew tolerated on exp/iat/nbf
_LEEWAY_SECONDS = 60
# signature algorithms we accept on ID tokens, by the key type each needs; never HS* or "none"
_KEY_TYPE_OF_ALGORITHM = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    **dict.fromkeys(("ES256", "ES384", "ES512"), "EC"),
    "EdDSA": "OKP",
}
# the authorize parameters this module owns; extra_redirect_params cannot replace them
_PROTOCOL_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "nonce"}
    | {"code_challenge", "code_challenge_method"}
)
_GOOGLE = "https://accounts.google.com"
_ACCEPT_JSON = {"Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class OidcConfig:
    endpoint: str  # issuer URL; discovery at <endpoint>/.well-known/openid-configuration
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = "openid,profile,email,offline_access"  # Harbor stores it comma-separated
    verify_cert: bool = True
    user_claim: str = ""  # claim used as the username; "" -> Harbor's default (see identity_from_claims)
    groups_claim: str = ""  # e.g. "groups"
    admin_group: str = ""  # members become system admins
    group_filter: str = ""  # regex searched in each group name; only matching groups are kept
    extra_redirect_params: str = ""  # JSON object of strings added to the authorize URL
    auto_onboard: bool = False  # read by the callback handler: onboard without asking for a name


@dataclass(frozen=True, slots=True)
class OidcLoginState:
    """What the server keeps (in a signed cookie) between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str
    username: str  # "" when no claim gave one: the user must pick a name (Harbor's onboard page)
    email: str
    realname: str
    groups: tuple[str, ...]  # after group_filter
    is_admin: bool  # member of admin_group (decided before group_filter, as Harbor does)


class OidcError(Exception):
    """Clear one-line reason (discovery failed, state mismatch, token invalid, ...)."""


@dataclass(frozen=True, slots=True)
class _Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    auth_methods: tuple[str, ...]
    id_token_algorithms: frozenset[str]
    iss_in_response: bool  # RFC 9207: the callback must carry iss


class OidcClient:
    """One provider and one client registration; build a new one when the settings change."""

    def __init__(self, config: OidcConfig, http: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._scopes = parse_scopes(config.scope)
        if "openid" not in self._scopes:
            raise OidcError(f"OIDC scope {config.scope!r} does not include openid")
        self._extra_params = parse_extra_redirect_params(config.extra_redirect_params)
        self._owns_http = http is None
        # a caller-supplied client brings its own TLS settings; verify_cert only shapes ours
        self._http = http or httpx.AsyncClient(verify=config.verify_cert, timeout=_TIMEOUT)
        self._discovery: _Discovery | None = None
        self._jwks: dict[str | None, dict[str, Any]] | None = None
        self._jwks_lock = asyncio.Lock()
        self._auth_method: str | None = None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> OidcClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def ping(self) -> None:
        """Fetch discovery and the JWKS afresh (Harbor's "test OIDC server"); OidcError unless sane."""
        self._discovery = await self._fetch_discovery()
        self._jwks = _signature_keys(await self._get_json(self._discovery.jwks_uri, "JWKS"))

    async def begin_login(self, redirect_uri: str) -> tuple[str, OidcLoginState]:
        """The provider's authorize URL to send the browser to, and the state to keep until the callback."""
        discovery = await self._get_discovery()
        login = OidcLoginState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters, inside RFC 7636's 43..128
            redirect_uri=redirect_uri,
        )
        scopes = self._scopes
        params: dict[str, str] = dict(self._extra_params)
        if discovery.authorization_endpoint.startswith(_GOOGLE):
            # Google refuses offline_access and wants these instead to hand out a refresh token
            scopes = [s for s in scopes if s != "offline_access"]
            params |= {"access_type": "offline", "prompt": "consent"}
        params |= {
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": _code_challenge(login.code_verifier),
            "code_challenge_method": "S256",
        }
        return _add_query(discovery.authorization_endpoint, params), login

    async def finish_login(self, state: OidcLoginState, callback_query: Mapping[str, str]) -> OidcIdentity:
        """Check the callback, redeem the code, verify the ID token, merge userinfo, map the claims."""
        discovery = await self._get_discovery()
        code = check_callback(state, callback_query, discovery.issuer, discovery.iss_in_response)
        tokens = await self._exchange_code(code, state)
        id_claims = await self.verify_id_token(tokens["id_token"], nonce=state.nonce)
        userinfo = await self._fetch_userinfo(tokens["access_token"])
        return identity_from_claims(self._config, id_claims, userinfo)

    async def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of an ID token this provider signed for this client, unexpired; OidcError otherwise."""
        discovery = await self._get_discovery()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"ID token is malformed: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in discovery.id_token_algorithms:
            raise OidcError(f"ID token signed with unaccepted algorithm {alg!r}")
        if kid is not None and not isinstance(kid, str):
            raise OidcError("ID token header has a malformed kid")
        candidates = await self._signing_keys(kid)
        if not candidates:
            raise OidcError(f"ID token signed with key {kid!r}, which the provider's JWKS does not list")
        claims: dict[str, Any] | None = None
        for jwk in candidates:
            if jwk.get("alg", alg) != alg or jwk.get("kty") != _KEY_TYPE_OF_ALGORITHM[alg]:
                continue
            try:
                key = jwt.PyJWK(jwk, algorithm=alg).key
                claims = jwt.decode(
                    id_token,
                    key=key,
                    algorithms=[alg],
                    audience=self._config.client_id,
                    issuer=discovery.issuer,
                    leeway=_LEEWAY_SECONDS,
                    options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue  # without a kid every key is a candidate; try the next
            except jwt.PyJWTError as exc:
                raise OidcError(f"ID token rejected: {exc}") from None
        if claims is None:
            raise OidcError("ID token signature does not verify against the provider's JWKS")
        # OIDC Core 3.1.3.7: with several audiences, azp must name us
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self._config.client_id:
            raise OidcError("ID token was issued to another party (azp)")
        if nonce is not None and not _same(claims.get("nonce"), nonce):
            raise OidcError("ID token nonce does not match the login")
        return claims

    async def _get_discovery(self) -> _Discovery:
        if self._discovery is None:
            self._discovery = await self._fetch_discovery()
        return self._discovery

    async def _fetch_discovery(self) -> _Discovery:
        url = self._config.endpoint.rstrip("/") + DISCOVERY_PATH
        doc = await self._get_json(url, "discovery")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self._config.endpoint.rstrip("/"):
            raise OidcError(f"discovery at {url} names issuer {issuer!r}, not {self._config.endpoint!r}")

        def endpoint(name: str) -> str:
            value = doc.get(name)
            if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
                raise OidcError(f"discovery at {url} has no valid {name}")
            return value

        userinfo = doc.get("userinfo_endpoint")
        # the defaults are the ones OpenID Connect Discovery 1.0 prescribes for absent fields
        methods = _strings(doc.get("token_endpoint_auth_methods_supported")) or ["client_secret_basic"]
        algorithms = _strings(doc.get("id_token_signing_alg_values_supported")) or ["RS256"]
        return _Discovery(
            issuer=issuer,
            authorization_endpoint=endpoint("authorization_endpoint"),
            token_endpoint=endpoint("token_endpoint"),
            jwks_uri=endpoint("jwks_uri"),
            userinfo_endpoint=userinfo if isinstance(userinfo, str) else "",
            auth_methods=tuple(methods),
            id_token_algorithms=frozenset(a for a in algorithms if a in _KEY_TYPE_OF_ALGORITHM),
            iss_in_response=doc.get("authorization_response_iss_parameter_supported") is True,
        )

    async def _signing_keys(self, kid: str | None) -> list[dict[str, Any]]:
        """JWKs that may have signed a token with this kid, fetching the set again once if kid is new."""
        discovery = await self._get_discovery()
        seen = self._jwks
        if seen is None or (kid is not None and kid not in seen):
            async with self._jwks_lock:
                # a concurrent login may have refreshed the set while we waited
                if self._jwks is seen:
                    self._jwks = _signature_keys(await self._get_json(discovery.jwks_uri, "JWKS"))
        keys = self._jwks or {}
        if kid is None:
            return list(keys.values())
        return [keys[kid]] if kid in keys else []

    async def _exchange_code(self, code: str, state: OidcLoginState) -> dict[str, Any]:
        discovery = await self._get_discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": state.redirect_uri,
            "code_verifier": state.code_verifier,
        }
        methods = [m for m in ("client_secret_basic", "client_secret_post") if m in discovery.auth_methods]
        if not methods:
            raise OidcError("provider supports neither client_secret_basic nor client_secret_post")
        if self._auth_method in methods:
            methods = [self._auth_method]
        method = methods[0]
        response = await self._post_token(discovery.token_endpoint, form, method)
        if len(methods) > 1 and _oauth_error(response)[0] == "invalid_client":
            # as Go's oauth2 auto-detection (so Harbor) does: the client may be registered for the other
            method = methods[1]
            response = await self._post_token(discovery.token_endpoint, form, method)
        if response.status_code != 200:
            error, description = _oauth_error(response)
            raise OidcError(f"token exchange failed ({response.status_code}): {error} {description}".rstrip())
        self._auth_method = method
        tokens = _json_object(response, "token response")
        for name in ("id_token", "access_token"):
            if not isinstance(tokens.get(name), str) or not tokens[name]:
                raise OidcError(f"token response has no {name}")
        return tokens

    async def _post_token(self, url: str, form: dict[str, str], method: str) -> httpx.Response:
        headers = _ACCEPT_JSON
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: both halves are form-encoded before base64
            auth: httpx.Auth | None = httpx.BasicAuth(
                quote(self._config.client_id, safe=""), quote(self._config.client_secret, safe="")
            )
        else:
            auth = None
            form = form | {"client_id": self._config.client_id, "client_secret": self._config.client_secret}
        try:
            return await self._http.post(url, data=form, headers=headers, auth=auth)
        except httpx.HTTPError as exc:
            raise OidcError(f"token endpoint {url} unreachable: {_describe(exc)}") from None

    async def _fetch_userinfo(self, access_token: str) -> dict[str, Any] | None:
        """Userinfo claims, or None (Harbor falls back to the ID token when the endpoint fails)."""
        discovery = await self._get_discovery()
        if not discovery.userinfo_endpoint:
            return None
        try:
            response = await self._http.get(
                discovery.userinfo_endpoint,
                headers=_ACCEPT_JSON | {"Authorization": f"Bearer {access_token}"},
            )
        except httpx.HTTPError as exc:
            log.warning("oidc userinfo unreachable, using the ID token alone", error=_describe(exc))
            return None
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if response.status_code != 200 or not is_json:
            # signed (application/jwt) userinfo is not supported; the ID token still stands
            log.warning("oidc userinfo refused, using the ID token alone", status=response.status_code)
            return None
        try:
            return _json_object(response, "userinfo")
        except OidcError as exc:
            log.warning("oidc userinfo unreadable, using the ID token alone", error=str(exc))
            return None

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers=_ACCEPT_JSON, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise OidcError(f"{what} at {url} unreachable: {_describe(exc)}") from None
        if response.status_code != 200:
            raise OidcError(f"{what} at {url} answered {response.status_code}")
        return _json_object(response, f"{what} at {url}")


def parse_scopes(scope: str) -> list[str]:
    """Harbor's comma-separated scope setting (spaces tolerated) as a de-duplicated list."""
    return list(dict.fromkeys(s for s in re.split(r"[,\s]+", scope) if s))


def parse_extra_redirect_params(raw: str) -> dict[str, str]:
    """The extra_redirect_params setting: a JSON object of strings, as Harbor's map[string]string."""
    if not raw.strip():
        return {}
    try:
        params = json.loads(raw)
    except ValueError:
        raise OidcError("extra_redirect_params is not valid JSON") from None
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise OidcError("extra_redirect_params must be a JSON object of strings")
    return {k: v for k, v in params.items() if k not in _PROTOCOL_PARAMS}


def check_callback(
    state: OidcLoginState, query: Mapping[str, str], issuer: str, iss_required: bool = False
) -> str:
    """The authorization code from a callback query, after Harbor's checks (state first, then error)."""
    if not _same(query.get("state"), state.state):
        raise OidcError("state mismatch: the callback does not belong to this login")
    if query.get("error"):
        description = query.get("error_description", "")
        raise OidcError(f"provider returned error: {query['error']} {description}".rstrip())
    # RFC 9207: a callback naming another issuer is a mix-up attack
    iss = query.get("iss")
    if (iss is not None or iss_required) and iss != issuer:
        raise OidcError(f"callback issuer {iss!r} is not {issuer!r}")
    code = query.get("code")
    if not code:
        raise OidcError("callback has no authorization code")
    return code


def identity_from_claims(
    config: OidcConfig, id_claims: Mapping[str, Any], userinfo: Mapping[str, Any] | None
) -> OidcIdentity:
    """Harbor's mapping of verified ID-token claims plus userinfo onto a user.

    Username: user_claim from the ID token, then from userinfo; else `name` (userinfo, then ID
    token), as Harbor; then preferred_username, which Harbor lacks; else "" (ask the user).
    Email and real name prefer userinfo; groups come from userinfo when it has the claim.
    """
    remote: Mapping[str, Any] = userinfo or {}
    if remote and remote.get("sub") != id_claims.get("sub"):
        # Harbor: "probably a security attack happened"
        raise OidcError("userinfo subject does not match the ID token subject")

    def first_string(claim: str, *sources: Mapping[str, Any]) -> str:
        for source in sources:
            value = source.get(claim)
            if isinstance(value, str) and value:
                return value
        return ""

    username = ""
    if config.user_claim:
        username = first_string(config.user_claim, id_claims, remote)
        if not username:
            log.warning("oidc user claim missing or not a string", claim=config.user_claim)
    username = (
        username
        or first_string("name", remote, id_claims)
        or first_string("preferred_username", remote, id_claims)
    )
    groups: list[str] = []
    if config.groups_claim:
        source = remote if config.groups_claim in remote else id_claims
        groups = groups_from_claim(source.get(config.groups_claim))
    return OidcIdentity(
        issuer=str(id_claims["iss"]),
        subject=str(id_claims["sub"]),
        username=username,
        email=first_string("email", remote, id_claims),
        realname=first_string("name", remote, id_claims),
        groups=tuple(filter_groups(groups, config.group_filter)),
        is_admin=bool(config.admin_group) and config.admin_group in groups,
    )


def groups_from_claim(value: Any) -> list[str]:
    """A groups claim as a list: some providers send one group as a plain string; non-strings are dropped."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


def filter_groups(groups: list[str], pattern: str) -> list[str]:
    """Groups the filter regex finds a match in; an invalid filter keeps them all, as in Harbor."""
    if not pattern:
        return groups
    try:
        compiled = re.compile(pattern)
    except re.error:
        log.error("oidc group filter is not a valid regular expression; keeping every group", filter=pattern)
        return groups
    return [g for g in groups if compiled.search(g)]


def _signature_keys(jwks: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    """The JWKS's public signature keys by kid; encryption keys and shared secrets never verify here."""
    keys = jwks.get("keys")
    usable = {
        jwk.get("kid"): jwk
        for jwk in (keys if isinstance(keys, list) else [])
        if isinstance(jwk, dict) and jwk.get("use", "sig") == "sig" and jwk.get("kty") in ("RSA", "EC", "OKP")
    }
    if not usable:
        raise OidcError("JWKS has no signature keys")
    return usable


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _add_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise OidcError(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise OidcError(f"{what} is not a JSON object")
    return body


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    """(error, error_description) of an OAuth error response; never echoes anything else of the body."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error, description = body.get("error"), body.get("error_description")
    return (error if isinstance(error, str) else "", description if isinstance(description, str) else "")


def _same(received: object, expected: str) -> bool:
    return isinstance(received, str) and hmac.compare_digest(received.encode(), expected.encode())


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


def _code_challenge(verifier: str) -> str:
    """RFC 7636's S256 challenge, by authlib, imported at the first OIDC login (authlib is 8 MiB)."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    return create_s256_code_challenge(verifier)
