"""Any registry's /v2 API as a blob source: manifest negotiation, token auth, streamed and verified blobs."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urljoin

import httpx

from berth import mediatypes
from berth.references import is_digest_reference
from berth.scan.sources.base import (
    BlobMissing,
    ManifestNotFound,
    SourceError,
    check_digest,
    sniff_media_type,
    verified_stream,
)

#: every manifest kind the engine resolves, best first (Docker's order of preference)
MANIFEST_ACCEPT = ", ".join(
    [mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST, mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST]
)
_MAX_REDIRECTS = 5
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryAuthError(SourceError):
    """The registry refused the credentials (or anonymous access)."""


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class RegistrySource:
    """One repository on a registry, read anonymously, with Basic credentials, or with a ready
    `Authorization` value (Harbor hands scanners `registry.authorization`, "Basic …" or "Bearer …").

    On a Bearer challenge it fetches a pull token from the realm (sending the Basic credentials if it
    has any) and retries. Blob redirects are followed by hand so the Authorization header is dropped
    whenever the next hop is another host (presigned object-store URLs must not see it).
    """

    def __init__(
        self,
        url: str,
        repository: str,
        *,
        username: str | None = None,
        password: str | None = None,
        authorization: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.base = httpx.URL(url.rstrip("/") + "/")
        self.repository = repository
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._client.follow_redirects = False
        self._basic: str | None = None
        if username is not None:
            self._basic = "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        elif authorization and authorization.lower().startswith("basic "):
            self._basic = authorization
        #: what goes on the next request: Basic or a Bearer token obtained (or given) earlier
        self._authorization = authorization

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _url(self, kind: str, reference: str) -> httpx.URL:
        return self.base.join(f"v2/{self.repository}/{kind}/{reference}")

    def _send(self, url: httpx.URL, headers: dict[str, str]) -> httpx.Response:
        """GET url with our credentials, answering one auth challenge; the response is streamed."""
        response = self._get(url, headers, self._authorization)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("www-authenticate", "")
        response.close()
        scheme, params = parse_challenge(challenge)
        if scheme == "bearer" and "realm" in params:
            self._authorization = "Bearer " + self._token(params)
        elif scheme == "basic" and self._basic is not None:
            self._authorization = self._basic
        else:
            raise RegistryAuthError(f"{url}: 401 ({challenge or 'no challenge'})")
        response = self._get(url, headers, self._authorization)
        if response.status_code == 401:
            response.close()
            raise RegistryAuthError(f"{url}: credentials refused")
        return response

    def _get(self, url: httpx.URL, headers: dict[str, str], authorization: str | None) -> httpx.Response:
        sent = dict(headers)
        if authorization:
            sent["Authorization"] = authorization
        try:
            return self._client.send(self._client.build_request("GET", url, headers=sent), stream=True)
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {exc}") from exc

    def _token(self, params: dict[str, str]) -> str:
        query = {"service": params.get("service", "")}
        query["scope"] = params.get("scope") or f"repository:{self.repository}:pull"
        headers = {"Authorization": self._basic} if self._basic else {}
        try:
            response = self._client.get(params["realm"], params=query, headers=headers)
        except httpx.HTTPError as exc:
            raise SourceError(f"token service {params['realm']}: {exc}") from exc
        if response.status_code != 200:
            raise RegistryAuthError(f"token service {params['realm']}: {response.status_code}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"token service {params['realm']}: no token in the answer")
        return token

    def _follow(self, response: httpx.Response, headers: dict[str, str]) -> httpx.Response:
        """Follow redirects, keeping Authorization only while the hop stays on the registry's origin."""
        for _ in range(_MAX_REDIRECTS):
            if not response.is_redirect:
                return response
            location = httpx.URL(urljoin(str(response.url), response.headers["location"]))
            response.close()
            auth = self._authorization if same_origin(location, self.base) else None
            response = self._get(location, headers, auth)
        response.close()
        raise SourceError(f"more than {_MAX_REDIRECTS} redirects")

    def manifest(self, reference: str | None) -> tuple[str, bytes]:
        reference = reference or "latest"
        headers = {"Accept": MANIFEST_ACCEPT}
        response = self._follow(self._send(self._url("manifests", reference), headers), headers)
        try:
            if response.status_code == 404:
                raise ManifestNotFound(f"{self.repository}:{reference} not found")
            if response.status_code != 200:
                raise SourceError(f"manifest {self.repository}:{reference}: HTTP {response.status_code}")
            data = response.read()
        finally:
            response.close()
        if is_digest_reference(reference):
            check_digest(reference, data)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in mediatypes.MANIFESTS:
            media_type = sniff_media_type(data)
        return media_type, data

    def open_blob(self, digest: str) -> BinaryIO:
        response = self._follow(self._send(self._url("blobs", digest), {}), {})
        if response.status_code == 404:
            response.close()
            raise BlobMissing(f"{self.repository}@{digest} not found")
        if response.status_code != 200:
            response.close()
            raise SourceError(f"blob {self.repository}@{digest}: HTTP {response.status_code}")
        return verified_stream(_ResponseReader(response), digest)


class _ResponseReader(io.RawIOBase):
    """A streamed response body as a raw file (bytes exactly as sent: no content decoding)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        # a body already read (a transport that hands over bytes, not a stream) is served as it is
        self._chunks: Iterator[bytes] = iter([response.content]) if response.is_stream_consumed else response.iter_raw()
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except httpx.HTTPError as exc:
                raise SourceError(f"{self._response.url}: {exc}") from exc
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
