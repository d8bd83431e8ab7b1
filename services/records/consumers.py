"""Reactions to the schema service's events.

- Eager provisioning: a durable JetStream consumer on the SCHEMA stream builds a schema's
  table as soon as it is created or changed, so the first record write does not pay for
  the DDL. Idempotent on the event id (processed_events) and on the version.
- Cache invalidation: a plain NATS subscription (every replica gets every message) drops
  the event's tenant's cached definitions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.kit.db import SessionMaker, transaction
from services.kit.nats.consumer import (
    dead_letter_writer,
    first_delivery,
    run_durable_consumer,
)
from services.kit.nats.events import Event
from services.kit.nats.permissions import SCHEMA_CHANGES, SCHEMA_PROVISIONER
from services.records import repository, tables
from services.records.provisioning import Provisioner
from services.records.schemas import CachedSchemaSource, schema_from_event

log = logging.getLogger(__name__)

SCHEMA_STREAM = SCHEMA_PROVISIONER.stream
PROVISIONER = SCHEMA_PROVISIONER.name
SCHEMA_EVENTS = SCHEMA_PROVISIONER.filter
INVALIDATION_SUBJECTS = SCHEMA_CHANGES


class SchemaProvisioningHandler:
    """Provisions the table of the schema an event describes."""

    def __init__(self, sessionmaker: SessionMaker, provisioner: Provisioner) -> None:
        self._sessionmaker = sessionmaker
        self._provisioner = provisioner

    @property
    def sessionmaker(self) -> SessionMaker:
        """The records database, which also takes the events this handler gives up on."""
        return self._sessionmaker

    async def __call__(self, event: Event) -> None:
        if event.entity == "schema" and event.action == "purged":
            await self._purge(event)
            return
        if event.entity != "schema" or "schema" not in event.data:
            return
        try:
            schema = schema_from_event(event.data)
        except (KeyError, TypeError, ValueError):
            # Redelivering cannot fix it; on-demand provisioning still covers the schema.
            log.error("schema event %s carries no usable definition; skipping it", event.id)
            return
        async with transaction(self._sessionmaker, tenant=event.tenant) as session:
            if not await first_delivery(
                session, tables.processed_events, consumer=PROVISIONER, event_id=event.id
            ):
                return
            # Provisioning commits on its own; the processed_events row commits after it,
            # so a failure leaves the event to be redelivered.
            await self._provisioner.ensure(event.tenant, schema)

    async def _purge(self, event: Event) -> None:
        """A schema's trash time is over: its table and links go, once."""
        try:
            app_id = str(event.data["purged"]["app_id"])
            schema_id = str(event.data["purged"]["schema_id"])
        except (KeyError, TypeError):
            log.error("schema purge event %s names no schema; skipping it", event.id)
            return
        async with transaction(self._sessionmaker, tenant=event.tenant) as session:
            if await first_delivery(
                session, tables.processed_events, consumer=PROVISIONER, event_id=event.id
            ):
                await repository.drop_schema(session, app_id, schema_id)
                log.info("dropped purged schema %s", schema_id, extra={"tenant_id": event.tenant})


async def run_schema_provisioner(
    js: JetStreamContext,
    handler: SchemaProvisioningHandler,
    stop: asyncio.Event,
    *,
    durable: str = PROVISIONER,
    subject: str = SCHEMA_EVENTS,
) -> None:
    """Runs the durable consumer until `stop`, waiting for the SCHEMA stream while it does
    not exist yet (the schema service creates it); dead letters go to the records database."""
    await run_durable_consumer(
        js,
        stream=SCHEMA_STREAM,
        durable=durable,
        subject=subject,
        handler=handler,
        dead_letters=dead_letter_writer(handler.sessionmaker, tables.dead_letters),
        stop=stop,
    )


def invalidation_callback(source: CachedSchemaSource) -> Callable[[Msg], Awaitable[None]]:
    """For the subscriptions to INVALIDATION_SUBJECTS: the tenant is the subject's second
    token."""

    async def on_message(message: Msg) -> None:
        invalidate_for_subject(source, message.subject)

    return on_message


def invalidate_for_subject(source: CachedSchemaSource, subject: str) -> None:
    parts = subject.split(".")
    if len(parts) >= 2 and parts[1]:
        source.invalidate_tenant(parts[1])


__all__ = [
    "SchemaProvisioningHandler",
    "invalidate_for_subject",
    "invalidation_callback",
    "run_schema_provisioner",
]
