"""Turns domain errors into the distribution-spec's JSON error body and status code."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from berth.services import errors

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")

_STATUS: dict[type[errors.RegistryError], int] = {
    errors.BlobUnknown: 404,
    errors.BlobUploadInvalid: 400,
    errors.BlobUploadUnknown: 404,
    errors.DigestInvalid: 400,
    errors.ManifestBlobUnknown: 400,
    errors.ManifestInvalid: 400,
    errors.ManifestUnknown: 404,
    errors.ManifestTooLarge: 413,
    errors.NameInvalid: 400,
    errors.NameUnknown: 404,
    errors.SizeInvalid: 400,
    errors.TagInvalid: 400,
    errors.RangeInvalid: 416,
    errors.Unsupported: 400,
    errors.PaginationInvalid: 400,
}


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return orjson.dumps({"errors": [entry]})


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_body(code, message, detail), status, headers, media_type="application/json")


def registry_error_response(exc: errors.RegistryError, headers: dict[str, str] | None = None) -> Response:
    status = _STATUS.get(type(exc), 400)
    return error_response(status, exc.code, exc.message, exc.detail, headers)
