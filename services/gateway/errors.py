"""One place that renders every failure as {"error": {"code", "message", "field"?, "details"?}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.kit.errors import (
    ERRORS_BY_CODE,
    DomainError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger(__name__)

_ERRORS_BY_HTTP_STATUS = {cls.http_status: cls for cls in ERRORS_BY_CODE.values()}


def error_response(error: DomainError) -> JSONResponse:
    headers = {}
    if error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tessera"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(error.to_envelope(), status_code=error.http_status, headers=headers)


async def _domain_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        return error_response(NotFound(f"No endpoint at {request.url.path}"))
    if error.status_code == 405:
        response = error_response(
            MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
        )
        response.headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return response
    if 400 <= error.status_code < 500:
        cls = _ERRORS_BY_HTTP_STATUS.get(error.status_code, ValidationFailed)
        return error_response(cls(str(error.detail)))
    return error_response(InternalError())


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path, asked of the router the way a request
    with that method would be matched (routes are split by method)."""
    routes = request.app.router.routes
    return {
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    }


async def _request_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or None
    return error_response(ValidationFailed(str(first.get("msg", "Invalid request")), field=field))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=error,
        extra={"request_id": request.headers.get("x-request-id")},
    )
    return error_response(InternalError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
