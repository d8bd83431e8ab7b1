"""The kit's durable consumer over a real nats-server, with dead letters written to a
database built by the records service's migrations: a message that keeps failing ends as
one dead letter and is not delivered again; one that recovers is acked and leaves none."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.kit.db import create_engine, create_sessionmaker
from services.kit.ids import new_id
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.consumer import (
    DeadLetter,
    DeadLetterSink,
    Handler,
    RetryPolicy,
    TransientError,
    dead_letter_writer,
    run_durable_consumer,
)
from services.kit.nats.events import Event
from services.records import tables
from tests.integration.records.conftest import migrated_database
from tests.support.infra import Infra
from tests.support.nats_users import HARNESS, nats_identity

# Three deliveries, tens of milliseconds apart: the whole retry path within a second.
RETRY = RetryPolicy(max_deliver=3, first_delay_seconds=0.05, max_delay_seconds=0.2)


@pytest.fixture(scope="module")
def database(infra: Infra) -> str:
    return migrated_database(infra, "kit_consumer")


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Boom(Exception):
    pass


class ScriptedHandler:
    """Fails the first `failures` deliveries of every event (all of them when None)."""

    def __init__(self, failures: int | None, error: type[Exception] = Boom) -> None:
        self.failures = failures
        self.error = error
        self.calls: Counter[str] = Counter()
        self.handled: list[str] = []

    async def __call__(self, event: Event) -> None:
        self.calls[event.id] += 1
        if self.failures is None or self.calls[event.id] <= self.failures:
            raise self.error(f"attempt {self.calls[event.id]} on {event.id}")
        self.handled.append(event.id)


@dataclass
class Running:
    js: JetStreamContext
    engine: AsyncEngine
    tenant: str
    stream: str
    durable: str

    def event(self) -> Event:
        return Event.new(
            service="kit", tenant=self.tenant, entity="thing", action="happened", data={}
        )

    async def publish(self, event: Event) -> None:
        await self.js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

    async def dead_letters(self) -> list[Any]:
        table = tables.dead_letters
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(table).where(table.c.consumer == self.durable).order_by(table.c.id)
            )
            return list(result.all())

    async def settled(self) -> bool:
        """Nothing left for the server to deliver or redeliver to this consumer."""
        info = await self.js.consumer_info(self.stream, self.durable)
        return info.num_pending == 0 and info.num_ack_pending == 0


@asynccontextmanager
async def consuming(
    infra: Infra, database: str, handler: Handler, *, dead_letters: DeadLetterSink | None = None
) -> AsyncIterator[Running]:
    """A stream and a durable consumer of their own, so no other test's messages mix in."""
    engine = create_engine(database, pool_size=2)
    nc = await connect(
        infra.nats_url, name="kit-consumer-test", identity=nats_identity(infra, HARNESS)
    )
    js = nc.jetstream()
    tenant = new_id("ws")
    running = Running(js, engine, tenant, stream=f"KIT_{tenant}", durable=f"kit-test-{tenant}")
    await ensure_stream(js, name=running.stream, subjects=[f"kit.{tenant}.>"])
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_durable_consumer(
            js,
            stream=running.stream,
            durable=running.durable,
            subject=f"kit.{tenant}.>",
            handler=handler,
            dead_letters=dead_letters
            or dead_letter_writer(create_sessionmaker(engine), tables.dead_letters),
            stop=stop,
            retry=RETRY,
        )
    )
    try:
        yield running
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await js.delete_stream(running.stream)
        await nc.close()
        await engine.dispose()


def test_a_message_that_keeps_failing_becomes_one_dead_letter(infra: Infra, database: str) -> None:
    async def scenario() -> None:
        handler = ScriptedHandler(failures=None)
        async with consuming(infra, database, handler) as running:
            event = running.event()
            await running.publish(event)

            async def dead_lettered() -> bool:
                return bool(await running.dead_letters()) and await running.settled()

            await eventually(dead_lettered)
            [letter] = await running.dead_letters()
            assert letter.event_id == event.id
            assert letter.stream == running.stream
            assert letter.subject == event.subject
            assert letter.payload == event.to_json()
            assert letter.deliveries == RETRY.max_deliver
            assert f"Boom: attempt {RETRY.max_deliver} on {event.id}" in letter.error
            assert letter.failed_at is not None
            assert handler.calls[event.id] == RETRY.max_deliver

            # Termed, not dropped by a server limit: a later event still gets through, and
            # the first one is not delivered again.
            handler.failures = 0
            later = running.event()
            await running.publish(later)

            async def later_handled() -> bool:
                return handler.handled == [later.id] and await running.settled()

            await eventually(later_handled)
            assert handler.calls[event.id] == RETRY.max_deliver
            assert len(await running.dead_letters()) == 1

    asyncio.run(scenario())


def test_a_message_that_recovers_is_acked_without_a_dead_letter(
    infra: Infra, database: str
) -> None:
    async def scenario() -> None:
        handler = ScriptedHandler(failures=2, error=TransientError)
        async with consuming(infra, database, handler) as running:
            event = running.event()
            await running.publish(event)

            async def handled() -> bool:
                return handler.handled == [event.id] and await running.settled()

            await eventually(handled)
            assert handler.calls[event.id] == 3
            assert await running.dead_letters() == []

    asyncio.run(scenario())


def test_an_unparseable_message_is_dead_lettered_at_once(infra: Infra, database: str) -> None:
    async def scenario() -> None:
        handler = ScriptedHandler(failures=0)
        async with consuming(infra, database, handler) as running:
            msg_id = new_id("evt")
            subject = f"kit.{running.tenant}.thing.happened"
            await running.js.publish(subject, b"not json", headers={"Nats-Msg-Id": msg_id})

            async def dead_lettered() -> bool:
                return bool(await running.dead_letters()) and await running.settled()

            await eventually(dead_lettered)
            [letter] = await running.dead_letters()
            assert (letter.event_id, letter.subject, letter.payload) == (
                msg_id,
                subject,
                b"not json",
            )
            assert letter.deliveries == 1
            assert not handler.calls

    asyncio.run(scenario())


class FlakySink:
    """A dead-letter store that is down for its first write."""

    def __init__(self) -> None:
        self.attempts = 0
        self.letters: list[DeadLetter] = []

    async def __call__(self, letter: DeadLetter) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionError("dead-letter store unavailable")
        self.letters.append(letter)


def test_a_dead_letter_that_cannot_be_written_is_retried_not_lost(
    infra: Infra, database: str
) -> None:
    async def scenario() -> None:
        handler = ScriptedHandler(failures=None)
        sink = FlakySink()
        async with consuming(infra, database, handler, dead_letters=sink) as running:
            event = running.event()
            await running.publish(event)

            async def dead_lettered() -> bool:
                return bool(sink.letters) and await running.settled()

            await eventually(dead_lettered)
            [letter] = sink.letters
            assert letter.event_id == event.id
            # One delivery past the kit's limit: the server's own limit leaves room for it.
            assert letter.deliveries == RETRY.max_deliver + 1
            assert handler.calls[event.id] == RETRY.max_deliver + 1

    asyncio.run(scenario())
