"""From events to outgoing webhooks' deliveries: two durable consumers (the records
service's record events, the schema service's schema changes) find the app's active
webhooks that subscribe to each event, and queue one delivery per webhook. The delivery
is unique per webhook and event, so an event heard again (its consumer died before
acknowledging it) queues nothing new: one delivery per event, across restarts. Events of
batch writes and imports come one per record, like any other.

A record is sent as the webhook's creator may see it. Designers (owners, admins and
builders, and admin tokens made to bypass privacy rules) see every record whole: the
event's record goes as it is. A creator the privacy rules bind (an admin token that does
not bypass them) has the record read through the records service as them (services.
workflows.records), and only the fields that read shows are taken from the event's
record, which holds the values as of the event; a record such a creator cannot read by
the time the event is heard (hidden from them, or deleted since) is not sent.

    {"type": "record.updated", "timestamp": "2026-12-02T10:00:00Z",
     "data": {"event_id": "evt_...", "app_id": "app_...", "schema": "orders",
              "schema_id": "sch_...", "record": {"id": "rec_...", ...},
              "changed": ["status"]}}"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import cast, exists, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from tessera.common.v1 import common_pb2

from services.kit.access import Principal
from services.kit.clock import utcnow
from services.kit.db import SessionMaker, transaction
from services.kit.errors import NotFound, PermissionDenied, Unauthenticated
from services.kit.ids import new_id
from services.kit.json import dumps_exact
from services.kit.nats.consumer import dead_letter_writer, run_durable_consumer
from services.kit.nats.events import Event
from services.kit.nats.permissions import WEBHOOK_RECORD_EVENTS, WEBHOOK_SCHEMA_EVENTS
from services.workflows import tables
from services.workflows.deliveries import PENDING, DeliverySettings, gives_up_at
from services.workflows.records import RecordsClient

log = logging.getLogger(__name__)
wh = tables.webhooks
d = tables.webhook_deliveries
# What a schema change's payload shows of the schema (not its privacy rules).
SCHEMA_KEYS = ("id", "slug", "name", "version", "fields")


@dataclass(frozen=True, slots=True)
class Heard:
    """An event as webhooks see it."""

    type: str
    app_id: str
    schema: str
    data: dict[str, Any]
    # For record events: the record as the event has it, and its fields that changed.
    record: dict[str, Any] | None = None
    changed: tuple[str, ...] = ()


def heard(event: Event) -> Heard | None:
    data = event.data
    if event.entity == "record":
        app_id, schema = data.get("app_id"), data.get("schema")
        if not isinstance(app_id, str) or not isinstance(schema, str):
            return None
        about = {
            "event_id": event.id,
            "app_id": app_id,
            "schema": schema,
            "schema_id": data.get("schema_id"),
        }
        if event.action == "deleted":
            return Heard(
                "record.deleted", app_id, schema, {**about, "record": {"id": data.get("record_id")}}
            )
        record = data.get("record")
        if event.action not in ("created", "updated") or not isinstance(record, dict):
            return None
        changed = tuple(str(name) for name in data.get("changed") or ())
        return Heard(f"record.{event.action}", app_id, schema, about, record, changed)
    if event.entity == "schema" and event.action in ("created", "updated", "trashed"):
        shown = data.get("schema") if event.action != "trashed" else data.get("trashed")
        if not isinstance(shown, dict) or not isinstance(shown.get("app_id"), str):
            return None
        schema = {key: shown[key] for key in SCHEMA_KEYS if key in shown}
        return Heard(
            f"schema.{event.action}",
            shown["app_id"],
            str(shown.get("slug")),
            {"event_id": event.id, "app_id": shown["app_id"], "schema": schema},
        )
    return None


def subscribed(webhook: Any, event: Heard) -> bool:
    if webhook.schemas and event.schema not in webhook.schemas:
        return False
    return not (
        event.type == "record.updated"
        and webhook.fields
        and not set(webhook.fields) & set(event.changed)
    )


class WebhookEvents:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        records: RecordsClient,
        settings: DeliverySettings,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.records = records
        self.settings = settings
        self.wake = wake

    async def __call__(self, event: Event) -> None:
        found = heard(event)
        if found is None:
            return
        async with transaction(self.sessionmaker, tenant=event.tenant) as session:
            webhooks = (
                await session.execute(
                    select(wh.c.id, wh.c.app_ref, wh.c.schemas, wh.c.fields, wh.c.creator)
                    .where(wh.c.tenant_id == event.tenant, wh.c.app_id == found.app_id)
                    .where(wh.c.active.is_(True))
                    .where(wh.c.events.contains(cast([found.type], JSONB)))
                    .where(~exists().where(tables.trashed_apps.c.app_id == wh.c.app_id))
                    .where(
                        or_(
                            wh.c.schemas == cast([], JSONB),
                            wh.c.schemas.contains(cast([found.schema], JSONB)),
                        )
                    )
                )
            ).all()
        rows = []
        now = utcnow()
        for webhook in webhooks:
            if not subscribed(webhook, found):
                continue
            data = await self._data(webhook, found)
            if data is None:
                continue
            payload = {"type": found.type, "timestamp": event.time, "data": data}
            rows.append(
                {
                    "id": new_id("msg"),
                    "webhook_id": webhook.id,
                    "tenant_id": event.tenant,
                    "event_id": event.id,
                    "event_type": found.type,
                    "payload": dumps_exact(payload),
                    "state": PENDING,
                    "next_attempt_at": now,
                    "give_up_at": gives_up_at(self.settings, now),
                }
            )
        if not rows:
            return
        async with transaction(self.sessionmaker, tenant=event.tenant) as session:
            await session.execute(
                pg_insert(d)
                .values(rows)
                .on_conflict_do_nothing(constraint="uq_webhook_deliveries_webhook_id_event_id")
            )
        self.wake()

    async def _data(self, webhook: Any, event: Heard) -> dict[str, Any] | None:
        """The event's data as the webhook's creator may see it; None: not theirs to see."""
        if event.record is None:
            return event.data
        creator = common_pb2.RequestContext.FromString(webhook.creator)
        if not Principal.of(creator).bound_by_privacy_rules:
            # Designers see every record whole: the event's record is theirs to see.
            return {**event.data, "record": event.record, **self._changed(event)}
        try:
            seen = await self.records.acting_as(creator, webhook.app_ref).get(
                event.schema, str(event.record.get("id"))
            )
        except (NotFound, PermissionDenied, Unauthenticated):
            log.debug("webhook %s: event %s is not its creator's to see", webhook.id, event)
            return None
        record = {name: value for name, value in event.record.items() if name in seen}
        return {**event.data, "record": record, **self._changed(event, seen)}

    @staticmethod
    def _changed(event: Heard, seen: dict[str, Any] | None = None) -> dict[str, Any]:
        if event.type != "record.updated":
            return {}
        return {"changed": [name for name in event.changed if seen is None or name in seen]}


async def run_webhook_events(
    js: JetStreamContext, handler: WebhookEvents, stop: asyncio.Event
) -> None:
    """Both consumers, until `stop`."""
    await asyncio.gather(
        *(
            run_durable_consumer(
                js,
                stream=durable.stream,
                durable=durable.name,
                subject=durable.filter,
                handler=handler,
                dead_letters=dead_letter_writer(handler.sessionmaker, tables.dead_letters),
                stop=stop,
            )
            for durable in (WEBHOOK_RECORD_EVENTS, WEBHOOK_SCHEMA_EVENTS)
        )
    )
