"""The API's documents and their pages: the platform's OpenAPI document (also at
Baserow's /api/schema.json), Swagger UI at /api/docs and ReDoc at /api/redoc; each app's
own document (/api/apps/{app}/openapi.json) with its pages (…/docs, …/redoc, and the
reference page …/api-docs) and a Postman collection (…/postman.json).

The pages' scripts and styles come with the project (the fastapi-offline package ships
Swagger UI 5 and ReDoc 2): an installation without internet access serves them all."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from tessera.workflows.v1 import workflows_pb2

from services.gateway import shapes
from services.gateway.app_docs import api_docs_page, postman_collection
from services.gateway.app_spec import AppDefinitions, app_document, view_of
from services.gateway.clients import Backends
from services.gateway.deps import AppContextDep
from services.gateway.openapi import TITLE, platform_spec, returns
from services.kit.access import APP_KINDS, Kind, Op, Principal
from services.kit.errors import NotFound, PermissionDenied, ServiceUnavailable, Unauthenticated

router = APIRouter(tags=["Documents"])

JSON = "application/json"
ASSETS_PATH = "/api/docs/assets"
# The files the pages load, as the package ships them.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
_ASSET_DIR = files("fastapi_offline") / "static"
# The assets change only with the package: a browser may keep them a day.
ASSET_CACHE = "public, max-age=86400"
# What Swagger UI keeps in the browser: the credentials entered, across reloads.
SWAGGER_PARAMETERS: dict[str, Any] = {
    "persistAuthorization": True,
    "displayOperationId": True,
    "tryItOutEnabled": True,
}


def _spec_json(request: Request) -> tuple[bytes, str]:
    """The platform document, built once per process: it follows from the routes."""
    state = request.app.state
    cached: tuple[bytes, str] | None = getattr(state, "openapi_json", None)
    if cached is None:
        body = orjson.dumps(platform_spec(request.app))
        cached = (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        state.openapi_json = cached
    return cached


def document(body: bytes, etag: str, request: Request) -> Response:
    """A JSON document with its ETag; 304 when the client holds it already."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


@router.get("/api/openapi.json", include_in_schema=False)
@router.get("/api/schema.json", include_in_schema=False)
async def openapi_document(request: Request) -> Response:
    return document(*_spec_json(request), request)


def swagger_page(title: str, spec_url: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=spec_url,
        title=title,
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )


def redoc_page(title: str, spec_url: str) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=spec_url,
        title=title,
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )


@router.get("/api/docs", include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    return swagger_page(f"{TITLE} API", "/api/openapi.json")


@router.get("/api/redoc", include_in_schema=False)
async def redoc() -> HTMLResponse:
    return redoc_page(f"{TITLE} API", "/api/openapi.json")


def _asset_route(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        return Response(
            (_ASSET_DIR / name).read_bytes(),
            media_type=media_type,
            headers={"Cache-Control": ASSET_CACHE},
        )

    return asset


# One route per file: a path parameter naming files is a path traversal waiting to happen.
for _name, _media_type in ASSETS.items():
    router.add_api_route(
        f"{ASSETS_PATH}/{_name}",
        _asset_route(_name, _media_type),
        methods=["GET"],
        include_in_schema=False,
        name=f"asset {_name}",
    )


# --- an app's own document ---------------------------------------------------------------


async def app_document_json(request: Request, app_slug: str, ctx: Any) -> bytes:
    """The app's document as the caller may use it (services.gateway.app_spec)."""
    definitions: AppDefinitions = request.app.state.app_definitions
    principal = Principal.of(ctx)
    held = await definitions.of(ctx.tenant_id, app_slug)
    if principal.kind in APP_KINDS and held.app.id != ctx.app_id:
        # An app's end users and visitors know that app only.
        raise NotFound("App not found")
    views = [view for s in held.schemas if (view := view_of(s, principal)) is not None]
    saved = await _saved_queries(request, app_slug, ctx)
    if not views and not saved and not principal.may(Op.APPS_READ):
        # As its records answer: the app is there, and none of it is open to the caller.
        raise PermissionDenied("Nothing of this app is open to you")
    spec = app_document(
        held.app, app_slug, views, saved, anonymous=principal.kind == Kind.ANONYMOUS
    )
    return orjson.dumps(spec)


async def _saved_queries(request: Request, app_slug: str, ctx: Any) -> list[dict[str, Any]]:
    """The saved queries the caller may run; none for a caller that may run none, and
    none while the workflows service is away (the records part of the document stands)."""
    backends: Backends = request.app.state.backends
    try:
        reply = await backends.call(
            backends.workflows.DescribeQueries,
            workflows_pb2.QueryRequest(ctx=ctx, app_slug=app_slug),
        )
    except (PermissionDenied, Unauthenticated, NotFound, ServiceUnavailable):
        return []
    try:
        queries: list[dict[str, Any]] = orjson.loads(reply.json)["queries"]
    except orjson.JSONDecodeError:  # a number no JSON reader takes: leave the queries out
        return []
    return queries


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.get(
    "/api/apps/{app_slug}/openapi.json",
    **returns(shapes.OpenApiDocument),
    summary="The app's OpenAPI document, as the caller may use the app",
)
async def app_openapi(app_slug: str, request: Request, ctx: AppContextDep) -> Response:
    body = await app_document_json(request, app_slug, ctx)
    return document(body, _etag(body), request)


@router.get("/api/apps/{app_slug}/docs", include_in_schema=False)
async def app_swagger_ui(app_slug: str, request: Request, ctx: AppContextDep) -> HTMLResponse:
    # Only for an app the caller may reach, as its document is.
    await app_document_json(request, app_slug, ctx)
    return swagger_page(f"{app_slug} - {TITLE} API", f"/api/apps/{quote(app_slug)}/openapi.json")


@router.get("/api/apps/{app_slug}/redoc", include_in_schema=False)
async def app_redoc(app_slug: str, request: Request, ctx: AppContextDep) -> HTMLResponse:
    await app_document_json(request, app_slug, ctx)
    return redoc_page(f"{app_slug} - {TITLE} API", f"/api/apps/{quote(app_slug)}/openapi.json")


@router.get(
    "/api/apps/{app_slug}/postman.json",
    **returns(shapes.PostmanCollection),
    summary="The app's records API as a Postman collection (v2.1)",
)
async def app_postman(app_slug: str, request: Request, ctx: AppContextDep) -> Response:
    spec = orjson.loads(await app_document_json(request, app_slug, ctx))
    body = orjson.dumps(postman_collection(spec, base_url=str(request.base_url).rstrip("/")))
    return Response(
        body,
        media_type=JSON,
        headers={"Content-Disposition": f'attachment; filename="{_file_name(app_slug)}.json"'},
    )


@router.get("/api/apps/{app_slug}/api-docs", include_in_schema=False)
async def app_api_docs(app_slug: str, request: Request, ctx: AppContextDep) -> HTMLResponse:
    spec = orjson.loads(await app_document_json(request, app_slug, ctx))
    return HTMLResponse(api_docs_page(spec, base_url=str(request.base_url).rstrip("/")))


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:64] or "app"
