"""Pulling from a registry endpoint over the OCI distribution API: a manifest by tag or digest (its
digest checked, its size bounded), a blob streamed (never whole in memory, at most `speed` KB/s, in
HTTP Range chunks with copy_by_chunk, never more or fewer bytes than its descriptor says), and an
artifact's referrers (the referrers API, else the referrers tag schema on registries without it, such
as distribution 2.8). Docker token auth and Basic auth as the adapters do it, asking for `pull`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson

from berth.config import MAX_MANIFEST_BYTES
from berth.references import InvalidDigest, digest_of, is_digest_reference, parse_digest
from berth.replication.adapters import (
    MANIFEST_ACCEPT,
    TIMEOUT_SECONDS,
    ChallengeAuth,
    Endpoint,
    failure_reason,
    tls_verify,
)

_INDEX = "application/vnd.oci.image.index.v1+json"


class PullFailed(Exception):
    """The source refused, could not be reached or sent something wrong; the message says which."""


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    digest: str
    media_type: str
    content: bytes


async def paced(content: AsyncIterator[bytes], bytes_per_second: int) -> AsyncIterator[bytes]:
    """The chunks, no faster than `bytes_per_second` on average (0: as they come)."""
    sent, start = 0, time.monotonic()
    async for chunk in content:
        yield chunk
        sent += len(chunk)
        if bytes_per_second:
            ahead = sent / bytes_per_second - (time.monotonic() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)


class PullClient:
    """One source registry. Use as `async with PullClient(endpoint) as client:`."""

    def __init__(
        self, endpoint: Endpoint, speed_kb: int = 0, chunk_size: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._speed = speed_kb * 1024 if speed_kb > 0 else 0
        self._chunk = max(0, chunk_size)
        self._client = httpx.AsyncClient(
            base_url=endpoint.url.rstrip("/"), verify=tls_verify(endpoint), transport=transport,
            auth=ChallengeAuth(endpoint.access_key, endpoint.access_secret),
            timeout=httpx.Timeout(TIMEOUT_SECONDS, read=300.0), follow_redirects=False,
            headers={"User-Agent": "berth-replication"},
        )
        #: Range requests sent for blobs (the task's log says how a blob came)
        self.ranges = 0

    async def __aenter__(self) -> PullClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _stream(self, path: str, headers: dict[str, str], follow_redirects: bool = False) -> httpx.Response:
        """A streamed GET (the caller closes it)."""
        request = self._client.build_request("GET", path, headers=headers)
        return await self._client.send(request, stream=True, follow_redirects=follow_redirects)

    async def manifest(self, repository: str, reference: str) -> RemoteManifest:
        """The manifest under a tag or digest; PullFailed when it is missing, too large, or its bytes
        do not match the digest asked for (or the one the source announces)."""
        try:
            response = await self._stream(f"/v2/{repository}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT})
            try:
                if response.status_code == 404:
                    raise PullFailed(f"manifest {repository}:{reference}: the source does not have it")
                if response.status_code != 200:
                    await response.aread()
                    raise PullFailed(f"GET manifest {repository}:{reference}: {_status(response)}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_MANIFEST_BYTES:
                        raise PullFailed(f"manifest {repository}:{reference} is larger than "
                                         f"{MAX_MANIFEST_BYTES} bytes")
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise PullFailed(f"GET manifest {repository}:{reference}: {failure_reason(exc)}") from None
        content = bytes(body)
        announced = response.headers.get("Docker-Content-Digest", "")
        expected = reference if is_digest_reference(reference) else announced
        try:
            digest = digest_of(content, parse_digest(expected).algorithm) if expected else digest_of(content)
        except InvalidDigest:
            raise PullFailed(f"manifest {repository}:{reference}: the source announced an invalid digest") from None
        if expected and digest != expected:
            raise PullFailed(f"manifest {repository}:{reference}: the source sent content whose digest is {digest}, "
                             f"not {expected}")
        return RemoteManifest(digest, _media_type(response, content), content)

    async def blob(self, repository: str, digest: str, size: int) -> AsyncIterator[bytes]:
        """The blob's bytes, exactly `size` of them (PullFailed on fewer or more); in Range requests of
        the chunk size when there is one and the source honours Range (else in one response)."""
        received = 0
        while received < size or size == 0:
            ranged = bool(self._chunk) and size > self._chunk
            headers = {"Range": f"bytes={received}-{min(size, received + self._chunk) - 1}"} if ranged else {}
            before = received
            try:
                response = await self._stream(f"/v2/{repository}/blobs/{digest}", headers, True)
                try:
                    if response.status_code == 404:
                        raise PullFailed(f"blob {digest}: the source does not have it")
                    if response.status_code == 200 and received:
                        raise PullFailed(f"blob {digest}: the source ignored a Range request")
                    if response.status_code not in (200, 206):
                        await response.aread()
                        raise PullFailed(f"GET blob {digest}: {_status(response)}")
                    self.ranges += response.status_code == 206
                    async for chunk in paced(response.aiter_raw(), self._speed):
                        received += len(chunk)
                        if received > size:
                            raise PullFailed(f"blob {digest}: the source sent more than the {size} bytes "
                                             "its descriptor says")
                        yield chunk
                    whole = response.status_code == 200
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise PullFailed(f"blob {digest}: the transfer broke after {received} of {size} bytes "
                                 f"({failure_reason(exc)})") from None
            if whole or received == before:
                break
        if received != size:
            raise PullFailed(f"blob {digest}: the source sent {received} of the {size} bytes its descriptor says")

    async def referrers(self, repository: str, digest: str) -> list[str]:
        """The digests of the manifests that name `digest` as their subject: the referrers API, else
        (a registry without it answers 404) the index under the referrers tag schema's tag."""
        try:
            response = await self._client.get(f"/v2/{repository}/referrers/{digest}", headers={"Accept": _INDEX})
        except httpx.HTTPError as exc:
            raise PullFailed(f"GET referrers of {digest}: {failure_reason(exc)}") from None
        if response.status_code == 200:
            return _listed(response.content, f"the referrers of {digest}")
        if response.status_code not in (404, 405):
            raise PullFailed(f"GET referrers of {digest}: {_status(response)}")
        try:
            fallback = await self.manifest(repository, digest.replace(":", "-"))
        except PullFailed as exc:
            if "does not have it" in str(exc):
                return []
            raise
        return _listed(fallback.content, f"the referrers tag of {digest}")


def _listed(content: bytes, what: str) -> list[str]:
    """The valid digests an index lists."""
    try:
        manifests = orjson.loads(content).get("manifests") or []
    except (orjson.JSONDecodeError, AttributeError):
        raise PullFailed(f"{what}: the source sent something that is not an image index") from None
    digests = []
    for item in manifests if isinstance(manifests, list) else []:
        try:
            digests.append(str(parse_digest(str(item.get("digest")))))
        except (InvalidDigest, AttributeError):
            raise PullFailed(f"{what}: the index lists an invalid digest") from None
    return list(dict.fromkeys(digests))


def _media_type(response: httpx.Response, content: bytes) -> str:
    declared = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if declared and declared not in ("application/json", "application/octet-stream", "text/plain"):
        return declared
    try:
        return str(orjson.loads(content).get("mediaType") or declared)
    except (orjson.JSONDecodeError, AttributeError):
        return declared


def _status(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"
