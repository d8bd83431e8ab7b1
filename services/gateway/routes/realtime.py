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
                                        an expired or revoked credential ends the socket,
                                        and so does a refused one)

and from the server `ready`, `subscribed` (with the subscription's event id, before what
it missed), the events (each with `subscription` and `event_id`), `heartbeat` (every
GATEWAY_REALTIME_HEARTBEAT_SECONDS, with each subscription's event id),
`resync_required`, `unsubscribed`, `pong` and `error`. An error that ends the socket
closes it with a code in the 4000s (CLOSE_CODES).

The event stream takes one subscription in its query (`schema` and a list's
`filter[field][op]=value` conditions, or `topic`) and resumes from the Last-Event-ID
header (or `last_event_id`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.gateway import queries
from services.gateway.auth import SESSION_COOKIE, Authenticator, is_public_app_id
from services.gateway.config import GatewaySettings
from services.gateway.deps import AppContextDep
from services.gateway.realtime import TOPICS, Connection, Hub, error_message
from services.kit.errors import (
    DomainError,
    InternalError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
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
# Why a socket ended -> its close code.
CLOSE_CODES: Final = {
    "unauthenticated": 4401,
    "credential_revoked": 4401,
    "permission_denied": 4403,
    "not_found": 4404,
    "authentication_timeout": 4408,
    "rate_limited": 4429,
    "slow_consumer": 4429,
    "service_unavailable": 1013,
}
# How long a client that stops reading gets to take the message saying why it is closed.
LAST_WORD_SECONDS: Final = 5.0
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"cookie"})


def _hub(app: Any) -> Hub:
    hub: Hub = app.state.realtime
    return hub


def _as_request(websocket: WebSocket, token: str | None = None) -> Request:
    """The handshake as the authenticator reads a request: a GET, its scheme the page's
    (http, https), with `token` as its only credential when one came by message."""
    scope = dict(websocket.scope)
    scope["type"] = "http"
    scope["method"] = "GET"
    scope["scheme"] = {"ws": "http", "wss": "https"}.get(str(scope.get("scheme")), "http")
    if token is not None:
        headers = [(k, v) for k, v in scope.get("headers", []) if k not in _CREDENTIAL_HEADERS]
        scope["headers"] = [*headers, (b"authorization", f"Bearer {token}".encode())]
    return Request(scope)


def _authentication(
    authenticator: Authenticator, request: Request, app: str
) -> Callable[[], Awaitable[common_pb2.RequestContext]]:
    """Who the request's credential is in the app, asked again whenever called."""

    async def authenticate() -> common_pb2.RequestContext:
        return await authenticator.app_context(request, app)

    return authenticate


def subscription_request(given: Any) -> dict[str, Any]:
    """A subscribe message checked: Hub.admit's arguments."""
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
    filter_node = given.get("filter")
    if topic == "records":
        if not isinstance(schema, str) or not SCHEMA_SLUG.fullmatch(schema):
            raise ValidationFailed(
                "'schema' is the slug of one of the app's schemas", field="schema"
            )
        if filter_node is not None and not isinstance(filter_node, records_pb2.FilterNode):
            filter_node = tree_node(filter_node, "filter", depth=0)
    elif schema is not None or filter_node is not None:
        raise ValidationFailed(f"A {topic} subscription takes no schema or filter", field="topic")
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


# --- WebSocket -----------------------------------------------------------------------------


@router.websocket("/api/apps/{app}/realtime")
async def realtime_socket(websocket: WebSocket, app: str) -> None:
    settings: GatewaySettings = websocket.app.state.settings
    authenticator: Authenticator = websocket.app.state.authenticator
    hub = _hub(websocket.app)
    await websocket.accept()
    try:
        ctx, authenticate, first = await _authenticate(websocket, authenticator, settings, app)
        connection = Connection(
            ctx, app=app, queue_size=settings.realtime_queue_size, authenticate=authenticate
        )
        await hub.open(connection)
    except DomainError as refusal:
        await _close(websocket, error_message(refusal))
        return
    except (WebSocketDisconnect, KeyError):
        # Gone before it said who it is, or sent a binary frame for its credential.
        return
    try:
        connection.send({"type": "ready", "heartbeat_seconds": settings.realtime_heartbeat_seconds})

        async def renew(token: str) -> None:
            """A fresh credential of the same caller: anything else ends the socket."""
            fresh = _authentication(authenticator, _as_request(websocket, token), app)
            try:
                renewed = await fresh()
            except DomainError:
                renewed = None
            if renewed is None or (renewed.tenant_id, renewed.principal_id) != (
                ctx.tenant_id,
                ctx.principal_id,
            ):
                connection.end("unauthenticated", "That credential does not hold for this socket")
                return
            connection.ctx, connection.authenticate = renewed, fresh
            connection.send({"type": "authenticated"})

        writer = asyncio.create_task(_write(websocket, connection))
        reader = asyncio.create_task(_read(websocket, hub, connection, first, renew))
        await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, writer):
            task.cancel()
        await asyncio.gather(reader, writer, return_exceptions=True)
    finally:
        hub.close(connection)


async def _authenticate(
    websocket: WebSocket, authenticator: Authenticator, settings: GatewaySettings, app: str
) -> tuple[
    common_pb2.RequestContext,
    Callable[[], Awaitable[common_pb2.RequestContext]],
    dict[str, Any] | None,
]:
    """The caller, how to ask again who it is, and a first message that was not `auth` (an
    anonymous visitor's first subscription)."""
    request = _as_request(websocket)
    first = None
    if authenticator.presents_credentials(request):
        only_cookie = (
            "authorization" not in request.headers
            and "x-api-key" not in request.headers
            and bool(request.cookies.get(SESSION_COOKIE))
        )
        if only_cookie and not authenticator.origin_allowed(request):
            raise _Ended("permission_denied", "A session cookie opens no socket from that origin")
    else:
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), settings.realtime_auth_seconds)
        except TimeoutError:
            raise _Ended(
                "authentication_timeout",
                f"Send {{'type': 'auth', 'token': ...}} within {settings.realtime_auth_seconds} s",
            ) from None
        message = _parsed(raw)
        token = message.get("token")
        if message.get("type") == "auth":
            if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
                raise Unauthenticated("'auth' needs a 'token'")
            request = _as_request(websocket, token)
        elif is_public_app_id(app):
            first = message
        else:
            raise Unauthenticated("Authenticate first: {'type': 'auth', 'token': ...}")
    authenticate = _authentication(authenticator, request, app)
    return await authenticate(), authenticate, first


class _Ended(DomainError):
    """A socket refused for a reason of its own (not one of the API's error codes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]


def _parsed(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ValidationFailed(f"Messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = loads_exact(raw)
    except (ValueError, NestedTooDeeply):
        raise ValidationFailed("Messages are JSON objects") from None
    if not isinstance(message, dict):
        raise ValidationFailed("Messages are JSON objects")
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
            connection.send(error_message(ValidationFailed("Messages are JSON text")))
            continue
        try:
            message = _parsed(raw)
        except ValidationFailed as refusal:
            connection.send(error_message(refusal))
            continue
        await _handle(hub, connection, message, renew)


async def _handle(
    hub: Hub,
    connection: Connection,
    message: dict[str, Any],
    renew: Callable[[str], Awaitable[None]],
) -> None:
    kind = message.get("type")
    named = message.get("id") if kind in ("subscribe", "unsubscribe") else None
    subscription_id = named if isinstance(named, str) else None
    try:
        if kind == "subscribe":
            if len(connection.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise ValidationFailed(f"At most {MAX_SUBSCRIPTIONS} subscriptions per socket")
            subscription = await hub.admit(connection, **subscription_request(message))
            connection.send(
                {
                    "type": "subscribed",
                    "subscription": subscription.id,
                    "event_id": hub.event_id(subscription),
                }
            )
            await hub.catch_up(subscription)
        elif kind == "unsubscribe":
            if subscription_id is None or not hub.unsubscribe(connection, subscription_id):
                raise NotFound("No such subscription", field="id")
            connection.send({"type": "unsubscribed", "subscription": subscription_id})
        elif kind == "ping":
            connection.send({"type": "pong"})
        elif kind == "auth":
            token = message.get("token")
            if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
                raise ValidationFailed("'auth' needs a 'token'", field="token")
            await renew(token)
        else:
            raise ValidationFailed(
                "'type' is one of subscribe, unsubscribe, ping, auth", field="type"
            )
    except DomainError as refusal:
        connection.send(error_message(refusal, subscription_id))
    except Exception:
        log.exception("realtime message of type %r failed", str(kind)[:32])
        connection.send(error_message(InternalError(), subscription_id))


async def _write(websocket: WebSocket, connection: Connection) -> None:
    """Sends what queues until the connection ends; then its last word, and closes. A
    client that stops reading is not waited for once the connection has ended."""
    async for message in connection.outgoing():
        if connection.ending.done():
            await _close(websocket, message)
            return
        sending = asyncio.ensure_future(websocket.send_text(orjson.dumps(message).decode()))
        racing: set[asyncio.Future[Any]] = {sending, connection.ending}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if not sending.done():
            sending.cancel()
            await _close(websocket, connection.ending.result())
            return
        sending.result()


async def _close(websocket: WebSocket, last: dict[str, Any]) -> None:
    code = CLOSE_CODES.get(str(last.get("code")), 4400)
    with contextlib.suppress(Exception):
        if websocket.client_state == WebSocketState.CONNECTED:
            async with asyncio.timeout(LAST_WORD_SECONDS):
                await websocket.send_text(orjson.dumps(last).decode())
                await websocket.close(code=code, reason=str(last.get("code")))


# --- Server-Sent Events --------------------------------------------------------------------

EVENT_STREAM_PARAMETERS: Final = frozenset({"schema", "topic", "last_event_id"})


class EventStream(StreamingResponse):
    """An event stream that sends the subscription's catch-up and then its live events,
    and ends when the connection does, even with a client that stopped reading; the
    subscription goes when the stream does, however it ends."""

    def __init__(self, hub: Hub, connection: Connection, catch_up: Awaitable[None]) -> None:
        super().__init__(
            self._events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.hub = hub
        self.connection = connection
        self.catch_up = catch_up

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        catching_up = asyncio.ensure_future(self.catch_up)
        streaming = asyncio.ensure_future(super().__call__(scope, receive, send))
        try:
            racing: set[asyncio.Future[Any]] = {streaming, self.connection.ending}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if not streaming.done():
                # Its last word is queued: a reader gets it, one that stopped does not hold
                # the stream open.
                await asyncio.wait({streaming}, timeout=LAST_WORD_SECONDS)
        finally:
            for task in (catching_up, streaming):
                task.cancel()
            await asyncio.gather(catching_up, streaming, return_exceptions=True)
            self.hub.close(self.connection)

    async def _events(self) -> Any:
        async for message in self.connection.outgoing():
            yield _sse(message)


def _sse(message: dict[str, Any]) -> bytes:
    lines = [f"event: {message['type']}".encode()]
    event_id = message.get("event_id")
    if event_id is None and message["type"] == "heartbeat":
        event_id = next(iter(message.get("event_ids", {}).values()), None)
    if event_id is not None:
        lines.append(f"id: {event_id}".encode())
    lines.append(b"data: " + orjson.dumps(message))
    return b"\n".join(lines) + b"\n\n"


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
                "description": "The schema whose records to follow; `filter[field]=value`"
                " and `filter[field][op]=value` narrow them, as on a list",
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
                "description": "Resume after this event id (Last-Event-ID wins)",
                "schema": {"type": "string"},
            },
            {
                "name": "Last-Event-ID",
                "in": "header",
                "description": "Resume after this event id (browsers send it on reconnecting)",
                "schema": {"type": "string"},
            },
        ]
    },
)
async def realtime_events(request: Request, app_slug: str, ctx: AppContextDep) -> EventStream:
    """The realtime events of one subscription as Server-Sent Events: `schema` (with
    `filter[…]` conditions) or `topic`; resumes from the Last-Event-ID header."""
    settings: GatewaySettings = request.app.state.settings
    authenticator: Authenticator = request.app.state.authenticator
    hub = _hub(request.app)
    connection = Connection(
        ctx,
        app=app_slug,
        queue_size=settings.realtime_queue_size,
        authenticate=_authentication(authenticator, request, app_slug),
    )
    await hub.open(connection)
    try:
        subscription = await hub.admit(connection, **_stream_subscription(request))
    except BaseException:
        hub.close(connection)
        raise
    connection.send(
        {
            "type": "subscribed",
            "subscription": subscription.id,
            "event_id": hub.event_id(subscription),
        }
    )
    return EventStream(hub, connection, hub.catch_up(subscription))


def _stream_subscription(request: Request) -> dict[str, Any]:
    given: dict[str, Any] = {"id": "events"}
    conditions = []
    for key, value in request.query_params.multi_items():
        if key.startswith("filter"):
            conditions.append((key, value))
            continue
        if key not in EVENT_STREAM_PARAMETERS or key in given:
            raise ValidationFailed(f"Unknown or repeated parameter {key[:64]!r}", field=key[:64])
        given[key] = value
    tree = queries.query_filter(conditions)
    if tree is not None:
        given["filter"] = tree
    # A browser's EventSource resends the query it was opened with: the header it adds on
    # reconnecting says where it stopped.
    resume = request.headers.get("last-event-id")
    if resume is not None:
        given["last_event_id"] = resume
    return subscription_request(given)
