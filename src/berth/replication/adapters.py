"""Adapters to other registries, Harbor's way (src/pkg/reg/adapter): one small interface (ping, info,
list repositories, list tags, list a repository's artifacts) over httpx, with Docker token auth and
Basic auth.

`docker-registry` speaks the OCI distribution API (any CNCF distribution, zot, berth); `harbor` speaks
Harbor's /api/v2.0 for what the distribution API lacks (berth speaks it too). Harbor's other adapter
types are known by name and refused (`UnsupportedType`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx

from berth.artifact_types import artifact_media_types, artifact_type
from berth.replication.policy import named_projects

#: Harbor's registered adapter types (src/pkg/reg/model, the factories Harbor 2.x registers)
HARBOR_TYPES = (
    "harbor", "docker-hub", "docker-registry", "huawei-SWR", "google-gcr", "aws-ecr", "azure-acr", "ali-acr",
    "jfrog-artifactory", "quay", "gitlab", "dtr", "tencent-tcr", "github-ghcr", "volcengine-cr",
)
#: the ones berth has an adapter for (docker-hub: the distribution API at Docker Hub's registry endpoint)
SUPPORTED_TYPES = ("docker-registry", "harbor", "docker-hub")
#: Harbor's credential types (`secret` is Harbor's internal one; berth sends it like the others)
CREDENTIAL_TYPES = ("basic", "oauth", "secret")
#: a ping or a listing page waits this long for the other side (an API call waits on it)
TIMEOUT_SECONDS = 10.0
#: entries asked for per page of `_catalog`, tags and Harbor's lists
PAGE_SIZE = 100
#: Harbor's endpoint patterns for the types with a fixed endpoint (the others have none)
_FIXED_ENDPOINTS = {"docker-hub": ("https://hub.docker.com", "https://hub.docker.com")}
#: where Docker Hub answers the distribution API (Harbor's dockerhub adapter talks to it for /v2)
DOCKER_HUB_REGISTRY = "https://registry-1.docker.io"

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
#: a `Link` header's next page
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class UnsupportedType(ValueError):
    """A registry type berth has no adapter for (one of Harbor's others, or no type at all)."""


class PingFailed(Exception):
    """The endpoint is not a healthy registry; `reason` says why in words for the API's answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a registry answers and how to reach it (the opened credential, never stored like this)."""

    type: str
    url: str
    access_key: str = ""
    access_secret: str = ""
    insecure: bool = False
    #: PEM CA certificates to verify the server with, instead of the system's
    ca_certificate: str = ""

    @property
    def has_credential(self) -> bool:
        return bool(self.access_key or self.access_secret)


@dataclass(frozen=True, slots=True)
class FilterStyle:
    type: str
    style: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """Harbor's RegistryInfo after the controller's `process`: the resource types as a radio filter."""

    type: str
    description: str = ""
    filters: tuple[FilterStyle, ...] = ()
    triggers: tuple[str, ...] = ("manual", "scheduled")
    copy_by_chunk: bool = False


@dataclass(frozen=True, slots=True)
class RemoteArtifact:
    """An artifact of a source registry, as a pull-based run selects it (no tags: an untagged one)."""

    digest: str
    tags: tuple[str, ...]
    #: its labels' names (Harbor's API lists them; a plain registry has none)
    labels: tuple[str, ...] = ()
    #: Harbor's type (IMAGE, CHART, ...), "" when the listing did not look
    kind: str = ""
    #: cosign's tags about it (sha256-<hex>.sig, .att, .sbom): copied with it
    accessory_tags: tuple[str, ...] = ()


#: cosign's accessory tags and the referrers tag schema's: they go with their subject, not on their own
ACCESSORY_TAG = re.compile(r"sha256-[0-9a-f]{64}(?:\.(?:sig|att|sbom))?")


@dataclass(slots=True)
class _Token:
    value: str
    scopes: set[str] = field(default_factory=set)


def type_problem(type_: str) -> str | None:
    """Why a registry of this type cannot be used, or None (pure)."""
    if type_ in SUPPORTED_TYPES:
        return None
    if type_ in HARBOR_TYPES:
        return (f"registry type {type_} is not supported by berth: the supported types are "
                f"{', '.join(SUPPORTED_TYPES)}")
    return f"invalid registry type {type_[:64]!r}: the supported types are {', '.join(SUPPORTED_TYPES)}"


def provider_infos() -> dict[str, dict[str, Any]]:
    """Harbor's listRegistryProviderInfos answer for every Harbor type, with berth's `supported` flag."""
    infos: dict[str, dict[str, Any]] = {}
    for type_ in HARBOR_TYPES:
        info: dict[str, Any] = {"supported": type_ in SUPPORTED_TYPES}
        if type_ in _FIXED_ENDPOINTS:
            key, value = _FIXED_ENDPOINTS[type_]
            info["endpoint_pattern"] = {"endpoint_type": "EndpointPatternTypeFix",
                                        "endpoints": [{"key": key, "value": value}]}
        infos[type_] = info
    return infos


def tls_verify(endpoint: Endpoint) -> ssl.SSLContext | bool:
    """What httpx verifies the server with: nothing when insecure, the custom CA when one is given,
    else the system's (httpx's default bundle). A CA that is not PEM raises ValueError. The contexts
    are made once per process and shared: loading the CA bundle costs tens of milliseconds of CPU,
    which every client (one per replication task) would otherwise pay again, even for http://."""
    if endpoint.insecure:
        return False
    if endpoint.ca_certificate.strip():
        try:
            return _custom_ca_context(endpoint.ca_certificate)
        except (ssl.SSLError, ValueError, TypeError) as exc:
            raise ValueError(f"invalid CA certificate: {exc}") from None
    return _default_context()


@functools.cache
def _default_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=64)
def _custom_ca_context(ca_certificate: str) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_certificate)


def distribution_url(endpoint: Endpoint) -> str:
    """Where the endpoint answers the distribution API (/v2): its URL, but Docker Hub's registry host
    for a `docker-hub` endpoint (whose URL is the Hub's web address)."""
    if endpoint.type == "docker-hub":
        return DOCKER_HUB_REGISTRY
    return endpoint.url.rstrip("/")


def create_adapter(endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None = None) -> Adapter:
    problem = type_problem(endpoint.type)
    if problem:
        raise UnsupportedType(problem)
    kind = {"harbor": HarborAdapter, "docker-hub": DockerHubAdapter}.get(endpoint.type, DockerRegistryAdapter)
    return kind(endpoint, transport)


class ChallengeAuth(httpx.Auth):
    """Docker's auth: answer a `Bearer` challenge with a token from its realm (the credential as Basic
    auth there), a `Basic` challenge with the credential. With a credential, the challenge is learnt
    from `/v2/` first, as docker does: a registry may answer an anonymous request with less (berth's
    catalog lists only public repositories) instead of a 401. A token service's refusal is the response.

    Only the bodies the flow looks at are read (challenges, the `/v2/` probe, tokens): the caller's own
    response is left to the caller, so a blob streams instead of being read whole into memory."""

    requires_response_body = False

    def __init__(self, access_key: str, access_secret: str, actions: str = "pull") -> None:
        #: the token scope's actions on a repository ("pull,push" for a push client)
        self._actions = actions
        self._basic = httpx.BasicAuth(access_key, access_secret) if (access_key or access_secret) else None
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._tokens: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = _scope_of(request.url.path, self._actions)
        if self._basic is not None and self._challenge is None and request.url.path.startswith("/v2/"):
            probe = yield httpx.Request("GET", request.url.copy_with(path="/v2/", query=None))
            self._challenge = _challenge(probe.headers.get("WWW-Authenticate", "")) \
                if probe.status_code == 401 else ("", {})
        if self._challenge and self._challenge[0] == "basic" and self._basic is not None:
            request = next(self._basic.auth_flow(request))
        elif scope in self._tokens or (self._challenge and self._challenge[0] == "bearer"
                                       and self._challenge[1].get("realm") and self._basic is not None):
            if scope not in self._tokens:
                token_response = yield self._token_request(self._challenge[1], scope)  # type: ignore[index]
                if not self._remember(token_response, scope):
                    return  # the token service's answer is the caller's (401: wrong credentials)
            request.headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self._basic is not None and "Authorization" not in request.headers:
            yield next(self._basic.auth_flow(request))
        elif scheme == "bearer" and params.get("realm"):
            self._tokens.pop(scope, None)  # expired, or too narrow
            token_response = yield self._token_request(params, scope)
            if self._remember(token_response, scope):
                request.headers["Authorization"] = f"Bearer {self._tokens[scope]}"
                yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            if response.status_code == 401 or sent is not request:
                response.read()
            try:
                sent = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            if response.status_code == 401 or sent is not request:  # a challenge, the probe, a token
                await response.aread()
            try:
                sent = flow.send(response)
            except StopIteration:
                return

    def _token_request(self, params: dict[str, str], scope: str) -> httpx.Request:
        query = {"service": params["service"]} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        token_request = httpx.Request("GET", params.get("realm", "") + ("?" + urlencode(query) if query else ""))
        return next(self._basic.auth_flow(token_request)) if self._basic is not None else token_request

    def _remember(self, response: httpx.Response, scope: str) -> bool:
        if response.status_code != 200:
            return False
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            return False
        if not isinstance(token, str) or not token:
            return False
        self._tokens[scope] = token
        return True


def _scope_of(path: str, actions: str = "pull") -> str:
    """The token scope a /v2 request needs ("" for the base check)."""
    if path.rstrip("/") == "/v2/_catalog":
        return "registry:catalog:*"
    match = re.match(r"^/v2/(.+)/(?:tags|manifests|blobs|referrers)/", path)
    return f"repository:{match.group(1)}:{actions}" if match else ""


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): a or b for k, a, b in _CHALLENGE_PARAM.findall(rest)}


def failure_reason(exc: Exception) -> PingFailed:
    """Why a request did not get an answer, in words."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, ssl.SSLError):
            return PingFailed(f"TLS error: {getattr(chain, 'reason', None) or chain}")
        chain = chain.__cause__ or chain.__context__
    text = str(exc)
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return PingFailed(f"TLS error: {text}")
    if isinstance(exc, httpx.TimeoutException):
        return PingFailed("unreachable: the connection timed out")
    if isinstance(exc, httpx.ConnectError):
        return PingFailed(f"unreachable: {text or 'the connection was refused'}")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return PingFailed(f"invalid URL: {text}")
    return PingFailed(f"unreachable: {type(exc).__name__}: {text}")


class Adapter:
    """One registry endpoint. Use as `async with create_adapter(endpoint) as adapter:`."""

    type = ""

    def __init__(self, endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.endpoint = endpoint
        self._client = httpx.AsyncClient(
            base_url=distribution_url(endpoint), verify=tls_verify(endpoint), transport=transport,
            auth=ChallengeAuth(endpoint.access_key, endpoint.access_secret), timeout=TIMEOUT_SECONDS,
            follow_redirects=False, headers={"User-Agent": "berth-replication"},
        )

    async def __aenter__(self) -> Adapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.get(path, **kwargs)
        except httpx.HTTPError as exc:
            raise failure_reason(exc) from None

    # --- the interface ---------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise PingFailed unless the endpoint answers as a registry (and takes the credential, if any)."""
        await self._ping_distribution()

    def info(self) -> RegistryInfo:
        raise NotImplementedError

    async def label_names(self) -> list[str]:
        """The labels a label filter may name (a plain registry has none)."""
        return []

    async def repositories(self, name_pattern: str = "") -> AsyncIterator[str]:
        """Every repository's full name, through the distribution `_catalog` (paged with `n`/`last`);
        the name filter's pattern is the caller's to apply (the catalog cannot be narrowed)."""
        async for page in self._pages("/v2/_catalog", "repositories"):
            for name in page:
                yield name

    async def artifacts(self, repository: str, with_kind: bool = False) -> list[RemoteArtifact]:
        """The repository's tagged artifacts: its tags grouped by the digest each resolves to (a HEAD
        per tag; a GET when `with_kind`, to tell an image from other artifacts)."""
        tags = await self.tags(repository)
        by_digest: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        for tag in tags:
            if ACCESSORY_TAG.fullmatch(tag):
                continue
            digest, kind = await self._resolve(repository, tag, with_kind)
            if digest:
                by_digest.setdefault(digest, []).append(tag)
                kinds[digest] = kind
        return [RemoteArtifact(digest, tuple(names), kind=kinds[digest],
                               accessory_tags=_accessory_tags(tags, digest)) for digest, names in by_digest.items()]

    async def _resolve(self, repository: str, tag: str, with_kind: bool) -> tuple[str, str]:
        """(digest, Harbor type or "") of a tag; ("", "") when it went meanwhile."""
        path = f"/v2/{repository}/manifests/{tag}"
        try:
            response = await self._client.request("GET" if with_kind else "HEAD", path,
                                                   headers={"Accept": MANIFEST_ACCEPT})
        except httpx.HTTPError as exc:
            raise failure_reason(exc) from None
        if response.status_code == 404:
            return "", ""
        if response.status_code != 200:
            raise PingFailed(f"{'GET' if with_kind else 'HEAD'} {path} answered HTTP {response.status_code}")
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest or with_kind:
            if not with_kind:
                return await self._resolve(repository, tag, True)
            digest = digest or "sha256:" + hashlib.sha256(response.content).hexdigest()
        return digest, _kind(response) if with_kind else ""

    async def tags(self, repository: str) -> list[str]:
        """A repository's tags (paged with `n`/`last` through `Link`); [] for an unknown repository."""
        tags: list[str] = []
        try:
            async for page in self._pages(f"/v2/{repository}/tags/list", "tags"):
                tags.extend(page)
        except _NotFound:
            return []
        return tags

    # --- distribution helpers ----------------------------------------------------------------------

    async def _ping_distribution(self) -> None:
        response = await self._get("/v2/")
        if response.status_code == 200:
            if not _speaks_distribution(response):
                raise PingFailed("not a registry: GET /v2/ answered without the Docker-Distribution-API-Version "
                                 "header")
            return
        if response.status_code in (401, 403):
            if not self.endpoint.has_credential and _speaks_distribution(response):
                return  # Harbor's PingSimple: without a credential, reachable is healthy
            if self.endpoint.has_credential:
                raise PingFailed(f"wrong credentials: the registry answered {response.status_code} "
                                 f"{response.reason_phrase or 'Unauthorized'}")
        raise PingFailed(f"not a registry: GET /v2/ answered HTTP {response.status_code}")

    async def _pages(self, path: str, key: str) -> AsyncIterator[list[str]]:
        url: str | None = f"{path}?n={PAGE_SIZE}"
        while url:
            response = await self._get(url)
            if response.status_code == 404:
                raise _NotFound(path)
            if response.status_code != 200:
                raise PingFailed(f"GET {path} answered HTTP {response.status_code}")
            try:
                values = response.json().get(key) or []
            except (ValueError, AttributeError):
                raise PingFailed(f"GET {path} answered something that is not JSON") from None
            yield [str(value) for value in values]
            link = NEXT_LINK.search(response.headers.get("Link", ""))
            url = _same_origin(path, link.group(1)) if link and values else None


class _NotFound(Exception):
    pass


MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))


def _accessory_tags(tags: list[str], digest: str) -> tuple[str, ...]:
    prefix = digest.replace(":", "-") + "."
    return tuple(t for t in tags if t.startswith(prefix) and ACCESSORY_TAG.fullmatch(t))


def _kind(response: httpx.Response) -> str:
    """Harbor's type of the manifest in a GET's body ("UNKNOWN" when it is no manifest)."""
    try:
        doc = response.json()
        media_type = doc.get("mediaType") or response.headers.get("Content-Type", "").split(";", 1)[0]
        return artifact_type(*artifact_media_types(str(media_type), doc))
    except (ValueError, AttributeError, TypeError):
        return "UNKNOWN"


def _is_public(project: dict[str, Any]) -> bool:
    return str((project.get("metadata") or {}).get("public", "false")).lower() == "true"


def _speaks_distribution(response: httpx.Response) -> bool:
    return "docker-distribution-api-version" in response.headers or \
        response.headers.get("WWW-Authenticate", "").lower().startswith(("bearer", "basic"))


def _same_origin(path: str, link: str) -> str | None:
    """The next page's path and query (a Link to another host is not followed)."""
    parts = urlsplit(urljoin(path, link))
    if parts.netloc:
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


class DockerRegistryAdapter(Adapter):
    """Any OCI distribution registry (Harbor's `native` adapter)."""

    type = "docker-registry"

    def info(self) -> RegistryInfo:
        # copy_by_chunk: Harbor's native adapter says no, but the distribution API's chunked uploads and
        # Range reads are all berth's chunked copy uses, and any distribution registry has them
        return RegistryInfo(type=self.type, copy_by_chunk=True, filters=(
            FilterStyle("name", "input"), FilterStyle("tag", "input"), FilterStyle("resource", "radio", ("image",)),
        ))


class DockerHubAdapter(DockerRegistryAdapter):
    """Docker Hub through its distribution API (berth uses it as a proxy-cache upstream; Docker Hub
    has no `_catalog`, so it lists nothing for replication)."""

    type = "docker-hub"


class HarborAdapter(Adapter):
    """Harbor (or berth): its API's ping and system info, projects and repositories listed through it;
    the registry side (credentials, tags) through /v2 as for any registry."""

    type = "harbor"

    def __init__(self, endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(endpoint, transport)
        #: project name -> public, for the projects seen so far
        self._public: dict[str, bool] = {}

    async def ping(self) -> None:
        response = await self._get("/api/v2.0/ping")
        if response.status_code != 200 or response.text.strip().strip('"') != "Pong":
            raise PingFailed(f"not a Harbor registry: GET /api/v2.0/ping answered HTTP {response.status_code}"
                             + ("" if response.status_code != 200 else " without Pong"))
        await self._ping_distribution()

    async def system_info(self) -> dict[str, Any]:
        response = await self._get("/api/v2.0/systeminfo", auth=self._basic_auth())
        if response.status_code != 200:
            raise PingFailed(f"GET /api/v2.0/systeminfo answered HTTP {response.status_code}")
        try:
            return dict(response.json())
        except (ValueError, TypeError):
            raise PingFailed("GET /api/v2.0/systeminfo answered something that is not JSON") from None

    def info(self) -> RegistryInfo:
        return RegistryInfo(type=self.type, copy_by_chunk=True, filters=(
            FilterStyle("name", "input"), FilterStyle("tag", "input"), FilterStyle("label", "list"),
            FilterStyle("resource", "radio", ("image", "artifact")),
        ))

    async def repositories(self, name_pattern: str = "") -> AsyncIterator[str]:
        """The repositories of the projects to look in, through Harbor's API, as Harbor's ListProjects
        chooses them: the projects the name filter's first component names (`team/**`: team only),
        or, when it names none (a pattern) or none of those exist, every project the credential sees."""
        projects = [project for name in named_projects(name_pattern) or [] if (project := await self._project(name))]
        if not projects:
            projects = [project async for project in self._api_pages("/api/v2.0/projects")]
        for project in projects:
            name = project.get("name")
            if isinstance(name, str) and name:
                self._public[name] = _is_public(project)
                async for repository in self._api_pages(f"/api/v2.0/projects/{quote(name, safe='')}/repositories"):
                    if isinstance(repository.get("name"), str):
                        yield repository["name"]

    async def _project(self, name: str) -> dict[str, Any] | None:
        """The project by name, or None when the credential does not see it there (404, 403)."""
        path = f"/api/v2.0/projects/{quote(name, safe='')}"
        status, project = await self._api_get(path, headers={"X-Is-Resource-Name": "true"})
        if status in (403, 404):
            return None
        if status != 200:
            raise PingFailed(f"GET {path[:200]} answered HTTP {status}")
        return project if isinstance(project, dict) else None

    async def _api_get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """A GET of Harbor's API with the credential: (status, the JSON body of a 200, else None);
        PingFailed when a 200's body is not JSON."""
        response = await self._get(path, params=params, headers=headers, auth=self._basic_auth())
        if response.status_code != 200:
            return response.status_code, None
        try:
            return 200, response.json()
        except ValueError:
            raise PingFailed(f"GET {path[:200]} answered something that is not JSON") from None

    async def prepare_for_push(self, wanted: Mapping[str, bool]) -> tuple[list[str], set[str]]:
        """Harbor's PrepareForPush on this destination: of the projects wanted (name -> public), create
        those it does not have (`POST /api/v2.0/projects` with the `public` metadata only; a 409, a
        concurrent creation, is fine). Returns (the projects created, the wanted ones that are proxy
        caches there: nothing is pushed into those). PingFailed when listing or creating fails."""
        if not wanted:
            return [], set()
        query = "name={" + " ".join(f"'{name}'" for name in wanted) + "}"
        existing = {str(project.get("name")): project
                    async for project in self._api_pages("/api/v2.0/projects", {"q": query})}
        created = []
        for name, public in wanted.items():
            if name in existing:
                continue
            try:
                response = await self._client.post("/api/v2.0/projects", auth=self._basic_auth(), json={
                    "project_name": name, "metadata": {"public": str(public).lower()}})
            except httpx.HTTPError as exc:
                raise failure_reason(exc) from None
            if response.status_code == 201:
                created.append(name)
            elif response.status_code != 409:
                raise PingFailed(f"creating the project {name} failed: HTTP {response.status_code} {response.text[:200]}")
        return created, {name for name, project in existing.items() if name in wanted and project.get("registry_id")}

    async def artifacts(self, repository: str, with_kind: bool = False) -> list[RemoteArtifact]:
        """The repository's artifacts (untagged ones too) with their labels and type, through Harbor's artifact list
        (the repository name double-encoded, as Harbor's clients send it); cosign tags from /v2."""
        project, _, rest = repository.partition("/")
        encoded = quote(quote(rest, safe=""), safe="")
        path = f"/api/v2.0/projects/{quote(project, safe='')}/repositories/{encoded}/artifacts"
        tags = await self.tags(repository)
        found = []
        pages = self._api_pages(path, {"with_tag": "true", "with_label": "true"}, absent_ok=True)
        try:
            items = [item async for item in pages]
        except _NotFound:  # a repository a name filter names, and the source does not have
            return []
        for item in items:
            tagged = [t for t in item.get("tags") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
            names = tuple(str(t["name"]) for t in tagged if not ACCESSORY_TAG.fullmatch(t["name"]))
            digest = item.get("digest")
            # an untagged artifact is listed too (the tag filter decides); one tagged only with accessory
            # tags is an accessory, copied with its subject
            if (names or not tagged) and isinstance(digest, str):
                labels = tuple(str(label.get("name")) for label in item.get("labels") or [] if isinstance(label, dict))
                found.append(RemoteArtifact(digest, names, labels, str(item.get("type") or "UNKNOWN"),
                                            _accessory_tags(tags, digest)))
        return found

    async def label_names(self) -> list[str]:
        """Harbor's global labels (ListLabels: an older Harbor without labels answers 404: none)."""
        names = []
        try:
            async for label in self._api_pages("/api/v2.0/labels", {"scope": "g"}, absent_ok=True):
                if isinstance(label.get("name"), str):
                    names.append(label["name"])
        except _NotFound:
            return []
        return names

    async def project_public(self, project: str) -> bool:
        """Whether the project is public there (a project a pull creates here copies it, as Harbor's);
        known without asking for a project `repositories` listed."""
        if project not in self._public:
            found = await self._project(project)
            self._public[project] = found is not None and _is_public(found)
        return self._public[project]

    def _basic_auth(self) -> httpx.Auth | None:
        return httpx.BasicAuth(self.endpoint.access_key, self.endpoint.access_secret) \
            if self.endpoint.has_credential else None

    async def _api_pages(
        self, path: str, params: dict[str, str] | None = None, absent_ok: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged Harbor list; with `absent_ok`, a 404 raises _NotFound."""
        page = 1
        while True:
            status, items = await self._api_get(path, {**(params or {}), "page": page, "page_size": PAGE_SIZE})
            if status == 404 and absent_ok:
                raise _NotFound(path)
            if status != 200:
                raise PingFailed(f"GET {path} answered HTTP {status}")
            if not isinstance(items, list):
                raise PingFailed(f"GET {path} answered something that is not a list")
            for item in items:
                if isinstance(item, dict):
                    yield item
            if len(items) < PAGE_SIZE:
                return
            page += 1
