"""Realtime change events: subscriptions, and what each subscriber is told.

A connection (a WebSocket or an event stream) belongs to one caller in one app and holds
subscriptions:

- `records` of one schema, optionally narrowed by a filter: record.created|updated|deleted
  as the subscriber may see them, with schema.updated|deleted and field.created|updated|
  deleted of that schema;
- `schemas` of the app: schema.created|updated|deleted (those who may read apps);
- `workflow_runs` of the app: workflow.run.started|succeeded|failed|... (those who may read
  workflows).

Which record events a subscriber hears, and how, the records service decides in its own SQL
(ViewChanges): for each change, whether the subscriber saw the record before it and sees it
after, through its privacy rules, token grants and filter. A record that leaves its view is
a record.deleted to it, one that enters a record.created; hidden fields never appear.
Subscribers that would be judged alike (the same principal, grants and filter) are judged
once per batch of events.

Every event carries an event id (services.gateway.feed): subscribing again with it as
`last_event_id` first replays what the subscription missed, then goes on live, with no gap
and no repeat; when the streams no longer hold what it missed, `resync_required` says so.
A connection whose queue fills (a client that does not read) is told `slow_consumer` and
closed: never skipped silently. A revoked credential closes its connections."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway import feed
from services.gateway.clients import Backends
from services.gateway.feed import FEEDS, RECORDS, RUNS, SCHEMAS, Position, Tail
from services.kit.access import APP_KINDS, Kind, Op, Principal
from services.kit.errors import ERRORS_BY_CODE, DomainError, InternalError
from services.kit.grpc.trust import GATEWAY
from services.kit.json import dumps_exact, loads_exact
from services.kit.nats.events import Event

log = logging.getLogger(__name__)

TOPICS: Final = ("records", "schemas", "workflow_runs")
# Changes judged in one call to the records service.
JUDGED_PER_CALL: Final = 256
# What of a schema realtime shows (not its privacy rules).
SCHEMA_KEYS: Final = ("id", "slug", "name", "version")
FIELD_KEYS: Final = ("id", "slug", "name", "type", "required", "options", "position")
SCHEMA_ACTIONS: Final = {"created": "created", "updated": "updated", "trashed": "deleted"}
# A context's parts that do not change how the records service judges it.
_UNJUDGED: Final = ("request_id", "idempotency_key", "client_ip", "user_agent")


class Refused(Exception):
    """A subscription that cannot be made or kept: the error the client is told."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @classmethod
    def of(cls, error: DomainError) -> Refused:
        return cls(error.code, error.message, error.field or "")

    def as_error(self) -> DomainError:
        """The refusal as an HTTP error (for an event stream, refused before it starts)."""
        return ERRORS_BY_CODE.get(self.code, InternalError)(self.message, field=self.field or None)

    def message_for(self, subscription: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if subscription is not None:
            body["subscription"] = subscription
        return body


def judged_as(ctx: common_pb2.RequestContext) -> common_pb2.RequestContext:
    """The caller as the records service judges it, without what varies per request."""
    kept = common_pb2.RequestContext()
    kept.CopyFrom(ctx)
    for name in _UNJUDGED:
        kept.ClearField(name)
    return kept


@dataclass(eq=False)
class Subscription:
    id: str
    topic: str
    connection: Connection
    tenant: str
    app_id: str
    # For `records`: the schema as the client named it and as it is.
    schema_slug: str = ""
    schema_id: str = ""
    filter: records_pb2.FilterNode | None = None
    # Field slugs the subscriber reads (None: all).
    readable: frozenset[str] | None = None
    # Per feed: what the subscription has been given (or was resumed from), and below what
    # live events are not its to send (its replay sent them).
    given: list[int] = field(default_factory=list)
    floor: list[int] = field(default_factory=list)
    # While its missed events are replayed, live ones wait here.
    held: list[tuple[int, int, dict[str, Any]]] | None = None

    @property
    def viewer_key(self) -> bytes:
        ctx = judged_as(self.connection.ctx).SerializeToString(deterministic=True)
        shown = self.filter.SerializeToString(deterministic=True) if self.filter else b""
        return ctx + b"\x00" + shown

    def viewer(self) -> records_pb2.Viewer:
        viewer = records_pb2.Viewer(ctx=judged_as(self.connection.ctx))
        if self.filter is not None:
            viewer.filter.CopyFrom(self.filter)
        return viewer


class Connection:
    """One client's end: messages queue for the writer that sends them. `send` never
    waits: a full queue ends the connection, telling the client why."""

    def __init__(
        self,
        ctx: common_pb2.RequestContext,
        *,
        app: str,
        queue_size: int,
        authenticate: Callable[[], Awaitable[common_pb2.RequestContext]],
    ) -> None:
        self.ctx = ctx
        # The app as the client named it (a slug or its public id), and its id.
        self.app = app
        self.app_id = ""
        self.subscriptions: dict[str, Subscription] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        # Checks the credential again (a revocation, an expiry): the caller as it is now.
        self.authenticate = authenticate
        # Set once the connection must end: the last message to send, then close.
        self.ending: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def send(self, message: dict[str, Any]) -> None:
        if self.ending.done():
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.end(
                "slow_consumer",
                f"More than {self.queue.maxsize} messages waited for this client; reconnect"
                " with the last event id you received to resume",
            )

    def end(self, code: str, message: str) -> None:
        if not self.ending.done():
            self.ending.set_result({"type": "error", "code": code, "message": message})


class Hub:
    """This replica's subscriptions, fed by its tails of the three streams."""

    def __init__(self, backends: Backends, *, timeout_seconds: float) -> None:
        self.backends = backends
        self.timeout_seconds = timeout_seconds
        self.tails = [
            Tail(f, self._delivering(index), self._lost(index)) for index, f in enumerate(FEEDS)
        ]
        self.connections: set[Connection] = set()
        # (tenant, schema id) -> `records` subscriptions; (tenant, app id) -> the others.
        self._by_schema: dict[tuple[str, str], set[Subscription]] = defaultdict(set)
        self._by_app: dict[tuple[str, str], set[Subscription]] = defaultdict(set)
        self._js: JetStreamContext | None = None
        self._rechecks: set[asyncio.Task[None]] = set()

    # --- running -------------------------------------------------------------------------

    async def run(self, js: JetStreamContext) -> None:
        self._js = js
        async with asyncio.TaskGroup() as group:
            for tail in self.tails:
                group.create_task(tail.run(js))

    @property
    def ready(self) -> bool:
        return self._js is not None and all(t.started.is_set() for t in self.tails)

    def position(self) -> Position:
        return tuple(tail.delivered for tail in self.tails)

    def event_id(self, subscription: Subscription) -> str:
        """Where the subscription stands. Live, it has been sent everything of its own a
        tail has handed on (each tail hands a batch on whole, without a pause, before it
        says so); while it catches up, as far as its replay has come."""
        if subscription.held is not None:
            return feed.format_event_id(subscription.given)
        return feed.format_event_id(
            [
                max(given, tail.delivered)
                for given, tail in zip(subscription.given, self.tails, strict=True)
            ]
        )

    # --- connections and subscriptions --------------------------------------------------

    def disconnect(self, connection: Connection) -> None:
        self.connections.discard(connection)
        for subscription in list(connection.subscriptions.values()):
            self._forget(subscription)
        connection.subscriptions.clear()

    async def subscribe(
        self,
        connection: Connection,
        *,
        subscription_id: str,
        topic: str,
        schema: str = "",
        filter_node: records_pb2.FilterNode | None = None,
        last_event_id: str | None = None,
    ) -> Subscription:
        """Makes the subscription, replays what it missed since `last_event_id`, and
        answers it live; Refused when the caller may not have it."""
        if self._js is None or not self.ready:
            raise Refused("service_unavailable", "Realtime is starting; try again shortly")
        if subscription_id in connection.subscriptions:
            raise Refused("conflict", f"Subscription {subscription_id!r} exists already", "id")
        ctx = connection.ctx
        resumed = None
        if last_event_id is not None:
            resumed = feed.parse_event_id(last_event_id)
            if resumed is None:
                raise Refused("validation_error", "Not an event id", "last_event_id")
        subscription = Subscription(
            id=subscription_id,
            topic=topic,
            connection=connection,
            tenant=ctx.tenant_id,
            app_id=ctx.app_id,
            schema_slug=schema,
            filter=filter_node,
        )
        if topic == "records":
            await self._judge_subscription(subscription)
        else:
            subscription.app_id = connection.app_id
            op = Op.APPS_READ if topic == "schemas" else Op.WORKFLOWS_READ
            if not Principal.of(ctx).may(op):
                raise Refused("permission_denied", f"You may not follow {topic} of this app")
        start = None if resumed is None else await self._resume_point(subscription, resumed)
        # From here to the registration nothing waits: the replay reaches as far as the
        # tails have read, and whatever they read next is judged with this subscription
        # among the subscribers. Live events wait while the missed ones are replayed.
        now = tuple(tail.fetched for tail in self.tails)
        start = now if start is None else start
        subscription.held = []
        subscription.given = list(start)
        subscription.floor = [max(a, b) for a, b in zip(start, now, strict=True)]
        connection.subscriptions[subscription_id] = subscription
        self._index(subscription).add(subscription)
        try:
            await self._replay(subscription, start)
        except BaseException:
            self._forget(subscription)
            connection.subscriptions.pop(subscription_id, None)
            raise
        held, subscription.held = subscription.held, None
        subscription.given = list(subscription.floor)
        for index, seq, message in held:
            self._send(subscription, index, seq, message)
        return subscription

    def unsubscribe(self, connection: Connection, subscription_id: str) -> bool:
        subscription = connection.subscriptions.pop(subscription_id, None)
        if subscription is None:
            return False
        self._forget(subscription)
        return True

    def _index(self, subscription: Subscription) -> set[Subscription]:
        if subscription.topic == "records":
            return self._by_schema[subscription.tenant, subscription.schema_id]
        return self._by_app[subscription.tenant, subscription.app_id]

    def _forget(self, subscription: Subscription) -> None:
        held = self._index(subscription)
        held.discard(subscription)
        if not held:
            key = (
                (subscription.tenant, subscription.schema_id)
                if subscription.topic == "records"
                else (subscription.tenant, subscription.app_id)
            )
            (self._by_schema if subscription.topic == "records" else self._by_app).pop(key, None)

    async def open(self, connection: Connection) -> None:
        """Takes the connection in once its app is one of its caller's: in its workspace,
        and, for an app's end users and visitors, their own app. Refused: not_found."""
        ctx = connection.ctx
        try:
            app = await self.backends.call(
                self.backends.schema.GetApp,
                schema_pb2.GetAppRequest(ctx=_as_gateway(ctx.tenant_id), app_slug=connection.app),
            )
        except DomainError as error:
            raise Refused.of(error) from None
        if ctx.principal_kind in APP_KINDS and app.id != ctx.app_id:
            raise Refused("not_found", "App not found")
        connection.app_id = app.id
        self.connections.add(connection)

    async def _judge_subscription(self, subscription: Subscription) -> None:
        """Asks the records service whether the caller may follow the schema with its
        filter, and what fields it reads there."""
        reply = await self._view(
            subscription.tenant,
            records_pb2.SchemaRef(
                app_slug=subscription.connection.app, schema_slug=subscription.schema_slug
            ),
            "",
            [subscription.viewer()],
            [],
        )
        sights = reply.viewers[0]
        if sights.error_code:
            raise Refused(sights.error_code, sights.error_message, sights.error_field)
        subscription.schema_id = reply.schema_id
        subscription.app_id = reply.app_id
        subscription.readable = None if sights.all_fields else frozenset(sights.readable)

    async def _resume_point(self, subscription: Subscription, resumed: Position) -> Position | None:
        """Where a resumed subscription's replay starts: from the id, when every stream
        still holds what came after it; otherwise (None) now, after telling it to resync."""
        assert self._js is not None
        for index, f in enumerate(FEEDS):
            held = await feed.bounds(self._js, f)
            if resumed[index] + 1 < held.first or resumed[index] > held.last:
                subscription.connection.send(
                    {
                        "type": "resync_required",
                        "subscription": subscription.id,
                        "message": "Events since that id are no longer kept; fetch the"
                        " current state again",
                    }
                )
                return None
        return resumed

    async def _replay(self, subscription: Subscription, start: Position) -> None:
        assert self._js is not None
        for index, f in enumerate(FEEDS):
            if not self._follows(subscription, index):
                subscription.given[index] = subscription.floor[index]
                continue
            async for messages in feed.replay(
                self._js, f, subscription.tenant, start[index], subscription.floor[index]
            ):
                for seq, sub, message in await self._judge(index, messages, [subscription]):
                    sub.given[index] = seq
                    self._emit(sub, message)
            subscription.given[index] = subscription.floor[index]

    @staticmethod
    def _follows(subscription: Subscription, index: int) -> bool:
        if subscription.topic == "records":
            return index in (RECORDS, SCHEMAS)
        return index == (SCHEMAS if subscription.topic == "schemas" else RUNS)

    # --- live events ---------------------------------------------------------------------

    def _delivering(self, index: int) -> Callable[[Sequence[Msg]], Awaitable[None]]:
        async def deliver(messages: Sequence[Msg]) -> None:
            try:
                judged = await self._judge(index, messages, None)
            except Exception:
                # The records service away: these subscribers cannot be told what they
                # may see; they are told to resync rather than skipped silently.
                log.exception("realtime could not judge %d events", len(messages))
                self._resync_all(index)
                return
            for seq, subscription, message in judged:
                self._send(subscription, index, seq, message)

        return deliver

    def _lost(self, index: int) -> Callable[[], None]:
        def lost() -> None:
            self._resync_all(index)

        return lost

    def _resync_all(self, index: int) -> None:
        for connection in list(self.connections):
            for subscription in connection.subscriptions.values():
                if self._follows(subscription, index):
                    connection.send(
                        {
                            "type": "resync_required",
                            "subscription": subscription.id,
                            "message": "Some events could not be delivered; fetch the"
                            " current state again",
                        }
                    )

    def _send(
        self, subscription: Subscription, index: int, seq: int, message: dict[str, Any]
    ) -> None:
        if subscription.connection.subscriptions.get(subscription.id) is not subscription:
            return
        if seq <= subscription.floor[index]:
            return
        if subscription.held is not None:
            subscription.held.append((index, seq, message))
            return
        subscription.given[index] = seq
        self._emit(subscription, message)

    def _emit(self, subscription: Subscription, message: dict[str, Any]) -> None:
        subscription.connection.send(
            {**message, "subscription": subscription.id, "event_id": self.event_id(subscription)}
        )

    async def _judge(
        self,
        index: int,
        messages: Sequence[Msg],
        only: Sequence[Subscription] | None,
    ) -> list[tuple[int, Subscription, dict[str, Any]]]:
        """(sequence, subscription, message) for everything the messages tell whom, in
        the order of the stream."""
        events: list[tuple[int, Event]] = []
        for message in messages:
            try:
                events.append(
                    (feed.sequence_of(message), Event.from_message(message.subject, message.data))
                )
            except (ValueError, KeyError, TypeError):
                log.warning("undecodable event on %s", message.subject)
        if index == RECORDS:
            return await self._judge_records(events, only)
        if index == SCHEMAS:
            return await self._judge_schemas(events, only)
        return self._judge_runs(events, only)

    def _among(
        self,
        index: dict[tuple[str, str], set[Subscription]],
        key: tuple[str, str],
        only: Sequence[Subscription] | None,
        topic: str,
    ) -> list[Subscription]:
        if only is not None:
            return [
                s
                for s in only
                if s.topic == topic
                and (s.tenant, s.schema_id if topic == "records" else s.app_id) == key
            ]
        return [s for s in index.get(key, ()) if s.topic == topic]

    async def _judge_records(
        self, events: list[tuple[int, Event]], only: Sequence[Subscription] | None
    ) -> list[tuple[int, Subscription, dict[str, Any]]]:
        by_schema: dict[tuple[str, str], list[tuple[int, Event]]] = defaultdict(list)
        for seq, event in events:
            schema_id = event.data.get("schema_id")
            if isinstance(schema_id, str):
                by_schema[event.tenant, schema_id].append((seq, event))
        calls = []
        for key, changes in by_schema.items():
            watching = self._among(self._by_schema, key, only, "records")
            if watching:
                for start in range(0, len(changes), JUDGED_PER_CALL):
                    calls.append(
                        self._judge_changes(key, changes[start : start + JUDGED_PER_CALL], watching)
                    )
        out: list[tuple[int, Subscription, dict[str, Any]]] = []
        for judged in await asyncio.gather(*calls):
            out.extend(judged)
        out.sort(key=lambda item: item[0])
        return out

    async def _judge_changes(
        self,
        key: tuple[str, str],
        changes: list[tuple[int, Event]],
        watching: list[Subscription],
    ) -> list[tuple[int, Subscription, dict[str, Any]]]:
        tenant, schema_id = key
        viewers: dict[bytes, list[Subscription]] = defaultdict(list)
        for subscription in watching:
            viewers[subscription.viewer_key].append(subscription)
        groups = list(viewers.values())
        first = changes[0][1].data
        reply = await self._view(
            tenant,
            records_pb2.SchemaRef(
                app_slug=str(first.get("app", "")), schema_slug=str(first.get("schema", ""))
            ),
            schema_id,
            [group[0].viewer() for group in groups],
            [_record_change(event) for _, event in changes],
        )
        out: list[tuple[int, Subscription, dict[str, Any]]] = []
        for group, sights in zip(groups, reply.viewers, strict=True):
            if sights.error_code:
                refusal = Refused(sights.error_code, sights.error_message, sights.error_field)
                for subscription in group:
                    self._drop(subscription, refusal)
                continue
            for sight in sights.sights:
                seq, event = changes[sight.change]
                message = {
                    "type": f"record.{sight.action}",
                    "schema": event.data.get("schema"),
                    "time": event.time,
                    "record": loads_exact(sight.record_json),
                }
                out.extend((seq, subscription, message) for subscription in group)
        return out

    async def _judge_schemas(
        self, events: list[tuple[int, Event]], only: Sequence[Subscription] | None
    ) -> list[tuple[int, Subscription, dict[str, Any]]]:
        out: list[tuple[int, Subscription, dict[str, Any]]] = []
        for seq, event in events:
            action = SCHEMA_ACTIONS.get(event.action)
            shown, app_id, schema_id = _schema_of(event)
            if not app_id or not schema_id:
                continue
            for subscription in self._among(self._by_app, (event.tenant, app_id), only, "schemas"):
                if action is not None:
                    out.append(
                        (
                            seq,
                            subscription,
                            {"type": f"schema.{action}", "schema": shown, "time": event.time},
                        )
                    )
            watching = self._among(self._by_schema, (event.tenant, schema_id), only, "records")
            if not watching:
                continue
            if event.action == "updated":
                # Privacy rules may have changed: what each subscriber reads is asked again.
                await asyncio.gather(*(self._rejudge(s) for s in watching))
            for subscription in watching:
                if subscription.connection.subscriptions.get(subscription.id) is not subscription:
                    continue
                if action is None or action == "created":
                    continue
                out.append(
                    (
                        seq,
                        subscription,
                        {"type": f"schema.{action}", "schema": shown, "time": event.time},
                    )
                )
                if event.action == "updated":
                    out.extend(
                        (seq, subscription, message)
                        for message in _field_messages(event, subscription.readable)
                    )
        return out

    async def _rejudge(self, subscription: Subscription) -> None:
        try:
            await self._judge_subscription(subscription)
        except Refused as refusal:
            self._drop(subscription, refusal)

    def _judge_runs(
        self, events: list[tuple[int, Event]], only: Sequence[Subscription] | None
    ) -> list[tuple[int, Subscription, dict[str, Any]]]:
        out: list[tuple[int, Subscription, dict[str, Any]]] = []
        for seq, event in events:
            app_id = event.data.get("app_id")
            if not isinstance(app_id, str):
                continue
            message = {
                "type": f"workflow.run.{event.action}",
                "run": _run_of(event),
                "time": event.time,
            }
            out.extend(
                (seq, subscription, message)
                for subscription in self._among(
                    self._by_app, (event.tenant, app_id), only, "workflow_runs"
                )
            )
        return out

    def _drop(self, subscription: Subscription, refusal: Refused) -> None:
        """Ends a subscription its caller may not keep (rights changed), telling why."""
        connection = subscription.connection
        if connection.subscriptions.get(subscription.id) is subscription:
            self.unsubscribe(connection, subscription.id)
            connection.send(refusal.message_for(subscription.id))

    async def _view(
        self,
        tenant: str,
        schema: records_pb2.SchemaRef,
        schema_id: str,
        viewers: list[records_pb2.Viewer],
        changes: list[records_pb2.RecordChange],
    ) -> records_pb2.ViewChangesResponse:
        try:
            reply: records_pb2.ViewChangesResponse = await self.backends.call(
                self.backends.records.ViewChanges,
                records_pb2.ViewChangesRequest(
                    ctx=_as_gateway(tenant),
                    schema=schema,
                    schema_id=schema_id,
                    viewers=viewers,
                    changes=changes,
                ),
            )
        except DomainError as error:
            raise Refused.of(error) from None
        return reply

    # --- keeping connections honest -----------------------------------------------------

    def recheck_soon(self) -> None:
        """recheck() without waiting for it (an identity event's handler must not)."""
        task = asyncio.create_task(self.recheck())
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def recheck(self, connections: Iterable[Connection] | None = None) -> None:
        """Authenticates the connections again (all of them by default): a revoked or
        expired credential ends its connections; changed rights apply from now on."""
        targets = list(self.connections if connections is None else connections)
        await asyncio.gather(*(self._recheck(c) for c in targets))

    async def _recheck(self, connection: Connection) -> None:
        try:
            ctx = await connection.authenticate()
        except DomainError as error:
            connection.end("credential_revoked", f"Signed out: {error.message}")
            return
        except Exception:  # identity away: the credential stands until it can be checked
            return
        if ctx.tenant_id != connection.ctx.tenant_id:
            connection.end("credential_revoked", "Signed out: the credential changed workspace")
            return
        connection.ctx = ctx

    def heartbeat(self) -> None:
        for connection in list(self.connections):
            connection.send(
                {
                    "type": "heartbeat",
                    "event_ids": {
                        s.id: self.event_id(s) for s in connection.subscriptions.values()
                    },
                }
            )


def _as_gateway(tenant: str) -> common_pb2.RequestContext:
    """The gateway asking for itself, in a tenant (for its subscribers, whose rights the
    answering service judges, or checks here)."""
    return common_pb2.RequestContext(
        tenant_id=tenant, principal_kind=Kind.SERVICE, principal_id=GATEWAY
    )


def _record_change(event: Event) -> records_pb2.RecordChange:
    data = event.data
    record = data.get("record")
    if not isinstance(record, dict):
        record = {}
    change = records_pb2.RecordChange(
        record_id=str(data.get("record_id") or record.get("id") or ""), action=event.action
    )
    if isinstance(data.get("image"), dict):
        change.image_json = dumps_exact(data["image"])
    if isinstance(data.get("previous_image"), dict):
        change.previous_image_json = dumps_exact(data["previous_image"])
    return change


def _schema_of(event: Event) -> tuple[dict[str, Any], str, str]:
    data = event.data
    if isinstance(data.get("schema"), dict):
        schema = data["schema"]
        return (
            {k: schema.get(k) for k in SCHEMA_KEYS},
            str(schema.get("app_id", "")),
            str(schema.get("id", "")),
        )
    gone = data.get("trashed") or data.get("purged") or {}
    schema_id = str(gone.get("id") or gone.get("schema_id") or "")
    return {"id": schema_id}, str(gone.get("app_id", "")), schema_id


def _field_messages(event: Event, readable: frozenset[str] | None) -> list[dict[str, Any]]:
    changes = event.data.get("field_changes")
    schema = event.data.get("schema") or {}
    if not isinstance(changes, dict):
        return []
    fields = {f.get("id"): f for f in schema.get("fields") or () if isinstance(f, dict)}
    messages = []
    for action in ("created", "updated", "deleted"):
        for field_id in changes.get(action) or ():
            if action == "deleted":
                # Its slug is gone with it: only those who read every field hear of it.
                if readable is None:
                    messages.append(
                        {"type": "field.deleted", "field": {"id": field_id}, "time": event.time}
                    )
                continue
            f = fields.get(field_id)
            if f is None or (readable is not None and f.get("slug") not in readable):
                continue
            messages.append(
                {
                    "type": f"field.{action}",
                    "field": {k: f.get(k) for k in FIELD_KEYS},
                    "time": event.time,
                }
            )
    return messages


def _run_of(event: Event) -> dict[str, Any]:
    data = event.data
    return {
        "id": data.get("run_id"),
        "workflow_id": data.get("workflow_id"),
        "workflow": data.get("workflow"),
        "trigger": data.get("trigger"),
        "state": data.get("state"),
        "error": data.get("error"),
    }


__all__ = ["TOPICS", "Connection", "Hub", "Refused", "Subscription"]
