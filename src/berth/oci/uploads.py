"""Blob uploads: POST/PATCH/PUT/GET/DELETE under /v2/<name>/blobs/uploads/."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from berth.oci.context import Front
from berth.oci.ranges import parse_content_range, upload_range_header
from berth.references import is_valid_name
from berth.services.blobs import BlobInfo, parse_blob_digest
from berth.services.errors import DigestInvalid, RangeInvalid, SizeInvalid
from berth.services.uploads import UploadState


def _upload_headers(front: Front, state: UploadState) -> dict[str, str]:
    return {
        "Location": front.url(f"/v2/{state.repository}/blobs/uploads/{state.id}"),
        "Range": upload_range_header(state.size),
        "Docker-Upload-UUID": state.id,
    }


def _created(front: Front, name: str, info: BlobInfo) -> Response:
    return Response(
        b"",
        201,
        {"Location": front.url(f"/v2/{name}/blobs/{info.digest}"), "Docker-Content-Digest": info.digest},
    )


def _content_length(request: Request) -> int | None:
    text = request.headers.get("content-length")
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise SizeInvalid(f"invalid Content-Length: {text[:40]!r}") from None
    if value < 0:
        raise SizeInvalid(f"invalid Content-Length: {value}")
    return value


def _chunk_bounds(request: Request) -> tuple[int | None, int | None]:
    """(start offset, byte count) of a chunk from Content-Range and Content-Length."""
    length = _content_length(request)
    try:
        content_range = parse_content_range(request.headers.get("content-range"))
    except ValueError as exc:
        raise RangeInvalid(str(exc)) from None
    if content_range is None:
        return None, length
    first, last = content_range
    if length is not None and length != last - first + 1:
        raise SizeInvalid(f"Content-Range {first}-{last} does not match Content-Length {length}")
    return first, last - first + 1


def _body(request: Request) -> AsyncIterator[bytes]:
    return (chunk async for chunk in request.stream() if chunk)


async def start_upload(front: Front, request: Request, name: str) -> Response:
    uploads = front.registry.uploads
    mount = request.query_params.get("mount")
    if mount is not None:
        digest = parse_blob_digest(mount)
        source = request.query_params.get("from")
        # a source the caller cannot pull from is treated as absent: no mount, a plain upload follows
        if source is None or (is_valid_name(source) and await front.may(request.state.subject, source, "pull")):
            info = await front.registry.blobs.mount(name, digest, source)
            if info is not None:
                return _created(front, name, info)
    digest_text = request.query_params.get("digest")
    if digest_text is not None and mount is None:
        digest = parse_blob_digest(digest_text)
        info = await uploads.monolithic(name, digest, _body(request), _content_length(request))
        return _created(front, name, info)
    algorithm = request.query_params.get("digest-algorithm", "sha256")
    state = await uploads.start(name, algorithm)
    return Response(b"", 202, _upload_headers(front, state))


async def upload_status(front: Front, request: Request, name: str, upload_id: str) -> Response:
    state = await front.registry.uploads.status(name, upload_id)
    return Response(b"", 204, _upload_headers(front, state))


async def patch_upload(front: Front, request: Request, name: str, upload_id: str) -> Response:
    start, length = _chunk_bounds(request)
    state = await front.registry.uploads.append(name, upload_id, _body(request), start, length)
    return Response(b"", 202, _upload_headers(front, state))


async def finish_upload(front: Front, request: Request, name: str, upload_id: str) -> Response:
    digest_text = request.query_params.get("digest")
    if not digest_text:
        raise DigestInvalid("the closing PUT needs ?digest=<digest of the whole blob>")
    digest = parse_blob_digest(digest_text)
    start, length = _chunk_bounds(request)
    has_body = (length or 0) > 0 or "chunked" in request.headers.get("transfer-encoding", "").lower()
    info = await front.registry.uploads.finish(
        name, upload_id, digest, _body(request) if has_body else None, start, length
    )
    return _created(front, name, info)


async def cancel_upload(front: Front, request: Request, name: str, upload_id: str) -> Response:
    await front.registry.uploads.cancel(name, upload_id)
    return Response(b"", 204)
