"""Paginated lists: GET /v2/_catalog and GET /v2/<name>/tags/list (n/last with Link headers)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth.oci.access import catalog_projects
from berth.oci.context import Front
from berth.services.repositories import Page, parse_page_size


def _page_response(front: Front, path: str, body: dict, page: Page, n: int | None) -> Response:
    headers = {}
    if page.next_last is not None:
        query = urlencode({"last": page.next_last, **({"n": n} if n is not None else {})}, quote_via=quote)
        headers["Link"] = f'<{front.url(path)}?{query}>; rel="next"'
    return Response(orjson.dumps(body), 200, headers, media_type="application/json")


async def list_catalog(front: Front, request: Request) -> Response:
    n = parse_page_size(request.query_params.get("n"))
    projects = await catalog_projects(front, request.state.subject)
    page = await front.registry.repositories.catalog(n, request.query_params.get("last"), projects)
    return _page_response(front, "/v2/_catalog", {"repositories": page.items}, page, n)


async def list_tags(front: Front, request: Request, name: str) -> Response:
    n = parse_page_size(request.query_params.get("n"))
    page = await front.registry.repositories.tags(name, n, request.query_params.get("last"))
    return _page_response(front, f"/v2/{name}/tags/list", {"name": name, "tags": page.items}, page, n)
