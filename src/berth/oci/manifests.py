"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth import mediatypes
from berth.oci.context import Front
from berth.oci.policies import pull_refusal
from berth.references import is_digest_reference
from berth.services.errors import ManifestTooLarge, ManifestUnknown, SizeInvalid
from berth.services.manifests import ManifestRecord

#: the platform a client that cannot read a Docker manifest list gets (as distribution does)
DEFAULT_PLATFORM = ("linux", "amd64")


def accepted_types(accept_headers: list[str]) -> set[str]:
    """Media types named by the Accept headers (parameters and q-values dropped)."""
    types = set()
    for header in accept_headers:
        for item in header.split(","):
            media_type = item.split(";", 1)[0].strip().lower()
            if media_type:
                types.add(media_type)
    return types


async def negotiate(front: Front, name: str, record: ManifestRecord, accept_headers: list[str]) -> ManifestRecord:
    """Serve what the client accepts, as distribution does.

    Without Accept, or when it allows the stored type or */*, the stored manifest
    is served. An OCI manifest or index the client does not accept is
    MANIFEST_UNKNOWN; a Docker manifest list falls back to its linux/amd64 image.
    """
    accepted = accepted_types(accept_headers)
    if not accepted or record.media_type in accepted or "*/*" in accepted:
        return record
    if record.media_type == mediatypes.DOCKER_MANIFEST_LIST:
        for child in orjson.loads(record.content).get("manifests", []):
            platform = child.get("platform") or {}
            if (platform.get("os"), platform.get("architecture")) == DEFAULT_PLATFORM:
                return await front.registry.manifests.get(name, child["digest"])
    if record.media_type in (mediatypes.OCI_MANIFEST, mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST):
        raise ManifestUnknown(
            f"the manifest is {record.media_type}, which the request's Accept header does not allow",
            {"mediaType": record.media_type},
        )
    return record


async def get_manifest(front: Front, request: Request, name: str, reference: str) -> Response:
    record = await front.registry.manifests.get(name, reference)
    return await manifest_response(front, request, name, reference, record)


async def manifest_response(
    front: Front, request: Request, name: str, reference: str, record: ManifestRecord,
) -> Response:
    """GET/HEAD's answer with `record` (the project's pull policies first, then content negotiation)."""
    refusal = await pull_refusal(front, request, name, record.digest)
    if refusal is not None:
        return refusal
    accept = request.headers.getlist("accept")
    if accept:
        record = await negotiate(front, name, record, accept)
    headers = {
        "Content-Type": record.media_type,
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
    }
    if request.method == "HEAD":
        response = Response(b"", 200, headers)
        response.headers["content-length"] = str(len(record.content))
        return response
    # a GET is a pull, as Harbor counts them
    front.registry.pulls.record(
        name, record.digest, None if is_digest_reference(reference) else reference, record.media_type)
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
