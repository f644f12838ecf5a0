"""/v2 in a proxy-cache project, and mirror mode: pulls go through services/proxy_cache.py, pushes
and deletes are refused with Harbor's 403. Ordinary projects never come here."""

from __future__ import annotations

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from berth import mediatypes
from berth.oci import blobs
from berth.oci.context import Front
from berth.oci.manifests import manifest_response
from berth.proxy.names import mirror_project
from berth.references import is_valid_name
from berth.services.blobs import parse_blob_digest
from berth.services.errors import BlobUnknown, Denied
from berth.services.proxy_cache import BlobStream
from berth.storage.base import FOLLOW_EXTENSION as FOLLOW

log = structlog.get_logger("berth.proxy")


async def serve(front: Front, request: Request, route: str, params: dict[str, str]) -> Response | None:
    """The response for a request in a proxy-cache project; None: the ordinary handler answers
    (tag lists; referrers unless the project proxies them: what is cached)."""
    name = params["name"]
    method = request.method
    if method not in ("GET", "HEAD"):
        verb = "delete" if method == "DELETE" else "push"
        preposition = "in" if verb == "delete" else "to"
        raise Denied(f"can not {verb} artifact {preposition} a proxy project: {name}")
    if route not in ("manifests", "blobs", "referrers"):
        return None
    canonical = await front.registry.proxy_cache.canonical_name(name)
    path = request.scope["path"]
    # (a mirror-mode request names no project: it is served as it is, the upstream name is the same)
    if canonical != name and path.startswith(f"/v2/{name}/"):
        target = "/v2/" + canonical + path[len("/v2/") + len(name):]
        query = request.scope.get("query_string", b"").decode("latin-1")
        return RedirectResponse(front.url(target) + (f"?{query}" if query else ""), 301)
    if route == "referrers":
        return await _referrers(front, request, name, params["digest_text"])
    if route == "manifests":
        record = await front.registry.proxy_cache.manifest(name, params["reference"])
        return await manifest_response(front, request, name, params["reference"], record)
    if route == "blobs":
        cache = front.registry.proxy_cache
        digest = parse_blob_digest(params["digest_text"])
        if not cache.fetching(name, digest):  # while it is fetched, a pull joins the fetch
            try:
                return await blobs.get_blob(front, request, name, params["digest_text"])
            except BlobUnknown:
                if await cache.link_local(name, digest):
                    return await blobs.get_blob(front, request, name, params["digest_text"])
        headers = {"Docker-Content-Digest": str(digest), "Content-Type": "application/octet-stream",
                   "ETag": f'"{digest}"'}
        if method == "HEAD":
            size = await cache.blob_size(name, digest)
            response = Response(b"", 200, headers)
            response.headers["content-length"] = str(size)
            return response
        return _UpstreamBlobResponse(await cache.open_blob(name, digest), headers)  # type: ignore[return-value]


async def _referrers(front: Front, request: Request, name: str, digest_text: str) -> Response | None:
    """The upstream's referrers of a digest (a project with `proxy_referrer_api`), its next page's Link
    pointing here; None: the local listing answers."""
    digest = parse_blob_digest(digest_text)
    query = {key: value for key in ("artifactType", "n", "last") if (value := request.query_params.get(key))}
    found = await front.registry.proxy_cache.referrers(name, digest, query)
    if found is None:
        return None
    headers = {"OCI-Filters-Applied": found.filters_applied} if found.filters_applied else {}
    if found.next_query:
        headers["Link"] = f'<{front.url(f"/v2/{name}/referrers/{digest}")}?{found.next_query}>; rel="next"'
    return Response(orjson.dumps(found.index), 200, headers, media_type=mediatypes.OCI_INDEX)


class _UpstreamBlobResponse:
    """Streams a blob as it comes from upstream. When the cache finds it cut short or wrong, the
    response stops before its last bytes: the client sees a broken transfer, never a whole wrong blob.
    A blob written into a local file goes out from that file, by the server itself where it offers
    `berth.response.follow` (berth's uvicorn on plain TCP: a thread of its own, off the event loop)."""

    def __init__(self, stream: BlobStream, headers: dict[str, str]) -> None:
        self._stream = stream
        self._headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if stream.size is not None:
            self._headers.append((b"content-length", str(stream.size).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        if stream.reader is not None and stream.size is not None and FOLLOW in scope.get("extensions", {}):
            try:
                await send({"type": FOLLOW, "fd": stream.reader.fileno(), "spool": stream.spool})
            finally:
                await stream.close()
            if stream.spool is not None and stream.spool.failed:
                log.warning("proxy cache cut a blob response", error="the upstream blob was cut short or is not "
                            "what its digest says")
            return
        try:
            async for chunk in stream.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:  # the body is cut: the server closes the connection
            log.warning("proxy cache cut a blob response", error=str(exc)[:300])
            return
        finally:
            await stream.close()
        await send({"type": "http.response.body", "body": b""})


async def mirrored_name(front: Front, request: Request, name: str) -> str | None:
    """Mirror mode: the name in the proxy project a prefix-less pull is served from, or None.

    With containerd's `ns` the runtime says it uses berth as a mirror: the configured project
    serves it. Without `ns` (Docker's registry-mirrors, or a plain pull), a real project wins when it
    is a proxy project or holds the repository (berth's own images stay reachable); anything else
    goes to the mirror.
    """
    namespace = request.query_params.get("ns")
    target = mirror_project(namespace, front.settings.mirror_projects)
    if target is None or name.partition("/")[0] == target:
        return None
    if not namespace and "/" in name:
        project = await front.registry.projects.ref(name.partition("/")[0])
        if project is not None and (project.registry_id or await front.registry.repositories.find(name) is not None):
            return None
    mirrored = f"{target}/{name}"
    return mirrored if is_valid_name(mirrored) else None
