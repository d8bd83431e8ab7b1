"""Durable JetStream consumers: ack on success, nak with a delay on a transient failure,
term on a poison message. Handlers open their own session and stay idempotent on the event
id with `first_delivery` (a processed_events row written in the handler's transaction)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Column, DateTime, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.nats.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


class TransientError(Exception):
    """Raise from a handler to have the message redelivered later."""


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def first_delivery(
    session: AsyncSession, table: Table, *, consumer: str, event_id: str
) -> bool:
    """Records the event as processed; False when it already was (a redelivery)."""
    result = await session.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None


async def run_durable_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    subject: str,
    handler: Handler,
    stop: asyncio.Event,
    batch: int = 32,
    nak_delay_seconds: float = 2.0,
) -> None:
    subscription = await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=20,
            ack_wait=30,
        ),
    )
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(batch, timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
            for message in messages:
                try:
                    event = Event.from_message(message.subject, message.data)
                except Exception:
                    log.error("poison message on %s; terminating it", message.subject)
                    await message.term()
                    continue
                try:
                    await handler(event)
                except TransientError:
                    log.warning("transient failure on %s; redelivering", event.id)
                    await message.nak(delay=nak_delay_seconds)
                except Exception:
                    log.exception("handler failed on %s; redelivering", event.id)
                    await message.nak(delay=nak_delay_seconds)
                else:
                    await message.ack()
    finally:
        await subscription.unsubscribe()
