"""OIDC login against a real OpenID provider (oidc-provider on Node): PKCE, state, nonce,
ID-token checks, userinfo merge and Harbor's claim mapping."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from urllib.parse import quote

import httpx
import pytest

from berth.auth.oidc import (
    DISCOVERY_PATH,
    OidcClient,
    OidcConfig,
    OidcError,
    OidcIdentity,
    OidcLoginState,
    identity_from_claims,
)
from tests.oidc_server import OidcServer, browser_login, oidc_provider  # noqa: F401  (fixture)

# never requested: browser_login stops at it; any 127.0.0.1 port matches the registration
REDIRECT_URI = "http://127.0.0.1:8080/c/oidc/callback"
# for the checks that need no provider
OFFLINE = OidcConfig("https://idp.example", "berth", "secret", groups_claim="groups")


@pytest.fixture
def config(oidc_provider: OidcServer) -> OidcConfig:
    return OidcConfig(
        endpoint=oidc_provider.issuer,
        client_id=oidc_provider.client_id,
        client_secret=oidc_provider.client_secret,
        groups_claim="groups",
    )


@pytest.fixture
async def client(config: OidcConfig) -> AsyncIterator[OidcClient]:
    async with OidcClient(config) as oidc:
        yield oidc


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def other_client_config(config: OidcConfig, server: OidcServer) -> OidcConfig:
    return replace(config, client_id=server.other_client_id, client_secret=server.other_client_secret)


def callback_query(url: str) -> dict[str, str]:
    return dict(httpx.URL(url).params)


async def sign_in(
    oidc: OidcClient, browser: httpx.Client, username: str
) -> tuple[OidcLoginState, dict[str, str]]:
    authorize_url, state = await oidc.begin_login(REDIRECT_URI)
    return state, callback_query(browser_login(browser, authorize_url, username))


async def login(oidc: OidcClient, browser: httpx.Client, username: str) -> OidcIdentity:
    state, query = await sign_in(oidc, browser, username)
    return await oidc.finish_login(state, query)


class _Recorder(httpx.AsyncBaseTransport):
    """Counts requests per path; can serve the JWKS as it looked before a key rotation."""

    def __init__(self, stale_jwks_responses: int = 0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths: list[str] = []
        self.stale_jwks_responses = stale_jwks_responses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/jwks" and self.paths.count("/jwks") <= self.stale_jwks_responses:
            keys = json.loads(await response.aread())["keys"]
            renamed = [key | {"kid": f"{key['kid']}-before-rotation"} for key in keys]
            return httpx.Response(200, json={"keys": renamed})
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_alice_logs_in_with_name_email_and_groups(
    client: OidcClient, browser: httpx.Client, oidc_provider: OidcServer
) -> None:
    identity = await login(client, browser, "alice")
    assert identity == OidcIdentity(
        issuer=oidc_provider.issuer,
        subject="alice",
        username="Alice Smith",  # Harbor's default username claim is "name"
        email="alice@example.com",
        realname="Alice Smith",
        groups=("developers", "ops-oncall"),
        is_admin=False,
    )


async def test_member_of_admin_group_is_admin(config: OidcConfig, browser: httpx.Client) -> None:
    async with OidcClient(replace(config, admin_group="harbor-admins")) as oidc:
        carol = await login(oidc, browser, "carol")
        assert (carol.subject, carol.is_admin) == ("carol", True)
        assert carol.groups == ("harbor-admins", "developers")
        browser.cookies.clear()  # a new browser: the provider would otherwise keep carol signed in
        assert (await login(oidc, browser, "alice")).is_admin is False


async def test_authorize_url_carries_pkce_s256_nonce_and_harbor_scopes(config: OidcConfig) -> None:
    extra = '{"ui_locales": "en", "state": "forged", "code_challenge_method": "plain"}'
    async with OidcClient(replace(config, extra_redirect_params=extra)) as oidc:
        url, state = await oidc.begin_login(REDIRECT_URI)
    params = httpx.URL(url).params
    digest = hashlib.sha256(state.code_verifier.encode()).digest()
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert (params["state"], params["nonce"]) == (state.state, state.nonce)
    assert params["scope"] == "openid profile email offline_access"
    assert (params["response_type"], params["client_id"]) == ("code", config.client_id)
    assert params["redirect_uri"] == state.redirect_uri == REDIRECT_URI
    assert params["ui_locales"] == "en"  # extra params pass; ones that would weaken the flow do not
    assert "code_verifier" not in url and state.code_verifier not in repr(state)


async def test_each_login_gets_fresh_state_nonce_and_verifier(client: OidcClient) -> None:
    _, first = await client.begin_login(REDIRECT_URI)
    _, second = await client.begin_login(REDIRECT_URI)
    assert first.state != second.state and first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier


async def test_tampered_or_missing_state_is_rejected(client: OidcClient, browser: httpx.Client) -> None:
    state, query = await sign_in(client, browser, "alice")
    with pytest.raises(OidcError, match="state mismatch"):
        await client.finish_login(state, query | {"state": query["state"][:-1] + "x"})
    with pytest.raises(OidcError, match="state mismatch"):
        await client.finish_login(state, {k: v for k, v in query.items() if k != "state"})
    # the untouched callback still works: the code was not spent on the rejected ones
    assert (await client.finish_login(state, query)).subject == "alice"


async def test_provider_error_callback_is_reported(client: OidcClient, browser: httpx.Client) -> None:
    authorize_url, state = await client.begin_login(REDIRECT_URI)
    query = callback_query(browser_login(browser, authorize_url, "alice", deny=True))
    assert query["error"] == "access_denied"
    with pytest.raises(OidcError, match="access_denied"):
        await client.finish_login(state, query)


async def test_callback_from_another_issuer_is_rejected(client: OidcClient, browser: httpx.Client) -> None:
    state, query = await sign_in(client, browser, "alice")
    with pytest.raises(OidcError, match="issuer"):
        await client.finish_login(state, query | {"iss": "http://evil.example"})
    # the provider advertises RFC 9207, so a callback without iss is refused as well
    with pytest.raises(OidcError, match="issuer"):
        await client.finish_login(state, {k: v for k, v in query.items() if k != "iss"})


async def test_code_cannot_be_redeemed_twice(client: OidcClient, browser: httpx.Client) -> None:
    state, query = await sign_in(client, browser, "alice")
    await client.finish_login(state, query)
    with pytest.raises(OidcError, match="invalid_grant"):
        await client.finish_login(state, query)


async def test_code_is_bound_to_its_pkce_verifier(client: OidcClient, browser: httpx.Client) -> None:
    state, query = await sign_in(client, browser, "alice")
    other_verifier = replace(state, code_verifier="x" * 64)
    with pytest.raises(OidcError, match="invalid_grant"):
        await client.finish_login(other_verifier, query)


async def test_client_registered_for_secret_post_falls_back_to_it_once(
    config: OidcConfig, browser: httpx.Client, oidc_provider: OidcServer
) -> None:
    recorder = _Recorder()
    async with httpx.AsyncClient(transport=recorder) as http:
        oidc = OidcClient(other_client_config(config, oidc_provider), http)
        assert (await login(oidc, browser, "alice")).subject == "alice"
        assert (await login(oidc, browser, "alice")).subject == "alice"
    # basic first (refused as invalid_client), then post, which the second login uses straight away
    assert recorder.paths.count("/token") == 3


def redeem_code(server: OidcServer, state: OidcLoginState, query: dict[str, str], client: OidcConfig) -> str:
    """The ID token for a callback's code, redeemed by hand as that client would."""
    token_endpoint = httpx.get(server.issuer + DISCOVERY_PATH).json()["token_endpoint"]
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": state.redirect_uri,
        "code_verifier": state.code_verifier,
    }
    if client.client_id == server.other_client_id:  # registered for client_secret_post
        form |= {"client_id": client.client_id, "client_secret": client.client_secret}
        auth = None
    else:
        auth = httpx.BasicAuth(quote(client.client_id, safe=""), quote(client.client_secret, safe=""))
    response = httpx.post(token_endpoint, data=form, auth=auth)
    response.raise_for_status()
    return response.json()["id_token"]


async def test_id_token_for_another_audience_or_nonce_is_rejected(
    config: OidcConfig, client: OidcClient, browser: httpx.Client, oidc_provider: OidcServer
) -> None:
    other = other_client_config(config, oidc_provider)
    async with OidcClient(other) as other_client:
        state, query = await sign_in(other_client, browser, "alice")
        id_token = redeem_code(oidc_provider, state, query, other)
        assert (await other_client.verify_id_token(id_token, nonce=state.nonce))["sub"] == "alice"
        with pytest.raises(OidcError, match="nonce"):
            await other_client.verify_id_token(id_token, nonce="another login")
    with pytest.raises(OidcError, match="[Aa]udience"):
        await client.verify_id_token(id_token, nonce=state.nonce)


async def test_tampered_id_token_is_rejected(
    config: OidcConfig, client: OidcClient, browser: httpx.Client, oidc_provider: OidcServer
) -> None:
    state, query = await sign_in(client, browser, "alice")
    header, payload, signature = redeem_code(oidc_provider, state, query, config).split(".")
    claims = base64.urlsafe_b64decode(payload + "==")
    forged = base64.urlsafe_b64encode(claims.replace(b'"alice"', b'"carol"')).rstrip(b"=").decode()
    with pytest.raises(OidcError, match="[Ss]ignature"):
        await client.verify_id_token(f"{header}.{forged}.{signature}", nonce=state.nonce)
    with pytest.raises(OidcError, match="malformed"):
        await client.verify_id_token("not-a-jwt")


async def test_group_filter_keeps_matching_groups(config: OidcConfig, browser: httpx.Client) -> None:
    filtered = replace(config, group_filter="^dev", admin_group="harbor-admins")
    async with OidcClient(filtered) as oidc:
        assert (await login(oidc, browser, "alice")).groups == ("developers",)
        browser.cookies.clear()
        carol = await login(oidc, browser, "carol")
    # as in Harbor, admin membership is decided on the groups before the filter
    assert (carol.groups, carol.is_admin) == (("developers",), True)


async def test_without_groups_claim_no_groups_are_read(config: OidcConfig, browser: httpx.Client) -> None:
    async with OidcClient(replace(config, groups_claim="", admin_group="harbor-admins")) as oidc:
        carol = await login(oidc, browser, "carol")
    assert (carol.groups, carol.is_admin) == ((), False)


async def test_single_string_group_and_username_fallback(client: OidcClient, browser: httpx.Client) -> None:
    dave = await login(client, browser, "dave")  # no "name" claim
    assert (dave.username, dave.realname, dave.groups) == ("dave", "", ("readers",))


@pytest.mark.parametrize(
    ("user_claim", "username"),
    [
        ("email", "alice@example.com"),
        ("preferred_username", "alice"),
        ("sub", "alice"),
        ("no_such_claim", "Alice Smith"),  # falls back to Harbor's default
    ],
)
async def test_user_claim_selects_the_username(
    config: OidcConfig, browser: httpx.Client, user_claim: str, username: str
) -> None:
    async with OidcClient(replace(config, user_claim=user_claim)) as oidc:
        assert (await login(oidc, browser, "alice")).username == username


async def test_ping_accepts_the_provider(client: OidcClient) -> None:
    await client.ping()


async def test_ping_fails_fast_on_a_dead_port(config: OidcConfig) -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    async with OidcClient(replace(config, endpoint=dead)) as oidc:
        with pytest.raises(OidcError, match="unreachable"):
            await oidc.ping()
    assert time.monotonic() - started < 2


async def test_ping_rejects_what_is_not_this_issuer(config: OidcConfig, oidc_provider: OidcServer) -> None:
    async with OidcClient(replace(config, endpoint=oidc_provider.issuer + "/nowhere")) as oidc:
        with pytest.raises(OidcError, match="404"):
            await oidc.ping()
    # same server under another name: the discovery document names a different issuer
    async with OidcClient(replace(config, endpoint=f"http://localhost:{oidc_provider.port}")) as oidc:
        with pytest.raises(OidcError, match="names issuer"):
            await oidc.ping()


def test_bad_settings_are_refused_up_front() -> None:
    with pytest.raises(OidcError, match="openid"):
        OidcClient(replace(OFFLINE, scope="profile,email"))
    with pytest.raises(OidcError, match="extra_redirect_params"):
        OidcClient(replace(OFFLINE, extra_redirect_params="{not json"))
    with pytest.raises(OidcError, match="extra_redirect_params"):
        OidcClient(replace(OFFLINE, extra_redirect_params='{"max_age": 5}'))


async def test_discovery_and_jwks_are_fetched_once(config: OidcConfig, browser: httpx.Client) -> None:
    recorder = _Recorder()
    async with httpx.AsyncClient(transport=recorder) as http:
        oidc = OidcClient(config, http)
        await login(oidc, browser, "alice")
        await login(oidc, browser, "alice")
    assert recorder.paths.count(DISCOVERY_PATH) == 1
    assert recorder.paths.count("/jwks") == 1


async def test_jwks_is_refreshed_once_on_an_unknown_key(config: OidcConfig, browser: httpx.Client) -> None:
    recorder = _Recorder(stale_jwks_responses=1)
    async with httpx.AsyncClient(transport=recorder) as http:
        oidc = OidcClient(config, http)
        await oidc.ping()  # caches the pre-rotation key set
        assert (await login(oidc, browser, "alice")).subject == "alice"
    assert recorder.paths.count("/jwks") == 2


async def test_unknown_key_after_refresh_is_rejected(config: OidcConfig, browser: httpx.Client) -> None:
    recorder = _Recorder(stale_jwks_responses=100)
    async with httpx.AsyncClient(transport=recorder) as http:
        oidc = OidcClient(config, http)
        await oidc.ping()
        with pytest.raises(OidcError, match="JWKS does not list"):
            await login(oidc, browser, "alice")
    assert recorder.paths.count("/jwks") == 2


def test_userinfo_for_another_subject_is_refused() -> None:
    id_claims = {"iss": OFFLINE.endpoint, "sub": "alice", "name": "Alice"}
    with pytest.raises(OidcError, match="subject"):
        identity_from_claims(OFFLINE, id_claims, {"sub": "mallory", "name": "Mallory"})


def test_userinfo_wins_over_the_id_token_except_for_user_claim() -> None:
    id_claims = {"iss": "https://idp", "sub": "u1", "name": "Token Name", "nick": "tok", "groups": ["a"]}
    userinfo = {"sub": "u1", "name": "Info Name", "nick": "info", "email": "u@example.com", "groups": "b"}
    assert identity_from_claims(OFFLINE, id_claims, userinfo).username == "Info Name"
    with_claim = identity_from_claims(replace(OFFLINE, user_claim="nick"), id_claims, userinfo)
    assert (with_claim.username, with_claim.realname, with_claim.groups) == ("tok", "Info Name", ("b",))
    assert identity_from_claims(OFFLINE, id_claims, None).groups == ("a",)
