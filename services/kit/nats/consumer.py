"""Durable JetStream consumers: ack on success, nak with a delay that grows with every
delivery on a failure, and once a message has failed `max_deliver` deliveries (or cannot be
parsed at all), a dead letter in the consuming service's own database and term. Handlers
open their own session and stay idempotent on the event id with `first_delivery` (a
processed_events row written in the handler's transaction)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.db import SessionMaker, transaction
from services.kit.nats.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]

# While the stream does not exist yet (its owner declares it) or NATS misbehaves, the
# consumer starts over after a pause that grows from the first to the last value.
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
# JetStream drops a message silently after its own max_deliver, so the kit keeps the count
# and the server's limit sits this far above it: room to retry a dead letter that could not
# be written, yet finite, so a message that kills the process every time still ends.
SERVER_MAX_DELIVER_MARGIN = 5


class TransientError(Exception):
    """Raise from a handler to have the message redelivered later without a traceback in
    the log; any other exception is retried the same way."""


def backoff_seconds(attempt: int, *, first: float, cap: float) -> float:
    """`first`, twice that, four times that, ... for attempts 1, 2, 3, ..., at most `cap`."""
    # Bounded so that a huge attempt count cannot overflow the float.
    doublings = min(max(attempt, 1) - 1, 64)
    return min(cap, first * 2.0**doublings)


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing message is retried before it becomes a dead letter."""

    max_deliver: int = 20
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0

    def nak_delay(self, num_delivered: int) -> float:
        """The redelivery delay after the `num_delivered`-th delivery failed."""
        return backoff_seconds(
            num_delivered, first=self.first_delay_seconds, cap=self.max_delay_seconds
        )


@dataclass(frozen=True)
class DeadLetter:
    """A message a consumer gave up on, with what it last failed with."""

    consumer: str
    stream: str
    subject: str
    # None for an unparseable message that carried no Nats-Msg-Id either.
    event_id: str | None
    payload: bytes
    error: str
    deliveries: int


DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def dead_letters_table(metadata: MetaData) -> Table:
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("consumer", Text, nullable=False),
        Column("stream", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("event_id", Text),
        Column("payload", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def dead_letter_writer(sessionmaker: SessionMaker, table: Table) -> DeadLetterSink:
    """A sink writing each dead letter to `table` (see `dead_letters_table`) in a
    transaction of its own."""

    async def write(letter: DeadLetter) -> None:
        async with transaction(sessionmaker) as session:
            await session.execute(insert(table).values(**asdict(letter)))

    return write


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
    dead_letters: DeadLetterSink,
    stop: asyncio.Event,
    retry: RetryPolicy = RetryPolicy(),
    batch: int = 32,
) -> None:
    """Consumes `subject` from `stream` as the durable consumer `durable` until `stop` is
    set. Never fails: while the stream is missing or NATS misbehaves it starts over with a
    growing pause, so a service may start before the stream's owner has declared it."""
    consumer = _Consumer(durable, handler, dead_letters, retry)
    failures = 0
    while not stop.is_set():
        try:
            subscription = await _subscribe(js, stream, durable, subject, retry)
            failures = 0
            try:
                await consumer.consume(subscription, stop, batch)
            finally:
                await subscription.unsubscribe()
        except Exception as error:
            failures += 1
            pause = backoff_seconds(failures, first=RESTART_FIRST_SECONDS, cap=RESTART_MAX_SECONDS)
            log.warning(
                "consumer %s on %s unavailable (%s); starting over in %.0fs",
                durable,
                stream,
                type(error).__name__,
                pause,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)


async def _subscribe(
    js: JetStreamContext, stream: str, durable: str, subject: str, retry: RetryPolicy
) -> JetStreamContext.PullSubscription:
    # Created or updated every time, so a changed policy reaches a durable that exists.
    await js.add_consumer(
        stream,
        ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=retry.max_deliver + SERVER_MAX_DELIVER_MARGIN,
            ack_wait=30,
        ),
    )
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


class _Consumer:
    def __init__(
        self, name: str, handler: Handler, dead_letters: DeadLetterSink, retry: RetryPolicy
    ) -> None:
        self._name = name
        self._handler = handler
        self._dead_letters = dead_letters
        self._retry = retry

    async def consume(
        self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event, batch: int
    ) -> None:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(batch, timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
            for message in messages:
                await self._handle(message)

    async def _handle(self, message: Msg) -> None:
        deliveries = message.metadata.num_delivered
        try:
            event = Event.from_message(message.subject, message.data)
        except Exception as error:
            msg_id = (message.headers or {}).get("Nats-Msg-Id")
            log.error("unparseable message %s on %s; dead-lettering it", msg_id, message.subject)
            await self._dead_letter(message, msg_id, error, deliveries)
            return
        try:
            await self._handler(event)
        except Exception as error:
            if deliveries >= self._retry.max_deliver:
                log.error(
                    "%s failed on %s after %d deliveries (%r); dead-lettering it",
                    self._name,
                    event.id,
                    deliveries,
                    error,
                )
                await self._dead_letter(message, event.id, error, deliveries)
                return
            delay = self._retry.nak_delay(deliveries)
            log.warning(
                "%s failed on %s (delivery %d); redelivering in %.3gs",
                self._name,
                event.id,
                deliveries,
                delay,
                # A TransientError is expected; anything else deserves its traceback.
                exc_info=not isinstance(error, TransientError),
            )
            await message.nak(delay=delay)
        else:
            await message.ack()

    async def _dead_letter(
        self, message: Msg, event_id: str | None, error: Exception, deliveries: int
    ) -> None:
        letter = DeadLetter(
            consumer=self._name,
            stream=message.metadata.stream,
            subject=message.subject,
            event_id=event_id,
            payload=message.data,
            error="".join(traceback.format_exception(error)),
            deliveries=deliveries,
        )
        try:
            await self._dead_letters(letter)
        except Exception:
            # Not termed, so the server redelivers it and the dead letter is tried again.
            log.exception("%s could not dead-letter %s; redelivering it", self._name, event_id)
            await message.nak(delay=self._retry.nak_delay(deliveries))
        else:
            await message.term()


__all__ = [
    "DeadLetter",
    "DeadLetterSink",
    "Handler",
    "RetryPolicy",
    "TransientError",
    "backoff_seconds",
    "dead_letter_writer",
    "dead_letters_table",
    "first_delivery",
    "processed_events_table",
    "run_durable_consumer",
]
