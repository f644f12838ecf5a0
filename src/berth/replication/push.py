"""Pushing to a registry endpoint over the OCI distribution API: HEAD a blob (skip it when the target
has it), mount it from another repository of the target that got it (`MountMemory`), else stream it
up in one PUT (never whole in memory, at most `speed` KB/s), PUT a manifest, DELETE one.
Docker token auth and Basic auth as the adapters do it, asking for `pull,push`."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from urllib.parse import urljoin

import httpx

from berth.replication.adapters import TIMEOUT_SECONDS, ChallengeAuth, Endpoint, failure_reason, tls_verify


class PushFailed(Exception):
    """The target refused or could not be reached; the message says which, for the task's log."""


class MountMemory:
    """Which repository of a destination got which blob, so that the next repository that needs it
    mounts it (`POST …/blobs/uploads/?mount=<digest>&from=<repository>`) instead of uploading it.
    Best effort: in this process's memory, the oldest forgotten beyond `size` entries; a mount the
    destination refuses (the blob went, or the credential may not read there) becomes an upload."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()

    def source(self, endpoint: str, digest: str) -> str | None:
        return self._seen.get((endpoint, digest))

    def remember(self, endpoint: str, digest: str, repository: str) -> None:
        self._seen[(endpoint, digest)] = repository
        self._seen.move_to_end((endpoint, digest))
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)


class DeleteRefused(PushFailed):
    """The target answered a delete with a refusal that retrying cannot change."""


class PushClient:
    """One destination registry. Use as `async with PushClient(endpoint) as client:`."""

    def __init__(
        self, endpoint: Endpoint, speed_kb: int = 0, transport: httpx.AsyncBaseTransport | None = None,
        mounts: MountMemory | None = None,
    ) -> None:
        self._endpoint = endpoint.url.rstrip("/")
        self._mounts = mounts
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
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
            detail = f": {exc}" if str(exc) else ""
            raise PushFailed(f"the destination closed the connection ({type(exc).__name__}{detail})") from None
        except httpx.HTTPError as exc:
            raise PushFailed(str(failure_reason(exc))) from None

    async def has_blob(self, repository: str, digest: str) -> bool:
        self.heads += 1
        response = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code == 200:
            self._remember(repository, digest)
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

    async def push_blob(self, repository: str, digest: str, size: int, content: AsyncIterator[bytes]) -> str:
        """Mount or upload the blob; says which ("mounted from <repository>" or "pushed")."""
        source = self._mounts.source(self._endpoint, digest) if self._mounts is not None else None
        mount = f"?mount={digest}&from={source}" if source and source != repository else ""
        started = await self._send("POST", f"/v2/{repository}/blobs/uploads/{mount}")
        if mount and started.status_code == 201:
            self._remember(repository, digest)
            return f"mounted from {source}"
        # a refused mount answers 202 with an upload session, as a plain POST does
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise PushFailed(f"start upload of {digest}: {_status(started)}")
        url = urljoin(str(self._client.base_url) + "/", location)
        url += ("&" if "?" in url else "?") + f"digest={digest}"
        try:
            done = await self._send("PUT", url, content=self._limited(content),
                                    headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
        except PushFailed as exc:
            raise PushFailed(f"upload of {digest} ({size} bytes) broke off: {exc}") from None
        if done.status_code != 201:
            raise PushFailed(f"upload of {digest}: {_status(done)}")
        self._remember(repository, digest)
        return "pushed"

    def _remember(self, repository: str, digest: str) -> None:
        if self._mounts is not None:
            self._mounts.remember(self._endpoint, digest, repository)

    async def delete_manifest(self, repository: str, reference: str) -> bool:
        """DELETE a manifest by digest or tag; False when the target does not have it. A target that
        refuses (deletes disabled: 405; a tag it cannot delete alone: 400) raises DeleteRefused."""
        response = await self._send("DELETE", f"/v2/{repository}/manifests/{reference}")
        if response.status_code in (200, 202, 204):
            return True
        if response.status_code == 404:
            return False
        if response.status_code in (400, 403, 405):
            why = _DELETE_HINTS.get(response.status_code, "")
            if response.status_code == 400 and reference.startswith("sha256:"):
                why = ""
            raise DeleteRefused(f"the destination refused to delete {repository}:{reference}: "
                                f"{_status(response)}{why}")
        raise PushFailed(f"DELETE manifest {repository}:{reference}: {_status(response)}")

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
        """The chunks, paced to the speed limit (KB/s) when there is one: sent in pieces of a tenth of a
        second's worth (a storage chunk of 1 MiB at 512 KB/s would otherwise go in one burst, then
        a two-second pause)."""
        if not self._speed:
            async for chunk in content:
                yield chunk
            return
        sent, start = 0, time.monotonic()
        step = max(16 * 1024, self._speed // 10)
        async for chunk in content:
            for offset in range(0, len(chunk), step):
                piece = chunk[offset:offset + step]
                yield piece
                sent += len(piece)
                ahead = sent / self._speed - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)


_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))


#: what a refusal usually means, for the task log
_DELETE_HINTS = {
    405: " (deletes are disabled there; a docker-registry needs REGISTRY_STORAGE_DELETE_ENABLED=true)",
    400: " (a CNCF distribution registry deletes manifests by digest only, never a tag alone)",
    403: " (the endpoint's credential may not delete there)",
}


def _status(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"
