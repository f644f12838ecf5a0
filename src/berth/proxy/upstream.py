"""The upstream side of a proxy-cache project: manifests and blobs read over the distribution API with
the registry endpoint's credentials (Docker token or Basic auth) and TLS settings, at most
`max_upstream_conn` requests at a time and `proxy_speed_kb` KB/s (Harbor's project metadata)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
from anyio import to_thread

from berth import mediatypes
from berth.proxy.body import READ_BYTES, BodyFailed, ThreadedBody
from berth.references import InvalidDigest, digest_of, is_digest_reference, parse_digest
from berth.replication.adapters import (
    NEXT_LINK,
    ChallengeAuth,
    Endpoint,
    distribution_url,
    failure_reason,
    tls_verify,
)

#: what berth accepts from the upstream: every manifest type it stores, so a tag is cached as the upstream has it
ACCEPT = ", ".join((mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST, mediatypes.OCI_MANIFEST,
                    mediatypes.DOCKER_MANIFEST))
#: a revalidation waits this long to connect: a pull behind a dead upstream should fall back quickly
CONNECT_SECONDS = 3.0
_CHUNK = 256 * 1024


class UpstreamUnavailable(Exception):
    """The upstream did not answer usefully: unreachable, a TLS error, 5xx, 401/403, or 429 (`rate_limited`)."""

    def __init__(self, reason: str, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rate_limited = rate_limited


class UpstreamNotFound(Exception):
    """The upstream answered 404: it has no such manifest or blob."""


class UpstreamInvalid(Exception):
    """The upstream answered something that cannot be what was asked for (a digest that does not match)."""


class TooManyUpstreamRequests(Exception):
    """`max_upstream_conn` requests are in flight already (Harbor answers 429 TOO_MANY_REQUEST)."""


@dataclass(frozen=True, slots=True)
class UpstreamManifest:
    digest: str
    media_type: str
    size: int
    #: None for a HEAD
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class UpstreamReferrers:
    """An upstream's referrers index (validated), and what its answer said about filters and paging."""

    index: dict[str, Any]
    #: the upstream's OCI-Filters-Applied ("artifactType" when it filtered)
    filters_applied: str = ""
    #: the query of the upstream's next page ("" when this is the last)
    next_query: str = ""


class UpstreamBlob(Protocol):
    """A blob's body on its way from the upstream; a broken connection is UpstreamUnavailable."""

    #: as the upstream declared it (None when it streams without a length)
    size: int | None

    def chunks(self) -> AsyncIterator[bytes]:
        """The body on the event loop."""

    async def copy(self, sink: Callable[[memoryview], None]) -> int:
        """The body handed to `sink` on a worker thread (a view valid until `sink` returns); the byte count."""


class _ThreadedBlob:
    def __init__(self, size: int | None, body: ThreadedBody) -> None:
        self.size = size
        self._body = body

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body.chunks():
                yield chunk
        except BodyFailed as exc:
            raise UpstreamUnavailable(exc.reason) from None

    async def copy(self, sink: Callable[[memoryview], None]) -> int:
        try:
            return await self._body.copy(sink)
        except BodyFailed as exc:
            raise UpstreamUnavailable(exc.reason) from None


class _StreamedBlob:
    """A body httpx reads on the event loop (a redirected blob); `copy` hands it over in batches."""

    def __init__(self, size: int | None, chunks: AsyncIterator[bytes]) -> None:
        self.size = size
        self._chunks = chunks

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def copy(self, sink: Callable[[memoryview], None]) -> int:
        total = 0
        batch = bytearray()
        async for chunk in self._chunks:
            batch += chunk
            if len(batch) >= READ_BYTES:
                await to_thread.run_sync(sink, memoryview(batch))  # (anyio: never left running when cancelled)
                total += len(batch)
                batch = bytearray()
        if batch:
            await to_thread.run_sync(sink, memoryview(batch))
            total += len(batch)
        return total


class UpstreamClient:
    """One proxy project's upstream; kept open between pulls (its connections are reused)."""

    def __init__(
        self, endpoint: Endpoint, *, speed_kb: int = 0, max_connections: int = 0, max_manifest_bytes: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._speed = speed_kb * 1024 if speed_kb > 0 else 0
        self._max = max_connections if max_connections > 0 else 0
        self._in_flight = 0
        self._max_manifest = max_manifest_bytes
        self._verify = tls_verify(endpoint)
        self._client = httpx.AsyncClient(
            base_url=distribution_url(endpoint), verify=self._verify, transport=transport,
            auth=ChallengeAuth(endpoint.access_key, endpoint.access_secret),
            timeout=httpx.Timeout(30.0, connect=CONNECT_SECONDS), follow_redirects=True,
            limits=httpx.Limits(max_connections=self._max or 100, max_keepalive_connections=20),
            headers={"User-Agent": "berth-proxy-cache"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- manifests ---------------------------------------------------------------------------------

    async def head_manifest(self, repository: str, reference: str) -> UpstreamManifest:
        """The digest and type the upstream has under `reference` (a HEAD: Docker Hub does not count it)."""
        async with self._slot():
            response = await self._send("HEAD", f"/v2/{repository}/manifests/{reference}", {"Accept": ACCEPT})
        _raise_for(response, f"manifest {repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:  # a registry that does not say: the GET computes it
            return (await self.get_manifest(repository, reference))
        return UpstreamManifest(digest, _media_type(response), int(response.headers.get("Content-Length") or 0))

    async def get_manifest(self, repository: str, reference: str) -> UpstreamManifest:
        """The manifest's bytes, their digest checked against `reference` when it is a digest."""
        response, content = await self._document(f"/v2/{repository}/manifests/{reference}", ACCEPT,
                                                 f"manifest {repository}:{reference}")
        algorithm = reference.split(":", 1)[0] if is_digest_reference(reference) else "sha256"
        digest = digest_of(content, algorithm)
        if is_digest_reference(reference) and digest != reference:
            raise UpstreamInvalid(f"the upstream answered {digest} for manifest {reference}")
        return UpstreamManifest(digest, _media_type(response), len(content), content)

    async def referrers(self, repository: str, digest: str, query: dict[str, str]) -> UpstreamReferrers:
        """The upstream's referrers of `digest`: its referrers API, asked with the client's query
        (`artifactType`, `n`, `last`); on a registry without the API (404, 405: distribution 2.8) the
        index under the referrers tag schema's tag (`sha256-<hex>`), filtered by `artifactType` here,
        or an empty index when there is no such tag, as an OCI client falls back."""
        path = f"/v2/{repository}/referrers/{digest}" + (f"?{urlencode(query)}" if query else "")
        response, content = await self._document(path, mediatypes.OCI_INDEX, f"the referrers of {digest}",
                                                 absent=(404, 405))
        if response.status_code == 200:
            link = NEXT_LINK.search(response.headers.get("Link", ""))
            return UpstreamReferrers(_referrers_index(content, digest), response.headers.get("OCI-Filters-Applied", ""),
                                     urlsplit(link.group(1)).query if link else "")
        try:
            tagged = await self.get_manifest(repository, digest.replace(":", "-"))
        except UpstreamNotFound:
            return UpstreamReferrers({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []})
        assert tagged.content is not None
        index = _referrers_index(tagged.content, digest)
        wanted = query.get("artifactType")
        if not wanted:
            return UpstreamReferrers(index)
        index["manifests"] = [m for m in index["manifests"] if m.get("artifactType") == wanted]
        return UpstreamReferrers(index, "artifactType")

    async def _document(
        self, path: str, accept: str, what: str, absent: tuple[int, ...] = (),
    ) -> tuple[httpx.Response, bytes]:
        """A GET of a JSON document (a manifest, a referrers index), at most the manifest size limit;
        a status in `absent` comes back with no content, any other but 200 raises (`_raise_for`)."""
        async with self._slot(), self._client.stream("GET", path, headers={"Accept": accept}) as response:
            if response.status_code != 200:
                await response.aread()
                if response.status_code in absent:
                    return response, b""
                _raise_for(response, what)
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_manifest:
                        raise UpstreamInvalid(f"the upstream's {what} exceeds {self._max_manifest} bytes")
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(failure_reason(exc).reason) from None
        return response, bytes(body)

    # --- blobs ---------------------------------------------------------------------------------------

    async def head_blob(self, repository: str, digest: str) -> int:
        """The blob's size as the upstream declares it."""
        async with self._slot():
            response = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        _raise_for(response, f"blob {digest}")
        try:
            return int(response.headers["Content-Length"])
        except (KeyError, ValueError):
            raise UpstreamInvalid(f"the upstream did not say the size of blob {digest}") from None

    @asynccontextmanager
    async def blob(self, repository: str, digest: str) -> AsyncIterator[UpstreamBlob]:
        """A blob as the upstream sends it (not yet verified: the caller checks the digest before it
        keeps anything).

        A HEAD through httpx first (credentials, token); when the registry answers it itself, the body
        is read by a ThreadedBody with the same Authorization; a blob it redirects elsewhere (a CDN's
        or a bucket's URL, signed for GET only) streams through httpx, which follows the redirect."""
        path = f"/v2/{repository}/blobs/{digest}"
        async with self._slot():
            head = await self._send("HEAD", path, follow_redirects=False)
            if head.status_code == 200:
                headers = {"User-Agent": "berth-proxy-cache", "Accept-Encoding": "identity"}
                if head.request.headers.get("Authorization"):
                    headers["Authorization"] = head.request.headers["Authorization"]
                body = ThreadedBody(str(head.url), headers, self._verify, 30.0, self._speed)
                try:
                    length = await body.start()
                except BodyFailed as exc:
                    body.close()
                    if not 300 <= exc.status < 400:  # a GET redirected elsewhere: httpx follows it below
                        if exc.status:
                            _raise_for(httpx.Response(exc.status), f"blob {digest}")
                        raise UpstreamUnavailable(exc.reason) from None
                else:
                    try:
                        yield _ThreadedBlob(length, body)
                    finally:
                        body.close()
                    return
            elif not head.is_redirect:
                _raise_for(head, f"blob {digest}")
            async with self._client.stream("GET", path) as response:
                if response.status_code != 200:
                    await response.aread()
                    _raise_for(response, f"blob {digest}")
                length_text = response.headers.get("Content-Length")
                yield _StreamedBlob(int(length_text) if length_text and length_text.isdigit() else None,
                                    self._paced(response.aiter_raw(_CHUNK)))

    async def _paced(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The body in chunks, at most `proxy_speed_kb` KB/s; a cut connection is UpstreamUnavailable."""
        received, start = 0, time.monotonic()
        try:
            async for chunk in chunks:
                yield chunk
                received += len(chunk)
                if self._speed:
                    ahead = received / self._speed - (time.monotonic() - start)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"the upstream connection broke: {failure_reason(exc).reason}") from None

    # --- plumbing ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._max and self._in_flight >= self._max:
            raise TooManyUpstreamRequests("too many requests to upstream registry")
        self._in_flight += 1
        try:
            yield
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(failure_reason(exc).reason) from None
        finally:
            self._in_flight -= 1

    async def _send(
        self, method: str, url: str, headers: dict[str, str] | None = None, follow_redirects: bool = True,
    ) -> httpx.Response:
        try:
            return await self._client.request(method, url, headers=headers, follow_redirects=follow_redirects)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(failure_reason(exc).reason) from None


def _referrers_index(content: bytes, digest: str) -> dict[str, Any]:
    """An image index whose entries are descriptors with valid digests (UpstreamInvalid otherwise)."""
    try:
        doc = orjson.loads(content)
        manifests = doc["manifests"] if isinstance(doc, dict) else None
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise ValueError("no list of descriptors")
        for descriptor in manifests:
            parse_digest(str(descriptor.get("digest")))
    except (orjson.JSONDecodeError, KeyError, ValueError, InvalidDigest) as exc:
        raise UpstreamInvalid(f"the upstream's referrers of {digest} are not an image index ({exc})") from None
    return {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": manifests}


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip()


def _raise_for(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 404:
        raise UpstreamNotFound(f"{what} not found upstream")
    if status == 429:
        raise UpstreamUnavailable(f"the upstream rate-limits pulls (429) for {what}", rate_limited=True)
    raise UpstreamUnavailable(f"the upstream answered HTTP {status} for {what}")
