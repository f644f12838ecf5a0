"""Routes /v2 requests to their handlers by the path's shape, with the name validated first."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from berth.guard import FaultGuard
from berth.oci import blobs, listing, manifests, proxy, referrers, uploads
from berth.oci.access import authorize
from berth.oci.context import Front
from berth.oci.errors import API_VERSION_HEADER, error_response, registry_error_response
from berth.services.errors import NameInvalid, RegistryError, ServiceError
from berth.services.proxy_cache import UpstreamUnusable
from berth.references import MAX_NAME_LENGTH, is_valid_name

Handler = Callable[..., Awaitable[Response]]
log = structlog.get_logger("berth.oci")
_API_VERSION = (API_VERSION_HEADER[0].lower().encode(), API_VERSION_HEADER[1].encode())

#: the proxy-cache front's name for the routes it answers itself
_PROXIED: dict[Handler, str] = {
    blobs.get_blob: "blobs", manifests.get_manifest: "manifests", referrers.list_referrers: "referrers"}

_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/v2/(?P<name>.+)/blobs/uploads/?"), {"POST": uploads.start_upload}),
    (
        re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)"),
        {
            "GET": uploads.upload_status,
            "PATCH": uploads.patch_upload,
            "PUT": uploads.finish_upload,
            "DELETE": uploads.cancel_upload,
        },
    ),
    (
        re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest_text>[^/]+)"),
        {"GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob},
    ),
    (
        re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.get_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (re.compile(r"/v2/(?P<name>.+)/tags/list"), {"GET": listing.list_tags}),
    (re.compile(r"/v2/(?P<name>.+)/referrers/(?P<digest_text>[^/]+)"), {"GET": referrers.list_referrers}),
]


async def _base(front: Front, request: Request) -> Response:
    return Response(b"{}", 200, media_type="application/json")


_EXACT: dict[str, dict[str, Handler]] = {
    "/v2": {"GET": _base, "HEAD": _base},
    "/v2/": {"GET": _base, "HEAD": _base},
    "/v2/_catalog": {"GET": listing.list_catalog},
}


class OciApp:
    """The ASGI app for everything under /v2."""

    def __init__(self, front: Front) -> None:
        self.front = front
        # a failing database or blob store answers in the spec's error body (berth.guard)
        self._guarded = FaultGuard(self._serve, error_response)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], _API_VERSION]
            await send(message)

        await self._guarded(scope, receive, send_with_version)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.dispatch(request, scope["path"], scope["method"])
        await response(scope, receive, send)

    async def dispatch(self, request: Request, path: str, method: str) -> Response:
        handlers = _EXACT.get(path)
        params: dict[str, str] = {}
        if handlers is None:
            for pattern, candidate in _ROUTES:
                match = pattern.fullmatch(path)
                if match is not None:
                    handlers, params = candidate, match.groupdict()
                    break
            else:
                return error_response(404, "NOT_FOUND", "no such endpoint")
        handler = handlers.get(method)
        if handler is None:
            return error_response(405, "UNSUPPORTED", f"{method} is not supported here", None,
                                  {"Allow": ", ".join(sorted(handlers))})
        name = params.get("name")
        try:
            if name is not None and not is_valid_name(name):
                raise NameInvalid(
                    f"invalid repository name (the OCI grammar, at most {MAX_NAME_LENGTH} characters)",
                    {"name": name[:300]},
                )
            claimed = name
            if name is not None and method in ("GET", "HEAD") and self.front.settings.mirror_projects:
                mirrored = await proxy.mirrored_name(self.front, request, name)
                if mirrored is not None:
                    name = params["name"] = mirrored
            allowed = await authorize(self.front, request, name, upload="/blobs/uploads" in path, claimed=claimed)
            if isinstance(allowed, Response):
                return allowed
            request.state.subject = allowed
            if name is not None and request.state.project.registry_id:
                # a proxy-cache project: pulls through the cache, pushes refused; tag lists are local
                proxied = await proxy.serve(self.front, request, _PROXIED.get(handler, ""), params)
                if proxied is not None:
                    return proxied
            return await handler(self.front, request, **params)
        except UpstreamUnusable as exc:  # a proxy-cache miss the upstream could not serve
            return error_response(exc.status, exc.code, exc.message)
        except RegistryError as exc:
            return registry_error_response(exc)
        except ServiceError as exc:  # a policy refusal (quota: 403 DENIED), in the same error envelope
            return error_response(exc.status, exc.code, exc.message)

        except ClientDisconnect:
            log.info("client disconnected", method=method, path=path)
            return Response(b"", 400)
