"""GET /v2/<name>/referrers/<digest>: the OCI 1.1 referrers API, paged like the tags list (n, last, Link)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from berth import mediatypes
from berth.oci.context import Front
from berth.oci.listing import page_response
from berth.services.blobs import parse_blob_digest
from berth.services.paging import parse_page_size


async def list_referrers(front: Front, request: Request, name: str, digest_text: str) -> Response:
    digest = parse_blob_digest(digest_text)
    artifact_type = request.query_params.get("artifactType") or None
    n = parse_page_size(request.query_params.get("n"))
    page = await front.registry.manifests.referrers(name, digest, artifact_type, n, request.query_params.get("last"))
    body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": page.items}
    filters = {"artifactType": artifact_type} if artifact_type else {}
    return page_response(
        front, f"/v2/{name}/referrers/{digest}", body, page, n, query=filters, media_type=mediatypes.OCI_INDEX,
        headers={"OCI-Filters-Applied": "artifactType"} if artifact_type else None,
    )
