"""GET /v2/<name>/referrers/<digest>: the OCI 1.1 referrers API."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth import mediatypes
from berth.oci.context import Front
from berth.services.blobs import parse_blob_digest


async def list_referrers(front: Front, request: Request, name: str, digest_text: str) -> Response:
    digest = parse_blob_digest(digest_text)
    artifact_type = request.query_params.get("artifactType") or None
    descriptors = await front.registry.manifests.referrers(name, digest, artifact_type)
    body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(orjson.dumps(body), 200, headers, media_type=mediatypes.OCI_INDEX)
