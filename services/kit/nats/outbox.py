"""Transactional outbox: events are written in the same transaction as the change, and a
relay publishes them to JetStream afterwards with Nats-Msg-Id = event id, so a crash
between commit and publish loses nothing and a republish is dropped as a duplicate.

The relay puts a whole batch in flight before awaiting any ack, so a batch write of a
thousand records costs a few round trips to JetStream, not a thousand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.kit.clock import utcnow
from services.kit.db import DriverStatement, copy_rows, driver_of, json_text, plain_url
from services.kit.nats.events import Event

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "tessera_outbox"
PUBLISHED_RETENTION = timedelta(days=1)
# Old rows are purged at this pace, not on every pass: a pass follows every commit.
PURGE_INTERVAL_SECONDS = 600.0
# From this many events on, add_many COPYs them: several times faster than an INSERT per row
# (an import's batch), not worth it for a few.
COPY_FROM_EVENTS = 100
# The columns a writer fills (the rest take their defaults).
_INSERTED = ("event_id", "subject", "payload", "headers")
# nats-py's default limit of a JetStream context's unacknowledged async publishes.
PUBLISH_ASYNC_MAX_PENDING = 4000


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    )


class OutboxWriter:
    """Adds events to the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table
        c = table.c
        # inline(): no RETURNING of the generated seq, which nobody reads.
        self._insert_one = DriverStatement.of(
            insert(table)
            .values({name: bindparam(name, type_=c[name].type) for name in _INSERTED})
            .inline()
        )

    async def add(self, session: AsyncSession, event: Event) -> None:
        await self.add_many(session, [event])

    async def add_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """Adds the events in their order, which is the order the relay publishes them in:
        one INSERT executed for all rows (asyncpg pipelines them), or a COPY when there
        are many. The outbox's own trigger notifies the relays (on commit: exactly when
        they should look), see services.kit.migrations.announce_outbox_inserts."""
        if not events:
            return
        if len(events) >= COPY_FROM_EVENTS:
            rows = [(e.id, e.subject, e.to_json(), json_text(e.headers)) for e in events]
            await copy_rows(session, self.table, _INSERTED, rows)
            return
        values = [
            {
                "event_id": event.id,
                "subject": event.subject,
                "payload": event.to_json(),
                "headers": event.headers,
            }
            for event in events
        ]
        if len(values) == 1:
            # The common case, straight to the driver (see DriverStatement); the
            # caller's statements have begun the transaction.
            driver = await driver_of(session)
            await driver.execute(self._insert_one.sql, *self._insert_one.args(values[0]))
            return
        # Core on the session's connection: the ORM's execution layers cost more than the
        # statement.
        conn = await session.connection()
        await conn.execute(insert(self.table), values)


AfterPublish = Callable[[list[str]], Awaitable[None]]
# An outbox row claimed by a relay pass: seq, event_id, subject, payload, headers.
_Claimed = Row[*tuple[Any, ...]]


class OutboxRelay:
    """Publishes unpublished outbox rows in order. Several relays (replicas) may run:
    rows are claimed with FOR UPDATE SKIP LOCKED."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        js: JetStreamContext,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
        ack_timeout_seconds: float = 5.0,
        after_publish: AfterPublish | None = None,
    ) -> None:
        if batch_size > PUBLISH_ASYNC_MAX_PENDING:
            raise ValueError(f"a relay publishes at most {PUBLISH_ASYNC_MAX_PENDING} at once")
        self.engine = engine
        self.table = table
        self.js = js
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.ack_timeout_seconds = ack_timeout_seconds
        # A seam for tests: runs with the acknowledged events' ids after publishing, before
        # their rows are marked published.
        self.after_publish = after_publish
        self._wake = asyncio.Event()
        self._purged_at = -PURGE_INTERVAL_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        listener = await self._listen()
        try:
            while not stop.is_set():
                # Cleared before the pass: a commit notified during it wakes the next one.
                self._wake.clear()
                try:
                    while await self.relay_once():
                        pass
                    await self._purge_if_due()
                except Exception:
                    log.exception("outbox relay pass failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        _first(self._wake.wait(), stop.wait()), timeout=self.poll_seconds
                    )
        finally:
            if listener is not None:
                await listener.close()

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many events JetStream acknowledged. Rows whose
        ack failed stay unpublished, and the next pass publishes them again."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        self.table.c.seq,
                        self.table.c.event_id,
                        self.table.c.subject,
                        self.table.c.payload,
                        self.table.c.headers,
                    )
                    .where(self.table.c.published_at.is_(None))
                    .order_by(self.table.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            acked = await self._publish(rows)
            if self.after_publish is not None:
                await self.after_publish([row.event_id for row in acked])
            if acked:
                await conn.execute(
                    update(self.table)
                    .where(self.table.c.seq.in_([row.seq for row in acked]))
                    .values(published_at=func.now())
                )
            return len(acked)

    async def _publish(self, rows: Sequence[_Claimed]) -> list[_Claimed]:
        """Publishes the rows in order, all in flight at once; returns those acknowledged.

        One connection carries them in order, so the stream stores them in the rows' order;
        a row whose ack failed lands after the others when a later pass retries it."""
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for row in rows:
                acks.append(
                    # No wait_stall: with one, nats-py wraps every publish in a task of
                    # its own (asyncio.wait_for), which more than doubled the relay's CPU
                    # per event. It only bounds waiting for a pending slot, and a pass has
                    # at most batch_size in flight, all released below.
                    await self.js.publish_async(
                        row.subject,
                        row.payload,
                        headers={**row.headers, "Nats-Msg-Id": row.event_id},
                    )
                )
            await asyncio.wait(acks, timeout=self.ack_timeout_seconds)
        finally:
            # An ack that never comes must not hold one of the context's pending slots.
            for ack in acks:
                ack.cancel()
        acked: list[_Claimed] = []
        failed: list[tuple[str, str]] = []
        for row, ack in zip(rows, acks, strict=True):
            if ack.cancelled():
                failed.append((row.event_id, "no ack in time"))
            elif (error := ack.exception()) is not None:
                failed.append((row.event_id, repr(error)))
            else:
                acked.append(row)
        if failed:
            log.warning(
                "outbox: %d of %d events not acknowledged, left for the next pass; first %s: %s",
                len(failed),
                len(rows),
                *failed[0],
            )
        return acked

    async def _purge_if_due(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_INTERVAL_SECONDS:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(self.table).where(self.table.c.published_at < utcnow() - PUBLISHED_RETENTION)
            )
        self._purged_at = time.monotonic()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(
                plain_url(self.engine.url.render_as_string(hide_password=False))
            )
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except Exception:
            log.warning("outbox relay could not LISTEN; falling back to polling", exc_info=True)
            return None
        return connection


async def _first(*aws: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


__all__ = [
    "NOTIFY_CHANNEL",
    "AfterPublish",
    "OutboxRelay",
    "OutboxWriter",
    "outbox_table",
]
