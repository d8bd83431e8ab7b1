"""The API connector (builders and up): an app's providers of external APIs, their
authentication and calls, each call initialized once to learn the shape of its answer;
and saved queries, data calls run by name, by end users too as each query's role admits."""

from __future__ import annotations

import secrets

import orjson
from fastapi import APIRouter, Request, Response
from tessera.workflows.v1 import workflows_pb2

from services.gateway import queries, shapes
from services.gateway.auth import public_base_url
from services.gateway.bodies import read_body
from services.gateway.deps import AppContextDep, BackendsDep, ContextDep
from services.gateway.openapi import json_body, query_parameter, returns

router = APIRouter(tags=["API connector"])
CALLBACK_PATH = "/api/connectors/oauth/callback"
BROWSER_COOKIE = "tessera_connector_oauth"
# As long as the workflows service keeps an authorization under way.
AUTHORIZATION_SECONDS = 600


def _json(reply: workflows_pb2.JsonDocument, status_code: int = 200) -> Response:
    return Response(reply.json, status_code=status_code, media_type="application/json")


def _connector(
    ctx: ContextDep, app_slug: str, connector_id: str = "", call: str = "", body: bytes = b""
) -> workflows_pb2.ConnectorRequest:
    return workflows_pb2.ConnectorRequest(
        ctx=ctx, app_slug=app_slug, connector_id=connector_id, call=call, body_json=body
    )


@router.get("/api/apps/{app_slug}/connectors", **returns(shapes.Connectors))
async def list_connectors(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    return _json(await backends.call(backends.workflows.ListConnectors, _connector(ctx, app_slug)))


@router.post(
    "/api/apps/{app_slug}/connectors",
    **returns(shapes.Connector, status=201),
    openapi_extra=json_body(shapes.ConnectorInput),
)
async def create_connector(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """A new connector. Its private values (keys, passwords, client secrets, private keys,
    private headers and parameters) are sealed at rest and shown as "***" from now on."""
    reply = await backends.call(
        backends.workflows.CreateConnector,
        _connector(ctx, app_slug, body=await read_body(request)),
    )
    return _json(reply, 201)


@router.get("/api/apps/{app_slug}/connectors/{connector_id}", **returns(shapes.Connector))
async def get_connector(
    app_slug: str, connector_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    return _json(
        await backends.call(
            backends.workflows.GetConnector, _connector(ctx, app_slug, connector_id)
        )
    )


@router.patch(
    "/api/apps/{app_slug}/connectors/{connector_id}",
    **returns(shapes.Connector),
    openapi_extra=json_body(shapes.ConnectorInput),
)
async def update_connector(
    app_slug: str, connector_id: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Replaces the fields sent (a list replaces the whole list); "***" keeps a stored
    private value. A call whose definition changed must be initialized again."""
    reply = await backends.call(
        backends.workflows.UpdateConnector,
        _connector(ctx, app_slug, connector_id, body=await read_body(request)),
    )
    return _json(reply)


@router.delete("/api/apps/{app_slug}/connectors/{connector_id}", status_code=204)
async def delete_connector(
    app_slug: str, connector_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Deletes the connector and the saved queries of its calls."""
    await backends.call(backends.workflows.DeleteConnector, _connector(ctx, app_slug, connector_id))
    return Response(status_code=204)


@router.post(
    "/api/apps/{app_slug}/connectors/{connector_id}/calls/{call}/initialize",
    **returns(shapes.CallInitialized, fails_with=(502,)),
    openapi_extra=json_body(shapes.CallParameters, required=False),
)
async def initialize_call(
    app_slug: str,
    connector_id: str,
    call: str,
    request: Request,
    ctx: ContextDep,
    backends: BackendsDep,
) -> Response:
    """Sends the call for real with sample values (the stored ones unless given) and keeps
    the JSON Schema of its answer, which types the call from then on."""
    reply = await backends.call(
        backends.workflows.InitializeCall,
        _connector(ctx, app_slug, connector_id, call, await read_body(request)),
    )
    return _json(reply)


@router.post(
    "/api/apps/{app_slug}/connectors/{connector_id}/calls/{call}/run",
    **returns(shapes.CallAnswer, fails_with=(412, 502)),
    openapi_extra=json_body(shapes.CallParameters, required=False),
)
async def run_call(
    app_slug: str,
    connector_id: str,
    call: str,
    request: Request,
    ctx: ContextDep,
    backends: BackendsDep,
) -> Response:
    """Runs an initialized call with the parameters given and answers what the API did."""
    reply = await backends.call(
        backends.workflows.RunCall,
        _connector(ctx, app_slug, connector_id, call, await read_body(request)),
    )
    return _json(reply)


def _query(
    ctx: ContextDep, app_slug: str, name: str = "", body: bytes = b""
) -> workflows_pb2.QueryRequest:
    return workflows_pb2.QueryRequest(ctx=ctx, app_slug=app_slug, name=name, body_json=body)


@router.get("/api/apps/{app_slug}/queries", **returns(shapes.SavedQueries))
async def list_queries(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    return _json(await backends.call(backends.workflows.ListQueries, _query(ctx, app_slug)))


@router.post(
    "/api/apps/{app_slug}/queries",
    **returns(shapes.SavedQuery, status=201),
    openapi_extra=json_body(shapes.SavedQueryInput),
)
async def create_query(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Saves a connector's data call under a name of the app."""
    reply = await backends.call(
        backends.workflows.CreateQuery, _query(ctx, app_slug, body=await read_body(request))
    )
    return _json(reply, 201)


@router.get("/api/apps/{app_slug}/queries/{name}", **returns(shapes.SavedQuery))
async def get_query(app_slug: str, name: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    return _json(await backends.call(backends.workflows.GetQuery, _query(ctx, app_slug, name)))


@router.patch(
    "/api/apps/{app_slug}/queries/{name}",
    **returns(shapes.SavedQuery),
    openapi_extra=json_body(shapes.SavedQueryInput),
)
async def update_query(
    app_slug: str, name: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Replaces the fields sent."""
    reply = await backends.call(
        backends.workflows.UpdateQuery, _query(ctx, app_slug, name, await read_body(request))
    )
    return _json(reply)


@router.delete("/api/apps/{app_slug}/queries/{name}", status_code=204)
async def delete_query(
    app_slug: str, name: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    await backends.call(backends.workflows.DeleteQuery, _query(ctx, app_slug, name))
    return Response(status_code=204)


@router.post(
    "/api/apps/{app_slug}/queries/{name}/execute",
    **returns(shapes.QueryResult, fails_with=(412, 502)),
    openapi_extra=json_body(shapes.CallParameters, required=False),
)
async def execute_query(
    app_slug: str, name: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """Runs the query with the parameters given over its defaults, as members and the app's
    end users its role admits (anonymous callers, by the app's public id, when it is
    "public"), and answers the API's data with its schema."""
    reply = await backends.call(
        backends.workflows.ExecuteQuery, _query(ctx, app_slug, name, await read_body(request))
    )
    return _json(reply)


@router.post(
    "/api/apps/{app_slug}/connectors/{connector_id}/authorize",
    **returns(shapes.ConnectorAuthorization),
)
async def authorize_connector(
    app_slug: str, connector_id: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """For a connector of the OAuth2 user-agent flow: the URL to send the caller (a member,
    or an end user of the app) to, to connect their own account. The authorization server
    sends them back to /api/connectors/oauth/callback; from then on the connector's calls
    act as them."""
    redirect_uri = public_base_url(request, request.app.state.settings) + CALLBACK_PATH
    browser = secrets.token_urlsafe(32)
    body = orjson.dumps({"redirect_uri": redirect_uri, "browser": browser})
    reply = await backends.call(
        backends.workflows.AuthorizeConnector, _connector(ctx, app_slug, connector_id, body=body)
    )
    answer = _json(reply)
    # The callback is completed only in the browser holding this: an authorization URL
    # sent to someone else cannot connect their account to the caller's.
    answer.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=AUTHORIZATION_SECONDS,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
    )
    return answer


@router.delete("/api/apps/{app_slug}/connectors/{connector_id}/authorize", status_code=204)
async def disconnect_connector(
    app_slug: str, connector_id: str, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """Forgets the caller's own tokens for the connector."""
    await backends.call(
        backends.workflows.DisconnectConnector, _connector(ctx, app_slug, connector_id)
    )
    return Response(status_code=204)


@router.get(
    CALLBACK_PATH,
    **returns(shapes.ConnectorConnected),
    openapi_extra={
        "parameters": [
            *query_parameter("state", "The state the authorization URL carried")["parameters"],
            *query_parameter("code", "The authorization code")["parameters"],
            *query_parameter("error", "Why the server did not authorize")["parameters"],
        ]
    },
)
async def connector_oauth_callback(request: Request, backends: BackendsDep) -> Response:
    """Where an OAuth2 authorization server sends the user back: the code is traded for
    their tokens. The state, unguessable and good for ten minutes, is the credential."""
    given = {
        name: queries.text(request.query_params.get(name), name, 2000)
        for name in ("state", "code", "error")
    }
    given["browser"] = request.cookies.get(BROWSER_COOKIE, "")[:200]
    reply = await backends.call(
        backends.workflows.CompleteConnectorAuthorization,
        workflows_pb2.ConnectorRequest(body_json=orjson.dumps(given)),
    )
    answer = _json(reply)
    answer.delete_cookie(BROWSER_COOKIE, path=CALLBACK_PATH)
    return answer
