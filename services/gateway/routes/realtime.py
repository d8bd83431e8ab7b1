"""Realtime over a WebSocket (`/api/apps/{app}/realtime`) and over Server-Sent Events
(`/api/apps/{app}/events`): the same subscriptions and events (services.gateway.realtime).

A WebSocket is authenticated by its handshake's credential (Authorization or X-Api-Key; a
session cookie only from the gateway's own origin or an allowed one, so another site's page
cannot open one in its visitor's name), or by a first message
`{"type": "auth", "token": "..."}` sent within GATEWAY_REALTIME_AUTH_SECONDS (browsers
cannot set headers on a WebSocket). An app addressed by its public id takes anonymous
subscribers, as its record routes do. Then, from the client:

    {"type": "subscribe", "id": "s1", "schema": "tasks", "filter": {...},
     "last_event_id": "..."}                     records of a schema (filter optional)
    {"type": "subscribe", "id": "s2", "topic": "schemas"}          the app's schemas
    {"type": "subscribe", "id": "s3", "topic": "workflow_runs"}    its workflows' runs
    {"type": "unsubscribe", "id": "s1"}
    {"type": "ping"}                                                answered "pong"
    {"type": "auth", "token": "..."}    a fresh credential of the same caller, answered
                                        "authenticated" (before an access token expires:
                                        an expired or revoked credential ends the socket)

and from the server `ready`, `subscribed`, `unsubscribed`, the events (each with
`subscription` and `event_id`), `heartbeat` (every GATEWAY_REALTIME_HEARTBEAT_SECONDS,
with each subscription's event id), `resync_required`, `pong` and `error`. An error that
ends the connection closes it with a code in the 4000s (CLOSE_CODES).

The event stream takes one subscription in its query (`schema`, `filter` as JSON, `topic`)
and resumes from the Last-Event-ID header (or `last_event_id`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.gateway.auth import SESSION_COOKIE, Authenticator, is_public_app_id
from services.gateway.config import GatewaySettings
from services.gateway.deps import AppContextDep
from services.gateway.realtime import TOPICS, Connection, Hub, Refused
from services.kit.errors import DomainError, ValidationFailed
from services.kit.filter_tree import tree_node
from services.kit.json import NestedTooDeeply, loads_exact

log = logging.getLogger(__name__)

router = APIRouter(tags=["Realtime"])

MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_SUBSCRIPTIONS: Final = 100
MAX_TOKEN_LENGTH: Final = 4096
SUBSCRIPTION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
SCHEMA_SLUG = re.compile(r"[A-Za-z0-9_-]{1,63}", re.ASCII)
SUBSCRIBE_KEYS: Final = frozenset({"type", "id", "topic", "schema", "filter", "last_event_id"})
# Why a connection ended -> its close code.
CLOSE_CODES: Final = {
    "unauthenticated": 4401,
    "credential_revoked": 4401,
    "permission_denied": 4403,
    "not_found": 4404,
    "authentication_timeout": 4408,
    "slow_consumer": 4429,
}
# A client that stops reading gets this long to take the message saying why it is closed.
LAST_WORD_SECONDS: Final = 2.0


def _hub(app: Any) -> Hub:
    hub: Hub = app.state.realtime
    return hub


def _as_request(websocket: WebSocket, token: str | None = None) -> Request:
    """The handshake as the authenticator reads a request: a GET from the same origin
    scheme (http, https), with `token` as its bearer credential when one came by message."""
    scope = dict(websocket.scope)
    scope["type"] = "http"
    scope["method"] = "GET"
    scope["scheme"] = {"ws": "http", "wss": "https"}.get(str(scope.get("scheme")), "http")
    if token is not None:
        headers = [
            (k, v) for k, v in scope.get("headers", []) if k not in (b"authorization", b"cookie")
        ]
        scope["headers"] = [*headers, (b"authorization", f"Bearer {token}".encode())]
    return Request(scope)


def subscription_request(given: Any) -> dict[str, Any]:
    """A subscribe message (or an event stream's query) checked: the hub's arguments."""
    if not isinstance(given, dict):
        raise ValidationFailed("A subscription is a JSON object")
    for key in given:
        if key not in SUBSCRIBE_KEYS:
            raise ValidationFailed(f"Unknown key {str(key)[:64]!r}", field=str(key)[:64])
    subscription_id = given.get("id")
    if not isinstance(subscription_id, str) or not SUBSCRIPTION_ID.fullmatch(subscription_id):
        raise ValidationFailed(
            "'id' names the subscription: 1 to 64 letters, digits or _.:-", field="id"
        )
    schema = given.get("schema")
    topic = given.get("topic") or ("records" if schema is not None else None)
    if topic not in TOPICS:
        raise ValidationFailed(
            "'topic' is one of " + ", ".join(TOPICS) + " ('records' needs 'schema')",
            field="topic",
        )
    if topic == "records":
        if not isinstance(schema, str) or not SCHEMA_SLUG.fullmatch(schema):
            raise ValidationFailed(
                "'schema' is the slug of one of the app's schemas", field="schema"
            )
    elif schema is not None or given.get("filter") is not None:
        raise ValidationFailed(f"A {topic} subscription takes no schema or filter", field="topic")
    filter_node: records_pb2.FilterNode | None = None
    if given.get("filter") is not None:
        filter_node = tree_node(given["filter"], "filter", depth=0)
    last_event_id = given.get("last_event_id")
    if last_event_id is not None and not isinstance(last_event_id, str):
        raise ValidationFailed("'last_event_id' is an event id you received", field="last_event_id")
    return {
        "subscription_id": subscription_id,
        "topic": topic,
        "schema": schema or "",
        "filter_node": filter_node,
        "last_event_id": last_event_id,
    }


@router.websocket("/api/apps/{app}/realtime")
async def realtime_socket(websocket: WebSocket, app: str) -> None:
    settings: GatewaySettings = websocket.app.state.settings
    authenticator: Authenticator = websocket.app.state.authenticator
    hub = _hub(websocket.app)
    await websocket.accept()
    try:
        ctx, authenticate, first = await _authenticate(websocket, authenticator, settings, app)
    except Refused as refusal:
        await _close(websocket, refusal.message_for())
        return
    connection = Connection(
        ctx, app=app, queue_size=settings.realtime_queue_size, authenticate=authenticate
    )
    try:
        await hub.open(connection)
    except Refused as refusal:
        await _close(websocket, refusal.message_for())
        return
    connection.send({"type": "ready", "heartbeat_seconds": settings.realtime_heartbeat_seconds})
    writer = asyncio.create_task(_write(websocket, connection))

    async def renew(token: str) -> None:
        """A fresh credential for the same caller (before its access token expires)."""
        request = _as_request(websocket, token)

        async def again() -> common_pb2.RequestContext:
            return await authenticator.app_context(request, app)

        try:
            renewed = await again()
        except DomainError as error:
            raise Refused.of(error) from None
        if (renewed.tenant_id, renewed.principal_id) != (ctx.tenant_id, ctx.principal_id):
            raise Refused("permission_denied", "A new credential must be the same caller's")
        connection.ctx, connection.authenticate = renewed, again

    reader = asyncio.create_task(_read(websocket, hub, connection, first, renew))
    try:
        await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.disconnect(connection)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if not writer.done():
            # The client left: nothing more to write.
            writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _authenticate(
    websocket: WebSocket, authenticator: Authenticator, settings: GatewaySettings, app: str
) -> tuple[
    common_pb2.RequestContext,
    Callable[[], Awaitable[common_pb2.RequestContext]],
    dict[str, Any] | None,
]:
    """The caller, how to check it again, and a first message that was not `auth` (an
    anonymous subscriber's first subscribe)."""
    request = _as_request(websocket)
    if authenticator.presents_credentials(request):
        only_cookie = (
            "authorization" not in request.headers
            and "x-api-key" not in request.headers
            and bool(request.cookies.get(SESSION_COOKIE))
        )
        if only_cookie and not authenticator.origin_allowed(request):
            raise Refused("permission_denied", "A session cookie opens no socket from that origin")
    else:
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), settings.realtime_auth_seconds)
        except TimeoutError:
            raise Refused(
                "authentication_timeout",
                f"Send {{'type': 'auth', 'token': ...}} within {settings.realtime_auth_seconds} s",
            ) from None
        message = _parsed(raw)
        if message.get("type") == "auth":
            token = message.get("token")
            if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
                raise Refused("unauthenticated", "'auth' needs a 'token'")
            request = _as_request(websocket, token)
        elif not is_public_app_id(app):
            raise Refused("unauthenticated", "Authenticate first: {'type': 'auth', 'token': ...}")
        else:

            async def anonymous() -> common_pb2.RequestContext:
                return await authenticator.app_context(request, app)

            try:
                return await anonymous(), anonymous, message
            except DomainError as error:
                raise Refused.of(error) from None

    async def again() -> common_pb2.RequestContext:
        return await authenticator.app_context(request, app)

    try:
        return await again(), again, None
    except DomainError as error:
        raise Refused.of(error) from None


def _parsed(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Refused("validation_error", f"Messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = loads_exact(raw)
    except (ValueError, NestedTooDeeply):
        raise Refused("validation_error", "Messages are JSON objects") from None
    if not isinstance(message, dict):
        raise Refused("validation_error", "Messages are JSON objects")
    return message


async def _read(
    websocket: WebSocket,
    hub: Hub,
    connection: Connection,
    first: dict[str, Any] | None,
    renew: Callable[[str], Awaitable[None]],
) -> None:
    if first is not None:
        await _handle(hub, connection, first, renew)
    while True:
        try:
            raw = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        except KeyError:
            # A binary frame: not a message of ours.
            connection.send(Refused("validation_error", "Messages are JSON text").message_for())
            continue
        try:
            message = _parsed(raw)
        except Refused as refusal:
            connection.send(refusal.message_for())
            continue
        await _handle(hub, connection, message, renew)


async def _handle(
    hub: Hub,
    connection: Connection,
    message: dict[str, Any],
    renew: Callable[[str], Awaitable[None]],
) -> None:
    kind = message.get("type")
    try:
        if kind == "subscribe":
            if len(connection.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise Refused("conflict", f"At most {MAX_SUBSCRIPTIONS} subscriptions")
            try:
                wanted = subscription_request(message)
            except DomainError as error:
                raise Refused.of(error) from None
            subscription = await hub.subscribe(connection, **wanted)
            connection.send(
                {
                    "type": "subscribed",
                    "subscription": subscription.id,
                    "event_id": hub.event_id(subscription),
                }
            )
        elif kind == "unsubscribe":
            subscription_id = message.get("id")
            if not isinstance(subscription_id, str) or not hub.unsubscribe(
                connection, subscription_id
            ):
                raise Refused("not_found", "No such subscription", "id")
            connection.send({"type": "unsubscribed", "subscription": subscription_id})
        elif kind == "ping":
            connection.send({"type": "pong"})
        elif kind == "auth":
            token = message.get("token")
            if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
                raise Refused("validation_error", "'auth' needs a 'token'", "token")
            await renew(token)
            connection.send({"type": "authenticated"})
        else:
            raise Refused(
                "validation_error",
                "'type' is one of subscribe, unsubscribe, ping, auth",
                "type",
            )
    except Refused as refusal:
        subscription_id = message.get("id") if kind in ("subscribe", "unsubscribe") else None
        connection.send(
            refusal.message_for(subscription_id if isinstance(subscription_id, str) else None)
        )


async def _write(websocket: WebSocket, connection: Connection) -> None:
    """Sends what queues, until the connection must end: then its last word, and close."""
    while True:
        getting = asyncio.ensure_future(connection.queue.get())
        await asyncio.wait({getting, connection.ending}, return_when=asyncio.FIRST_COMPLETED)
        if connection.ending.done():
            getting.cancel()
            await _close(websocket, connection.ending.result())
            return
        await websocket.send_text(orjson.dumps(getting.result()).decode())


async def _close(websocket: WebSocket, last: dict[str, Any]) -> None:
    code = CLOSE_CODES.get(str(last.get("code")), 4400)
    with contextlib.suppress(Exception):
        if websocket.client_state == WebSocketState.CONNECTED:
            await asyncio.wait_for(
                websocket.send_text(orjson.dumps(last).decode()), LAST_WORD_SECONDS
            )
            await asyncio.wait_for(
                websocket.close(code=code, reason=str(last.get("code"))), LAST_WORD_SECONDS
            )


# --- Server-Sent Events --------------------------------------------------------------------

EVENT_STREAM_PARAMETERS: Final = frozenset({"schema", "filter", "topic", "last_event_id"})


@router.get(
    "/api/apps/{app_slug}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The subscription's events as they happen: `event` is the type,"
            " `id` the event id, `data` the JSON message; a `heartbeat` every"
            " GATEWAY_REALTIME_HEARTBEAT_SECONDS",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    openapi_extra={
        "parameters": [
            {
                "name": "schema",
                "in": "query",
                "description": "The schema whose records to follow",
                "schema": {"type": "string"},
            },
            {
                "name": "filter",
                "in": "query",
                "description": 'Only records matching it: {"field", "op", "value"} in'
                ' {"and": [...]} / {"or": [...]} groups, as JSON',
                "schema": {"type": "string"},
            },
            {
                "name": "topic",
                "in": "query",
                "description": "records (the default with `schema`), schemas or workflow_runs",
                "schema": {"type": "string", "enum": list(TOPICS)},
            },
            {
                "name": "last_event_id",
                "in": "query",
                "description": "Resume after this event id (or send Last-Event-ID)",
                "schema": {"type": "string"},
            },
            {
                "name": "Last-Event-ID",
                "in": "header",
                "description": "Resume after this event id",
                "schema": {"type": "string"},
            },
        ]
    },
)
async def realtime_events(request: Request, app_slug: str, ctx: AppContextDep) -> StreamingResponse:
    """The realtime events of one subscription as Server-Sent Events: `schema` (and a
    `filter` as JSON) or `topic`; resumes from the Last-Event-ID header."""
    settings: GatewaySettings = request.app.state.settings
    authenticator: Authenticator = request.app.state.authenticator
    hub = _hub(request.app)

    async def again() -> common_pb2.RequestContext:
        return await authenticator.app_context(request, app_slug)

    connection = Connection(
        ctx, app=app_slug, queue_size=settings.realtime_queue_size, authenticate=again
    )
    try:
        await hub.open(connection)
    except Refused as refusal:
        raise refusal.as_error() from None
    try:
        subscription = await hub.subscribe(connection, **_stream_subscription(request))
    except Refused as refusal:
        hub.disconnect(connection)
        raise refusal.as_error() from None
    except BaseException:
        hub.disconnect(connection)
        raise
    connection.send(
        {
            "type": "subscribed",
            "subscription": subscription.id,
            "event_id": hub.event_id(subscription),
        }
    )
    return StreamingResponse(
        _event_stream(hub, connection),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _stream_subscription(request: Request) -> dict[str, Any]:
    given: dict[str, Any] = {"id": "events"}
    for key, value in request.query_params.multi_items():
        if key not in EVENT_STREAM_PARAMETERS or key in given:
            raise ValidationFailed(f"Unknown or repeated parameter {key[:64]!r}", field=key[:64])
        given[key] = value
    if "filter" in given:
        try:
            given["filter"] = loads_exact(given["filter"])
        except (ValueError, NestedTooDeeply):
            raise ValidationFailed("'filter' is a JSON filter tree", field="filter") from None
    resume = request.headers.get("last-event-id")
    if resume is not None and "last_event_id" not in given:
        given["last_event_id"] = resume
    return subscription_request(given)


async def _event_stream(hub: Hub, connection: Connection) -> AsyncIterator[bytes]:
    try:
        while True:
            getting = asyncio.ensure_future(connection.queue.get())
            await asyncio.wait({getting, connection.ending}, return_when=asyncio.FIRST_COMPLETED)
            if connection.ending.done():
                getting.cancel()
                yield _sse(connection.ending.result())
                return
            yield _sse(getting.result())
    finally:
        hub.disconnect(connection)


def _sse(message: dict[str, Any]) -> bytes:
    lines = [f"event: {message['type']}".encode()]
    event_id = message.get("event_id")
    if event_id is None and message["type"] == "heartbeat":
        event_id = next(iter(message.get("event_ids", {}).values()), None)
    if event_id is not None:
        lines.append(f"id: {event_id}".encode())
    lines.append(b"data: " + orjson.dumps(message))
    return b"\n".join(lines) + b"\n\n"
