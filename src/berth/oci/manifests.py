"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth.oci.context import Front
from berth.services.errors import ManifestTooLarge, SizeInvalid


async def get_manifest(front: Front, request: Request, name: str, reference: str) -> Response:
    record = await front.registry.manifests.get(name, reference)
    headers = {
        "Content-Type": record.media_type,
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
    }
    if request.method == "HEAD":
        response = Response(b"", 200, headers)
        response.headers["content-length"] = str(len(record.content))
        return response
    return Response(record.content, 200, headers)


async def put_manifest(front: Front, request: Request, name: str, reference: str) -> Response:
    limit = front.registry.manifests.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ManifestTooLarge(f"manifest exceeds the {limit} byte limit")
        except ValueError:
            raise SizeInvalid(f"invalid Content-Length: {declared[:40]!r}") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ManifestTooLarge(f"manifest exceeds the {limit} byte limit")
    result = await front.registry.manifests.put(
        name, reference, bytes(body), request.headers.get("content-type"), request.query_params.getlist("tag")
    )
    headers = {
        "Location": front.url(f"/v2/{name}/manifests/{result.digest}"),
        "Docker-Content-Digest": result.digest,
    }
    if result.subject:
        headers["OCI-Subject"] = result.subject
    response = Response(b"", 201, headers)
    if request.query_params.getlist("tag"):
        for tag in result.tags:
            response.headers.append("OCI-Tag", tag)
    return response


async def delete_manifest(front: Front, request: Request, name: str, reference: str) -> Response:
    await front.registry.manifests.delete(name, reference)
    return Response(b"", 202)
