"""Realtime change events: subscriptions, and what each subscriber is told.

A connection (a WebSocket or an event stream) belongs to one caller in one app and holds
subscriptions:

- `records` of one schema, optionally narrowed by a filter: record.created|updated|deleted
  as the subscriber may see them, with schema.updated|deleted and field.created|updated|
  deleted of that schema;
- `schemas` of the app: schema.created|updated|deleted (those who may read apps);
- `workflow_runs` of the app: workflow.run.started|succeeded|failed (those who may read
  workflows).

Which record events a subscriber hears, and how, the records service decides in its own SQL
(ViewChanges): for each change, whether the subscriber saw the record before it and sees it
after, through its privacy rules, token grants and filter. A record that leaves its view is
a record.deleted to it, one that enters a record.created; hidden fields never appear.
Subscribers that would be judged alike (the same principal, grants and filter) are judged
once per batch of events.

Every event carries an event id (services.gateway.feed). A subscription made with
`last_event_id` first replays what it missed, then goes on live, with no gap and no
repeat; when the streams no longer hold what it missed, `resync_required` says so. A
connection whose queue fills (a client that does not read) is told `slow_consumer` and
closed: never skipped silently. A revoked credential closes its connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.gateway import feed
from services.gateway.app_spec import AppDefinitions
from services.gateway.clients import Backends, as_gateway
from services.gateway.feed import FEEDS, RECORDS, RUNS, SCHEMAS, Tail
from services.kit.access import APP_KINDS, Op, Principal
from services.kit.errors import (
    ERRORS_BY_CODE,
    Conflict,
    DomainError,
    InternalError,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from services.kit.json import dumps_exact, loads_exact
from services.kit.nats.events import Event

log = logging.getLogger(__name__)

TOPICS: Final = ("records", "schemas", "workflow_runs")
# What a topic's subscriber must be allowed (records: the records service decides).
TOPIC_OPERATIONS: Final = {"schemas": Op.APPS_READ, "workflow_runs": Op.WORKFLOWS_READ}
# One call to the records service judges changes of about this many bytes (their images)
# for as many subscriber groups as keep its answer within REPLY_BUDGET_BYTES.
CHANGES_PER_CALL_BYTES: Final = 1024 * 1024
CHANGES_PER_CALL: Final = 256
REPLY_BUDGET_BYTES: Final = 8 * 1024 * 1024
# What of a schema realtime shows (not its privacy rules).
SCHEMA_KEYS: Final = ("id", "slug", "name", "version")
FIELD_KEYS: Final = ("id", "slug", "name", "type", "required", "options", "position")
SCHEMA_ACTIONS: Final = {"created": "created", "updated": "updated", "trashed": "deleted"}
# A context's parts that do not change how the records service judges it.
_UNJUDGED: Final = ("request_id", "idempotency_key", "client_ip", "user_agent")
# Errors that mean the credential no longer holds (anything else, identity being away
# included, leaves the connection as it is until it can be checked).
_SIGNED_OUT: Final = (Unauthenticated, PermissionDenied, NotFound)
# Errors that mean a subscription may not be kept (not that a service is away).
_REFUSED: Final = (*_SIGNED_OUT, ValidationFailed)

Deliveries = list[tuple[int, "Subscription", dict[str, Any]]]


def error_message(error: DomainError, subscription: str | None = None) -> dict[str, Any]:
    """An error as the client is told it: the envelope's fields, and which subscription."""
    body: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    if subscription is not None:
        body["subscription"] = subscription
    return body


def _judged_as(ctx: common_pb2.RequestContext) -> common_pb2.RequestContext:
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
    # For `records`: the schema as the client named it, and its id (which stays when the
    # schema is renamed).
    schema_slug: str = ""
    schema_id: str = ""
    filter: records_pb2.FilterNode | None = None
    # Field slugs the subscriber reads (None: all).
    readable: frozenset[str] | None = None
    # Per feed: how far the subscription has been given events (or was resumed from), and
    # up to where its replay reaches (live events up to there are not its to send).
    given: list[int] = field(default_factory=list)
    floor: list[int] = field(default_factory=list)
    # While it catches up, live events wait here.
    held: list[tuple[int, int, dict[str, Any]]] | None = None

    @property
    def active(self) -> bool:
        return self.connection.subscriptions.get(self.id) is self

    @property
    def viewer_key(self) -> bytes:
        ctx = _judged_as(self.connection.ctx).SerializeToString(deterministic=True)
        shown = self.filter.SerializeToString(deterministic=True) if self.filter else b""
        return ctx + b"\x00" + shown

    def viewer(self) -> records_pb2.Viewer:
        viewer = records_pb2.Viewer(ctx=_judged_as(self.connection.ctx))
        if self.filter is not None:
            viewer.filter.CopyFrom(self.filter)
        return viewer


class Connection:
    """One client's end. `send` never waits: messages queue for whoever writes them to the
    client (`outgoing`), and one that finds the queue full ends the connection as a slow
    consumer."""

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

    async def outgoing(self) -> AsyncIterator[dict[str, Any]]:
        """The messages to write, in order, until the connection ends; then the last
        word (`ending`'s message), and no more."""
        while not self.ending.done():
            getting = asyncio.ensure_future(self.queue.get())
            try:
                await asyncio.wait({getting, self.ending}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getting.done():
                    getting.cancel()
            if getting.done() and not getting.cancelled() and not self.ending.done():
                yield getting.result()
        yield self.ending.result()


class Hub:
    """This replica's realtime connections and subscriptions, fed by its tails of the
    three streams."""

    def __init__(self, backends: Backends, definitions: AppDefinitions) -> None:
        self.backends = backends
        self.definitions = definitions
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

    def event_id(self, subscription: Subscription) -> str:
        """Where the subscription stands. Live, it has been sent everything of its own a
        tail has handed on (each tail hands a batch on whole, without a pause, before it
        says so); while it catches up, as far as that has come."""
        if subscription.held is not None:
            return feed.format_event_id(subscription.given)
        return feed.format_event_id(
            [
                max(given, tail.delivered)
                for given, tail in zip(subscription.given, self.tails, strict=True)
            ]
        )

    # --- connections and subscriptions --------------------------------------------------

    async def open(self, connection: Connection) -> None:
        """Takes the connection in once its app is one of its caller's: in its workspace,
        and, for an app's end users and visitors, their own app (NotFound otherwise)."""
        ctx = connection.ctx
        app = (await self.definitions.of(ctx.tenant_id, connection.app)).app
        if ctx.principal_kind in APP_KINDS and app.id != ctx.app_id:
            raise NotFound("App not found")
        connection.app_id = app.id
        self.connections.add(connection)

    def close(self, connection: Connection) -> None:
        self.connections.discard(connection)
        for subscription in list(connection.subscriptions.values()):
            self._forget(subscription)
        connection.subscriptions.clear()

    async def admit(
        self,
        connection: Connection,
        *,
        subscription_id: str,
        topic: str,
        schema: str = "",
        filter_node: records_pb2.FilterNode | None = None,
        last_event_id: str | None = None,
    ) -> Subscription:
        """Makes the subscription if the caller may have it (a DomainError says why not).
        It starts where the tails have read to, or where `last_event_id` says; catch_up()
        then sends what it missed and lets it go live."""
        if not self.ready:
            raise ServiceUnavailable("Realtime is starting; try again shortly", retry_after=1)
        if subscription_id in connection.subscriptions:
            raise Conflict(f"Subscription {subscription_id!r} exists already", field="id")
        resumed = None
        if last_event_id is not None:
            resumed = feed.parse_event_id(last_event_id)
            if resumed is None:
                raise ValidationFailed("Not an event id", field="last_event_id")
        ctx = connection.ctx
        subscription = Subscription(
            id=subscription_id,
            topic=topic,
            connection=connection,
            tenant=ctx.tenant_id,
            app_id=connection.app_id,
            schema_slug=schema,
            filter=filter_node,
        )
        if topic == "records":
            await self._judge_subscription(subscription)
        elif not Principal.of(ctx).may(TOPIC_OPERATIONS[topic]):
            raise PermissionDenied(f"You may not follow {topic} of this app")
        start = None if resumed is None else await self._resume_point(subscription, resumed)
        # From here to the registration nothing waits: the replay reaches as far as the
        # tails have read, and whatever they read next is judged with this subscription
        # among the subscribers.
        now = [tail.fetched for tail in self.tails]
        start = now if start is None else start
        subscription.held = []
        subscription.given = list(start)
        subscription.floor = [max(a, b) for a, b in zip(start, now, strict=True)]
        connection.subscriptions[subscription_id] = subscription
        self._index(subscription).add(subscription)
        return subscription

    async def catch_up(self, subscription: Subscription) -> None:
        """Sends what the subscription missed, then what came meanwhile, then lets it go
        live. The streams away: it ends, and the client is told to resync."""
        assert self._js is not None
        try:
            for index, f in enumerate(FEEDS):
                if self._follows(subscription, index):
                    async with contextlib.aclosing(
                        feed.replay(
                            self._js,
                            f,
                            subscription.tenant,
                            subscription.given[index],
                            subscription.floor[index],
                        )
                    ) as batches:
                        async for messages in batches:
                            for seq, sub, message in await self._judge(
                                index, messages, [subscription]
                            ):
                                sub.given[index] = seq
                                self._emit(sub, message)
                subscription.given[index] = subscription.floor[index]
        except Exception:
            log.exception("realtime could not replay subscription %s", subscription.id)
            self._resync([subscription])
            subscription.given = list(subscription.floor)
        # What came while it caught up, each with an id of what it has been given so far;
        # then live.
        held = subscription.held or []
        for index, seq, message in held:
            if seq > subscription.floor[index] and subscription.active:
                subscription.given[index] = seq
                self._emit(subscription, message)
        subscription.held = None

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
        if subscription.topic == "records":
            index, key = self._by_schema, (subscription.tenant, subscription.schema_id)
        else:
            index, key = self._by_app, (subscription.tenant, subscription.app_id)
        held = index.get(key)
        if held is not None:
            held.discard(subscription)
            if not held:
                del index[key]

    async def _judge_subscription(self, subscription: Subscription) -> None:
        """Asks the records service whether the caller may follow the schema with its
        filter, and which fields it reads there (a DomainError says why not). Found by
        its slug the first time, by its id afterwards."""
        reply = await self._view(
            subscription.tenant,
            records_pb2.SchemaRef(
                app_slug=subscription.connection.app, schema_slug=subscription.schema_slug
            ),
            subscription.schema_id,
            [subscription.viewer()],
            [],
        )
        sights = reply.viewers[0]
        if sights.error_code:
            raise _refusal(sights)
        subscription.schema_id = reply.schema_id
        subscription.readable = None if sights.all_fields else frozenset(sights.readable)

    async def _resume_point(
        self, subscription: Subscription, resumed: feed.Position
    ) -> list[int] | None:
        """Where a resumed subscription's replay starts: after the id, when every stream
        still holds what came after it; otherwise (None) now, after telling it to resync."""
        assert self._js is not None
        if len(resumed) == len(FEEDS):
            held = [await feed.bounds(self._js, f) for f in FEEDS]
            if all(
                held[i].first <= resumed[i] + 1 and resumed[i] <= held[i].last
                for i in range(len(FEEDS))
            ):
                return list(resumed)
        self._resync([subscription])
        return None

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
                # Not to be tried again and again: its subscribers hear what was lost.
                log.exception("realtime could not hand on %d events", len(messages))
                self._lost(index)()
                return
            for seq, subscription, message in judged:
                self._send(subscription, index, seq, message)

        return deliver

    def _lost(self, index: int) -> Callable[[], None]:
        def lost() -> None:
            self._resync(
                s
                for connection in self.connections
                for s in connection.subscriptions.values()
                if self._follows(s, index)
            )

        return lost

    @staticmethod
    def _resync(subscriptions: Iterable[Subscription]) -> None:
        for subscription in subscriptions:
            subscription.connection.send(
                {
                    "type": "resync_required",
                    "subscription": subscription.id,
                    "message": "Some events cannot be sent to this subscription; fetch"
                    " the current state again, then go on with what follows",
                }
            )

    def _send(
        self, subscription: Subscription, index: int, seq: int, message: dict[str, Any]
    ) -> None:
        if not subscription.active or seq <= subscription.floor[index]:
            return
        if subscription.held is not None:
            if len(subscription.held) >= subscription.connection.queue.maxsize:
                subscription.connection.end(
                    "slow_consumer",
                    "Too much happened while this subscription caught up; reconnect with"
                    " the last event id you received",
                )
                return
            subscription.held.append((index, seq, message))
            return
        subscription.given[index] = seq
        self._emit(subscription, message)

    def _emit(self, subscription: Subscription, message: dict[str, Any]) -> None:
        subscription.connection.send(
            {**message, "subscription": subscription.id, "event_id": self.event_id(subscription)}
        )

    async def _judge(
        self, index: int, messages: Sequence[Msg], only: Sequence[Subscription] | None
    ) -> Deliveries:
        """(sequence, subscription, message) for everything the messages tell whom, in
        the order of the stream; `only`: for these subscriptions alone (a replay)."""
        events: list[tuple[int, Event]] = []
        for message in messages:
            try:
                event = Event.from_message(message.subject, message.data)
            except (ValueError, KeyError, TypeError):
                log.warning("undecodable event on %s", message.subject)
                continue
            events.append((feed.sequence_of(message), event))
        if index == RECORDS:
            return await self._judge_records(events, only)
        if index == SCHEMAS:
            return await self._judge_schemas(events, only)
        return self._judge_runs(events, only)

    def _watching(
        self, topic: str, key: tuple[str, str], only: Sequence[Subscription] | None
    ) -> list[Subscription]:
        """The subscriptions of `topic` a key's events go to: (tenant, schema id) for
        records, (tenant, app id) for the others."""
        if only is None:
            index = self._by_schema if topic == "records" else self._by_app
            return [s for s in index.get(key, ()) if s.topic == topic]
        return [
            s
            for s in only
            if s.topic == topic
            and (s.tenant, s.schema_id if topic == "records" else s.app_id) == key
        ]

    async def _judge_records(
        self, events: list[tuple[int, Event]], only: Sequence[Subscription] | None
    ) -> Deliveries:
        by_schema: dict[tuple[str, str], list[tuple[int, Event]]] = defaultdict(list)
        for seq, event in events:
            schema_id = event.data.get("schema_id")
            if isinstance(schema_id, str):
                by_schema[event.tenant, schema_id].append((seq, event))
        calls = []
        for key, changes in by_schema.items():
            watching = self._watching("records", key, only)
            if watching:
                calls.append(self._judge_schema_changes(key, changes, watching))
        out: Deliveries = []
        for judged in await asyncio.gather(*calls):
            out.extend(judged)
        out.sort(key=lambda item: item[0])
        return out

    async def _judge_schema_changes(
        self,
        key: tuple[str, str],
        changes: list[tuple[int, Event]],
        watching: list[Subscription],
    ) -> Deliveries:
        """One schema's changes for its subscribers, in calls of a bounded size; a schema
        whose changes cannot be judged tells its own subscribers to resync, no one else."""
        groups: dict[bytes, list[Subscription]] = defaultdict(list)
        for subscription in watching:
            groups[subscription.viewer_key].append(subscription)
        judged: Deliveries = []
        try:
            for part in _parts(changes):
                size = max(1, sum(len(change.image_json) for _, _, change in part))
                per_call = max(1, REPLY_BUDGET_BYTES // size)
                grouped = list(groups.values())
                for start in range(0, len(grouped), per_call):
                    judged += await self._judge_part(key, part, grouped[start : start + per_call])
        except Exception:
            log.exception("realtime could not judge changes to schema %s", key[1])
            self._resync(watching)
            return []
        return judged

    async def _judge_part(
        self,
        key: tuple[str, str],
        part: list[tuple[int, Event, records_pb2.RecordChange]],
        groups: list[list[Subscription]],
    ) -> Deliveries:
        tenant, schema_id = key
        about = part[0][1].data
        reply = await self._view(
            tenant,
            records_pb2.SchemaRef(
                app_slug=str(about.get("app", "")), schema_slug=str(about.get("schema", ""))
            ),
            schema_id,
            [group[0].viewer() for group in groups],
            [change for _, _, change in part],
        )
        out: Deliveries = []
        for group, sights in zip(groups, reply.viewers, strict=True):
            if sights.error_code:
                for subscription in group:
                    self._drop(subscription, _refusal(sights))
                continue
            for sight in sights.sights:
                seq, event, _ = part[sight.change]
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
    ) -> Deliveries:
        out: Deliveries = []
        for seq, event in events:
            action = SCHEMA_ACTIONS.get(event.action)
            shown, app_id, schema_id = _schema_of(event)
            if action is None or not app_id or not schema_id:
                continue
            message = {"type": f"schema.{action}", "schema": shown, "time": event.time}
            out.extend(
                (seq, s, message) for s in self._watching("schemas", (event.tenant, app_id), only)
            )
            watching = self._watching("records", (event.tenant, schema_id), only)
            if not watching or action == "created":
                continue
            if action == "updated":
                # Privacy rules may have changed: what each subscriber reads is asked again.
                await asyncio.gather(*(self._rejudge(s) for s in watching))
            for subscription in watching:
                if not subscription.active:
                    continue
                out.append((seq, subscription, message))
                out.extend(
                    (seq, subscription, field_message)
                    for field_message in _field_messages(event, subscription.readable)
                )
        return out

    async def _rejudge(self, subscription: Subscription) -> None:
        try:
            await self._judge_subscription(subscription)
        except _REFUSED as refusal:
            self._drop(subscription, refusal)
        except Exception:  # the records service away: it judges again at the next event
            log.warning("realtime could not judge subscription %s again", subscription.id)

    def _judge_runs(
        self, events: list[tuple[int, Event]], only: Sequence[Subscription] | None
    ) -> Deliveries:
        out: Deliveries = []
        for seq, event in events:
            app_id = event.data.get("app_id")
            if not isinstance(app_id, str):
                continue
            message = {
                "type": f"workflow.run.{event.action}",
                "run": _run_of(event),
                "time": event.time,
            }
            watching = self._watching("workflow_runs", (event.tenant, app_id), only)
            out.extend((seq, subscription, message) for subscription in watching)
        return out

    def _drop(self, subscription: Subscription, refusal: DomainError) -> None:
        """Ends a subscription its caller may not keep (rights changed), telling why."""
        if subscription.active:
            self.unsubscribe(subscription.connection, subscription.id)
            subscription.connection.send(error_message(refusal, subscription.id))

    async def _view(
        self,
        tenant: str,
        schema: records_pb2.SchemaRef,
        schema_id: str,
        viewers: list[records_pb2.Viewer],
        changes: list[records_pb2.RecordChange],
    ) -> records_pb2.ViewChangesResponse:
        reply: records_pb2.ViewChangesResponse = await self.backends.call(
            self.backends.records.ViewChanges,
            records_pb2.ViewChangesRequest(
                ctx=as_gateway(tenant),
                schema=schema,
                schema_id=schema_id,
                viewers=viewers,
                changes=changes,
            ),
        )
        return reply

    # --- keeping connections honest -----------------------------------------------------

    def recheck_soon(
        self,
        *,
        tenant: str | None = None,
        account_id: str | None = None,
        credential_id: str | None = None,
    ) -> None:
        """recheck() of the connections an identity change may touch (its workspace's,
        its account's, its credential's), without waiting for it."""
        touched = [
            c
            for c in self.connections
            if (tenant and c.ctx.tenant_id == tenant)
            or (account_id and account_id in (c.ctx.account_id, c.ctx.principal_id))
            or (credential_id and c.ctx.credential_id == credential_id)
        ]
        if not touched:
            return
        task = asyncio.create_task(self.recheck(touched))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def recheck(self, connections: Iterable[Connection] | None = None) -> None:
        """Authenticates the connections again (all of them by default): a revoked or
        expired credential ends its connections; a subscription to a topic the caller may
        no longer follow ends (the records service judges the others at every event)."""
        targets = list(self.connections if connections is None else connections)
        await asyncio.gather(*(self._recheck(c) for c in targets))

    async def _recheck(self, connection: Connection) -> None:
        try:
            ctx = await connection.authenticate()
        except _SIGNED_OUT as error:
            connection.end("credential_revoked", f"Signed out: {error.message}")
            return
        except Exception:  # identity away: the credential stands until it can be checked
            return
        if ctx.tenant_id != connection.ctx.tenant_id:
            connection.end("credential_revoked", "Signed out: the credential changed workspace")
            return
        connection.ctx = ctx
        principal = Principal.of(ctx)
        for subscription in list(connection.subscriptions.values()):
            op = TOPIC_OPERATIONS.get(subscription.topic)
            if op is not None and not principal.may(op):
                self._drop(
                    subscription, PermissionDenied(f"You may no longer follow {subscription.topic}")
                )

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


def _refusal(sights: records_pb2.ViewerSights) -> DomainError:
    """Why the records service will not let a viewer watch, as the error it is."""
    kind = ERRORS_BY_CODE.get(sights.error_code, InternalError)
    return kind(sights.error_message, field=sights.error_field or None)


def _parts(
    changes: list[tuple[int, Event]],
) -> Iterable[list[tuple[int, Event, records_pb2.RecordChange]]]:
    """The changes as the records service takes them, in parts of a bounded size."""
    part: list[tuple[int, Event, records_pb2.RecordChange]] = []
    size = 0
    for seq, event in changes:
        change = _record_change(event)
        weight = len(change.image_json) + len(change.previous_image_json)
        if part and (len(part) >= CHANGES_PER_CALL or size + weight > CHANGES_PER_CALL_BYTES):
            yield part
            part, size = [], 0
        part.append((seq, event, change))
        size += weight
    if part:
        yield part


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
    """What a schema event shows of the schema, its app's id and its id."""
    data = event.data
    if isinstance(data.get("schema"), dict):
        schema = data["schema"]
        shown = {k: schema.get(k) for k in SCHEMA_KEYS}
        return shown, str(schema.get("app_id", "")), str(schema.get("id", ""))
    gone = data.get("trashed")
    if not isinstance(gone, dict):
        return {}, "", ""
    return {"id": gone.get("id")}, str(gone.get("app_id", "")), str(gone.get("id", ""))


def _field_messages(event: Event, readable: frozenset[str] | None) -> list[dict[str, Any]]:
    """field.created|updated|deleted of a schema update, as one who reads `readable` (None:
    every field) may hear them."""
    changes = event.data.get("field_changes")
    schema = event.data.get("schema") or {}
    if not isinstance(changes, dict):
        return []
    fields = {f.get("id"): f for f in schema.get("fields") or () if isinstance(f, dict)}
    messages = []
    for action in ("created", "updated", "deleted"):
        for field_id in changes.get(action) or ():
            if action == "deleted":
                # Its slug went with it: only those who read every field hear of it.
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


__all__ = [
    "TOPICS",
    "Connection",
    "Hub",
    "Subscription",
    "error_message",
]
