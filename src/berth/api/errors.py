"""Harbor's error shape, {"errors":[{"code","message"}]}, for every error the API answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException

from berth.guard import FaultGuard
from berth.services.errors import ServiceError

#: Harbor's error code for each status it answers with
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUEST",
    500: "UNKNOWN",
}


def harbor_error(status: int, message: str, code: str | None = None) -> ORJSONResponse:
    return ORJSONResponse(
        {"errors": [{"code": code or _CODES.get(status, "UNKNOWN"), "message": message}]}, status_code=status
    )


def harbor_render(status: int, code: str, message: str) -> ORJSONResponse:
    """harbor_error in the argument order berth.guard.FaultGuard renders with."""
    return harbor_error(status, message, code)


def install_error_handlers(app: FastAPI) -> None:
    # inside Starlette's ServerErrorMiddleware: a failing database or blob store, or any unexpected error,
    # answers in Harbor's shape instead of a plain-text 500 (berth.guard)
    app.add_middleware(FaultGuard, render=harbor_render)

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> ORJSONResponse:
        response = harbor_error(exc.status, exc.message, exc.code)
        if exc.status == 401 and request.headers.get("authorization"):
            response.headers["WWW-Authenticate"] = 'Basic realm="harbor"'
        return response

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> ORJSONResponse:
        return harbor_error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> ORJSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return harbor_error(400, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))
