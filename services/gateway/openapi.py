"""The platform's OpenAPI 3.1 document, built from the gateway's own routes.

FastAPI describes each route from its signature: path parameters, and the response model
its return annotation names (services.gateway.shapes). What FastAPI cannot see is added
here, from the same sources the routes use at run time:

- the JSON body a route parses itself (`parse_json(request, Model)`) is declared beside
  it with `json_body(Model)`, the model being the one it parses with;
- which credentials an operation takes follows from the dependencies that authenticate
  it (services.gateway.deps);
- every error response is the one envelope (services.kit.errors), documented once.

No part of it is written by hand, so it cannot drift from what the routes do."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.routing import BaseRoute

from services.gateway import deps, queries
from services.gateway.auth import SESSION_COOKIE
from services.kit.errors import ERRORS_BY_CODE

TITLE = "Tessera"
VERSION = "1"
DESCRIPTION = """Apps, schemas and records of a multi-tenant low-code backend.

Sign in with `POST /api/user/token-auth/` and send `Authorization: JWT <access token>`,
or use an API token (`Authorization: Token <token>` or `Bearer <token>`), a personal
API key (`X-Api-Key`), or the session cookie of `POST /auth/login/`.

Every error is `{"error": {"code", "message", "field"?, "details"?}}`. Each app also has a
typed document of its own schemas at `/api/apps/{app}/openapi.json`."""

_COMPONENT = "#/components/schemas/{model}"

# The credentials a request may carry (services.gateway.auth reads them in this order).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "JWT": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`JWT <access token>`, the access token of `POST /api/user/token-auth/`",
    },
    "Token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token <secret>`: an API token of `POST /api/tokens`, or an admin token",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An access JWT or an API token as a bearer token",
    },
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A personal API key of `POST /api/user/api-key`",
    },
    "Session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session of `POST /auth/login/`; writes also send `X-CSRFToken`",
    },
}
# The document's sections, in the order a reader meets them.
TAGS = [
    {"name": "Accounts", "description": "Sign up, tokens, sessions and workspaces"},
    {"name": "Members", "description": "A workspace's members and their roles"},
    {
        "name": "Single sign-on",
        "description": "A workspace's OpenID provider, and signing in through it",
    },
    {"name": "Users API", "description": "Budibase's users API over the current workspace"},
    {"name": "Credentials", "description": "API tokens, the personal API key, admin tokens"},
    {"name": "Apps", "description": "Apps of the workspace"},
    {"name": "Schemas", "description": "Schemas, their fields and privacy rules"},
    {"name": "Records", "description": "Records of a schema: every app has a typed document"},
    {"name": "Import and export", "description": "CSV and NDJSON in and out"},
    {"name": "App users", "description": "An app's end users and their sessions"},
    {"name": "Workflows", "description": "An app's workflows, every edit a new version"},
    {
        "name": "Webhooks",
        "description": "An app's outgoing webhooks: signed, retried, each delivery kept",
    },
    {
        "name": "API connector",
        "description": "An app's external APIs, their calls, and saved queries run by name",
    },
    {
        "name": "Realtime",
        "description": "Changes as they happen, as Server-Sent Events (and over the"
        " WebSocket at /api/apps/{app}/realtime, which this document cannot describe)",
    },
    {"name": "Trash", "description": "What was deleted in the last 72 hours"},
    {"name": "Audit log", "description": "The workspace's security events"},
    {"name": "Documents", "description": "An app's OpenAPI document and Postman collection"},
    {"name": "Health", "description": "Liveness and readiness"},
]
Requirement = dict[str, list[str]]
_ANY_CREDENTIAL: list[Requirement] = [{name: []} for name in SECURITY_SCHEMES]
# API and admin tokens stand for a workspace, not for the account that made them.
_ACCOUNT_CREDENTIALS: list[Requirement] = [
    {name: []} for name in ("JWT", "Bearer", "ApiKey", "Session")
]

# Dependencies that authenticate a route, and the credentials each takes.
_AUTHENTICATING: dict[Callable[..., Any], list[dict[str, list[str]]]] = {
    deps.get_context: _ANY_CREDENTIAL,
    deps.get_caller: _ANY_CREDENTIAL,
    deps.get_workspace_context: _ANY_CREDENTIAL,
    deps.get_account_caller: _ACCOUNT_CREDENTIALS,
    deps.get_account_context: _ACCOUNT_CREDENTIALS,
    # An app's anonymous callers too (the app addressed by its public id).
    deps.get_app_context: [*_ANY_CREDENTIAL, {}],
}

_BODIES: dict[str, Any] = {}


def json_body(shape: Any, *, form: bool = False, required: bool = True) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads a JSON body of `shape`: the model it
    parses with (`parse_json(request, Model)`), or a typed dict of services.gateway.shapes
    for a body a route checks itself. `form`: an HTML form's fields are taken too."""
    known = _BODIES.setdefault(shape.__name__, shape)
    if known is not shape:
        raise ValueError(f"two request bodies are named {shape.__name__}")
    schema = {"$ref": _COMPONENT.format(model=shape.__name__)}
    content = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"requestBody": {"required": required, "content": content}}


def returns(
    shape: Any,
    *,
    status: int = 200,
    also: tuple[int, ...] = (),
    description: str = "",
    accepted: Any = None,
    fails_with: tuple[int, ...] = (),
) -> dict[str, Any]:
    """The keyword arguments of a route decorator for a route that answers `status` (or
    one of `also`) with a body of `shape` (services.gateway.shapes), or 202 with a body of
    `accepted` when given, and that may fail with the errors of `fails_with` besides those
    every route of its kind may. Documentation only: the route builds the body itself, and
    FastAPI neither converts nor checks it."""
    return {
        "status_code": status,
        "response_model": None,
        "responses": {
            **{
                code: {"model": shape, "description": description or HTTPStatus(code).phrase}
                for code in (status, *also)
            },
            **(
                {202: {"model": accepted, "description": HTTPStatus(202).phrase}}
                if accepted is not None
                else {}
            ),
            **{code: {"description": HTTPStatus(code).phrase} for code in fails_with},
        },
    }


def query_parameter(
    name: str, description: str, *, schema: dict[str, Any] | None = None, required: bool = False
) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads one query parameter itself."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": required,
                "description": description,
                "schema": schema or {"type": "string"},
            }
        ]
    }


def list_parameters() -> dict[str, Any]:
    """The `openapi_extra` of a records list (services.gateway.queries.list_request)."""
    parameters = [
        {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
        for name, (schema, text) in queries.LIST_PARAMETER_DOCS.items()
    ]
    parameters.append(
        {
            "name": "filter",
            "in": "query",
            "required": False,
            "description": queries.FILTER_PARAMETER_DOC,
            "style": "deepObject",
            "explode": True,
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    )
    return {"parameters": parameters}


def error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "enum": sorted(ERRORS_BY_CODE)},
                    "message": {"type": "string"},
                    "field": {
                        "type": "string",
                        "description": "The parameter, header or body key at fault",
                    },
                    "details": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "One entry per fault, e.g. per record of a batch",
                    },
                },
            }
        },
        "example": {
            "error": {
                "code": "validation_error",
                "message": "Field 'name' is required",
                "field": "name",
            }
        },
    }


def error_responses() -> dict[str, dict[str, Any]]:
    """One reusable response per error status, described by the errors that use it."""
    by_status: dict[int, list[str]] = {}
    for code, error in ERRORS_BY_CODE.items():
        by_status.setdefault(error.http_status, []).append(f"`{code}`: {error.default_message}")
    return {
        str(status): {
            "description": "; ".join(texts),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, texts in sorted(by_status.items())
    }


def _statuses(route: APIRoute, method: str) -> list[int]:
    # A public operation refuses a wrong password (401) or another site's page (403) too.
    statuses = [400, 401, 403, 429, 500, 503]
    if route.param_convertors or method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.append(404)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses += [409, 412, 413, 415]
    return sorted(set(statuses))


def _failures(route: APIRoute) -> list[int]:
    """The error statuses a route declared with `returns(..., fails_with=...)`."""
    return [status for status in route.responses if isinstance(status, int) and status >= 400]


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """The routes of the document, included routers' routes in their order."""
    for route in routes:
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                yield route
        else:
            included = getattr(route, "original_router", None)
            if included is not None:
                yield from api_routes(included.routes)


def _security(route: APIRoute) -> list[dict[str, list[str]]]:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        found = _AUTHENTICATING.get(dependency.call)  # type: ignore[arg-type]
        if found is not None:
            return found
        pending.extend(dependency.dependencies)
    return []


def platform_spec(app: FastAPI) -> dict[str, Any]:
    routes = list(api_routes(app.routes))
    spec = get_openapi(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=routes,
        tags=TAGS,
    )
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # FastAPI's own 422 answer never happens: a bad request is a 400 in the envelope.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for name, shape in _BODIES.items():
        body = TypeAdapter(shape).json_schema(ref_template=_COMPONENT)
        for nested, definition in {**body.pop("$defs", {}), name: body}.items():
            if schemas.setdefault(nested, definition) != definition:
                raise ValueError(f"two shapes named {nested} differ")
    schemas["Error"] = error_schema()
    components["securitySchemes"] = SECURITY_SCHEMES
    errors = error_responses()
    components["responses"] = {f"Error{status}": response for status, response in errors.items()}
    for route in routes:
        security = _security(route)
        for method in sorted(route.methods or ()):
            operation = spec["paths"][route.path_format][method.lower()]
            operation["operationId"] = route.name
            operation["security"] = security
            responses = operation["responses"]
            responses.pop("422", None)
            for code, response in responses.items():
                # A redirect says where in its Location; FastAPI would give it a body.
                if code.startswith("3") and code != "304":
                    response.pop("content", None)
            for status in _statuses(route, method) + _failures(route):
                # A failure a route declared (fails_with) has a description only: the
                # envelope's shape is the shared one's.
                if str(status) in errors and "content" not in responses.get(str(status), {}):
                    responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    return spec


def operation_ids(spec: Mapping[str, Any]) -> list[str]:
    return [
        operation["operationId"]
        for operations in spec["paths"].values()
        for operation in operations.values()
    ]
