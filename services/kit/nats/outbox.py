"""Transactional outbox: events are written in the same transaction as the change, and a
relay publishes them to JetStream afterwards with Nats-Msg-Id = event id, so a crash
between commit and publish loses nothing and a republish is dropped as a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from nats.js import JetStreamContext
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.kit.clock import utcnow
from services.kit.db import plain_url
from services.kit.nats.events import Event

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "tessera_outbox"
PUBLISHED_RETENTION = timedelta(days=1)
# Old rows are purged at this pace, not on every pass: a pass follows every commit.
PURGE_INTERVAL_SECONDS = 600.0


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

    async def add(self, session: AsyncSession, event: Event) -> None:
        await session.execute(
            insert(self.table).values(
                event_id=event.id,
                subject=event.subject,
                payload=event.to_json(),
                headers=event.headers,
            )
        )
        # NOTIFY is delivered on commit only, which is exactly when the relay should look.
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


AfterPublish = Callable[[list[str]], Awaitable[None]]


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
        batch_size: int = 100,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.js = js
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        # A seam for tests: runs after publishing, before the rows are marked published.
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
        """Publishes one batch; returns how many events went out."""
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
            for row in rows:
                headers = {**row.headers, "Nats-Msg-Id": row.event_id}
                await self.js.publish(row.subject, row.payload, headers=headers)
            if self.after_publish is not None:
                await self.after_publish([row.event_id for row in rows])
            await conn.execute(
                update(self.table)
                .where(self.table.c.seq.in_([row.seq for row in rows]))
                .values(published_at=func.now())
            )
            return len(rows)

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
