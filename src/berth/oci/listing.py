"""Paginated lists: GET /v2/_catalog and GET /v2/<name>/tags/list (n/last with Link headers)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth.oci.access import catalog_projects
from berth.oci.context import Front
from berth.services.paging import Page, parse_page_size


def page_response(
    front: Front, path: str, body: dict[str, Any], page: Page[Any], n: int | None,
    query: dict[str, str] | None = None, media_type: str = "application/json", headers: dict[str, str] | None = None,
) -> Response:
    """A list page with `Link: <path?last=…&n=…&query…>; rel="next"` when more follow."""
    headers = dict(headers or {})
    if page.next_last is not None:
        params = {"last": page.next_last, **({"n": n} if n is not None else {}), **(query or {})}
        headers["Link"] = f'<{front.url(path)}?{urlencode(params, quote_via=quote)}>; rel="next"'
    return Response(orjson.dumps(body), 200, headers, media_type=media_type)


async def list_catalog(front: Front, request: Request) -> Response:
    n = parse_page_size(request.query_params.get("n"))
    projects = await catalog_projects(front, request.state.subject)
    page = await front.registry.repositories.catalog(n, request.query_params.get("last"), projects)
    return page_response(front, "/v2/_catalog", {"repositories": page.items}, page, n)


async def list_tags(front: Front, request: Request, name: str) -> Response:
    n = parse_page_size(request.query_params.get("n"))
    page = await front.registry.repositories.tags(name, n, request.query_params.get("last"))
    return page_response(front, f"/v2/{name}/tags/list", {"name": name, "tags": page.items}, page, n)
