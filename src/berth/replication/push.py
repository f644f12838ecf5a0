"""Pushing to a registry endpoint over the OCI distribution API: HEAD a blob (skip it when the target
has it), stream a blob up in one PUT (never whole in memory, at most `speed` KB/s), PUT a manifest.
Docker token auth and Basic auth as the adapters do it, asking for `pull,push`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urljoin

import httpx

from berth.replication.adapters import TIMEOUT_SECONDS, ChallengeAuth, Endpoint, failure_reason, tls_verify


class PushFailed(Exception):
    """The target refused or could not be reached; the message says which, for the task's log."""


class PushClient:
    """One destination registry. Use as `async with PushClient(endpoint) as client:`."""

    def __init__(self, endpoint: Endpoint, speed_kb: int = 0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._speed = speed_kb * 1024 if speed_kb > 0 else 0
        self._client = httpx.AsyncClient(
            base_url=endpoint.url.rstrip("/"), verify=tls_verify(endpoint), transport=transport,
            auth=ChallengeAuth(endpoint.access_key, endpoint.access_secret, actions="pull,push"),
            timeout=httpx.Timeout(TIMEOUT_SECONDS, read=300.0, write=300.0), follow_redirects=False,
            headers={"User-Agent": "berth-replication"},
        )
        #: HEAD requests sent (the tests count what a second run skips)
        self.heads = 0

    async def __aenter__(self) -> PushClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            return await self._client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise PushFailed(str(failure_reason(exc))) from None

    async def has_blob(self, repository: str, digest: str) -> bool:
        self.heads += 1
        response = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise PushFailed(f"HEAD blob {digest}: {_status(response)}")

    async def has_manifest(self, repository: str, reference: str) -> str | None:
        """The digest the target has under `reference`, or None."""
        response = await self._send("HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": _ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PushFailed(f"HEAD manifest {reference}: {_status(response)}")
        return response.headers.get("Docker-Content-Digest") or ""

    async def push_blob(self, repository: str, digest: str, size: int, content: AsyncIterator[bytes]) -> None:
        started = await self._send("POST", f"/v2/{repository}/blobs/uploads/")
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise PushFailed(f"start upload of {digest}: {_status(started)}")
        url = urljoin(str(self._client.base_url) + "/", location)
        url += ("&" if "?" in url else "?") + f"digest={digest}"
        done = await self._send("PUT", url, content=self._limited(content),
                                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
        if done.status_code != 201:
            raise PushFailed(f"upload of {digest}: {_status(done)}")

    async def push_blob_in_chunks(
        self, repository: str, digest: str, size: int, read: Callable[[int, int], AsyncIterator[bytes]],
        chunk_size: int,
    ) -> int:
        """copy_by_chunk, as Harbor's transfer does it: a blob larger than `chunk_size` goes up in PATCH
        requests of at most that many bytes (`Content-Range: start-end`), the last one a PUT with the
        digest; a smaller one in one PUT. `read(offset, length)` streams that part of the blob. Returns
        the requests that carried bytes."""
        if size <= chunk_size:
            await self.push_blob(repository, digest, size, read(0, size))
            return 1
        started = await self._send("POST", f"/v2/{repository}/blobs/uploads/")
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise PushFailed(f"start upload of {digest}: {_status(started)}")
        start, requests = 0, 0
        while start < size:
            end = min(start + chunk_size, size) - 1
            url = urljoin(str(self._client.base_url) + "/", location)
            last = end == size - 1
            if last:
                url += ("&" if "?" in url else "?") + f"digest={digest}"
            piece = self._limited(read(start, end - start + 1))
            sent = await self._send("PUT" if last else "PATCH", url, content=piece,
                                    headers={"Content-Length": str(end - start + 1), "Content-Range": f"{start}-{end}",
                                             "Content-Type": "application/octet-stream"})
            if sent.status_code != (201 if last else 202):
                raise PushFailed(f"upload of {digest}, bytes {start}-{end}: {_status(sent)}")
            location = sent.headers.get("Location") or location
            start, requests = end + 1, requests + 1
        return requests

    async def put_manifest(self, repository: str, reference: str, media_type: str, content: bytes) -> None:
        response = await self._send("PUT", f"/v2/{repository}/manifests/{reference}", content=content,
                                    headers={"Content-Type": media_type})
        if response.status_code != 201:
            raise PushFailed(f"PUT manifest {repository}:{reference}: {_status(response)}")

    async def _limited(self, content: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks, paced to the speed limit (KB/s) when there is one."""
        sent, start = 0, time.monotonic()
        async for chunk in content:
            yield chunk
            sent += len(chunk)
            if self._speed:
                ahead = sent / self._speed - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)


_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))


def _status(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"
