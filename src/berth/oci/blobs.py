"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from berth.oci.errors import error_response
from berth.oci.ranges import RangeNotSatisfiable, parse_range
from berth.oci.responses import FileRangeResponse, StreamRangeResponse
from berth.oci.context import Front
from berth.services.blobs import parse_blob_digest


async def get_blob(front: Front, request: Request, name: str, digest_text: str) -> Response:
    digest = parse_blob_digest(digest_text)
    info = await front.registry.blobs.stat(name, digest)
    headers = {
        "Docker-Content-Digest": info.digest,
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.digest}"',
        "Cache-Control": "max-age=31536000",
    }
    try:
        byte_range = parse_range(request.headers.get("range"), info.size)
    except RangeNotSatisfiable:
        return error_response(
            416, "RANGE_INVALID", "requested range not satisfiable", None, {"Content-Range": f"bytes */{info.size}"}
        )
    start, length, status = 0, info.size, 200
    if byte_range is not None:
        start, length, status = byte_range[0], byte_range[1] - byte_range[0] + 1, 206
        headers["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{info.size}"
    head = request.method == "HEAD"
    if head:
        return _head(length, status, headers)
    if front.settings.storage_redirect:
        url = await front.registry.blobs.presigned_url(digest, front.settings.storage_redirect_expiry_seconds)
        if url is not None:
            return RedirectResponse(url, 307, {"Docker-Content-Digest": info.digest})
    local = front.registry.blobs.local_file(digest)
    if local is not None:
        return FileRangeResponse(local, start, length, status, headers)  # type: ignore[return-value]
    chunks = front.registry.blobs.read(digest, start, length)
    return StreamRangeResponse(chunks, length, status, headers)  # type: ignore[return-value]


def _head(length: int, status: int, headers: dict[str, str]) -> Response:
    response = Response(b"", status, headers)
    response.headers["content-length"] = str(length)
    return response


async def delete_blob(front: Front, request: Request, name: str, digest_text: str) -> Response:
    digest = parse_blob_digest(digest_text)
    await front.registry.blobs.unlink(name, digest)
    return Response(b"", 202, {"Docker-Content-Digest": str(digest)})
