"""A record change produces exactly one event, even when the relay dies between publishing
and marking the row published: the restarted relay publishes again with the same
Nats-Msg-Id and JetStream drops the duplicate. A batch goes out whole and in order; an
event JetStream does not acknowledge stays in the outbox for the next pass."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import orjson
import pytest
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.kit.db import plain_url, transaction
from services.kit.ids import new_id
from services.kit.nats.connection import NatsIdentity, connect, ensure_stream
from services.kit.nats.events import Event
from services.kit.nats.outbox import NOTIFY_CHANNEL, OutboxRelay, OutboxWriter
from services.records import tables
from tests.factories.records import contacts_schema
from tests.integration.records.conftest import harness, migrated_database
from tests.support.infra import Infra
from tests.support.nats_users import HARNESS, OBSERVER, nats_identity


def records(infra: Infra) -> NatsIdentity:
    return nats_identity(infra, "records")


def observing(infra: Infra) -> NatsIdentity:
    return nats_identity(infra, OBSERVER)


class RelayCrashed(Exception):
    pass


async def crash(event_ids: list[str]) -> None:
    raise RelayCrashed(event_ids)


def test_one_event_even_when_the_relay_restarts_mid_way(infra: Infra) -> None:
    # A database of its own: no other test's unpublished rows share the relay's batch.
    url = migrated_database(infra, "records_outbox")

    async def scenario() -> None:
        async with harness(url) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            record = await h.create(tenant, s, orjson.dumps({"name": "Ada"}))
            subject = f"records.{tenant}.record.created"
            rows = await h.rows(
                "SELECT event_id, published_at FROM outbox WHERE subject = :subject",
                subject=subject,
            )
            assert len(rows) == 1
            event_id, published_at = rows[0]
            assert published_at is None

            # Relayed as the records service; read back as the suite's observer.
            nc = await connect(infra.nats_url, name="records-outbox-test", identity=records(infra))
            observer = await connect(infra.nats_url, name="observer", identity=observing(infra))
            try:
                js = nc.jetstream()
                seen = observer.jetstream()
                await ensure_stream(js, name="RECORDS", subjects=["records.>"])

                crashing = OutboxRelay(h.engine, tables.outbox, js, after_publish=crash)
                with pytest.raises(RelayCrashed):
                    await crashing.relay_once()
                assert (
                    await h.scalar(
                        "SELECT published_at FROM outbox WHERE event_id = :id", id=event_id
                    )
                    is None
                )

                restarted = OutboxRelay(h.engine, tables.outbox, js)
                while await restarted.relay_once():
                    pass
                assert (
                    await h.scalar(
                        "SELECT published_at FROM outbox WHERE event_id = :id", id=event_id
                    )
                    is not None
                )

                info = await seen.stream_info("RECORDS", subjects_filter=f"records.{tenant}.>")
                assert info.state.subjects == {subject: 1}

                reader = await seen.pull_subscribe(
                    f"records.{tenant}.>",
                    stream="RECORDS",
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE
                    ),
                )
                messages = await reader.fetch(10, timeout=5)
                await reader.unsubscribe()
                assert len(messages) == 1
                message = messages[0]
                assert message.subject == subject
                assert message.headers is not None
                assert message.headers["Nats-Msg-Id"] == event_id
                payload = orjson.loads(message.data)
                assert payload["id"] == event_id
                assert payload["data"]["record"] == record
            finally:
                await nc.close()
                await observer.close()

    asyncio.run(scenario())


def record_event(tenant: str, n: int, *, service: str = "records") -> Event:
    action = ("created", "updated", "deleted")[n % 3]
    return Event.new(service=service, tenant=tenant, entity="record", action=action, data={"n": n})


async def read_all(js: JetStreamContext, stream: str, subject: str, count: int) -> list[Msg]:
    """The stream's messages on `subject` in stream order, waiting (bounded) for `count`."""
    reader = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    messages: list[Msg] = []
    deadline = time.monotonic() + 15
    try:
        while len(messages) < count and time.monotonic() < deadline:
            try:
                messages += await reader.fetch(count - len(messages), timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
    finally:
        await reader.unsubscribe()
    return messages


def test_a_thousand_events_go_out_in_order_exactly_once(infra: Infra) -> None:
    url = migrated_database(infra, "records_outbox_batch")

    async def scenario() -> None:
        async with harness(url) as h:
            tenant = new_id("ws")
            events = [record_event(tenant, n) for n in range(1000)]
            async with transaction(h.sessionmaker, tenant=tenant) as session:
                await OutboxWriter(tables.outbox).add_many(session, events)
            assert await h.count_outbox() == 1000

            nc = await connect(
                infra.nats_url, name="records-outbox-batch-test", identity=records(infra)
            )
            observer = await connect(infra.nats_url, name="observer", identity=observing(infra))
            try:
                js = nc.jetstream()
                seen = observer.jetstream()
                await ensure_stream(js, name="RECORDS", subjects=["records.>"])

                # The first batch goes out twice: JetStream must drop the second copies.
                crashing = OutboxRelay(h.engine, tables.outbox, js, after_publish=crash)
                with pytest.raises(RelayCrashed):
                    await crashing.relay_once()
                relay = OutboxRelay(h.engine, tables.outbox, js)
                passes = 0
                while await relay.relay_once():
                    passes += 1
                assert passes == 1000 // relay.batch_size
                assert await h.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

                info = await seen.stream_info("RECORDS", subjects_filter=f"records.{tenant}.>")
                assert info.state.subjects == {
                    f"records.{tenant}.record.created": 334,
                    f"records.{tenant}.record.updated": 333,
                    f"records.{tenant}.record.deleted": 333,
                }
                messages = await read_all(seen, "RECORDS", f"records.{tenant}.>", 1000)
                assert [m.subject for m in messages] == [e.subject for e in events]
                assert [(m.headers or {}).get("Nats-Msg-Id") for m in messages] == [
                    e.id for e in events
                ]
                assert [orjson.loads(m.data)["data"]["n"] for m in messages] == list(range(1000))
            finally:
                await nc.close()
                await observer.close()

    asyncio.run(scenario())


def test_an_event_without_an_ack_stays_for_the_next_pass(infra: Infra) -> None:
    url = migrated_database(infra, "records_outbox_unacked")

    async def scenario() -> None:
        async with harness(url) as h:
            tenant = new_id("ws")
            # No stream captures "unrouted.>": JetStream answers its publish with
            # no-responders instead of an ack. The relay runs as the suite's harness, which
            # may publish on subjects no service owns.
            before, unrouted, after = (
                record_event(tenant, 0, service="kit"),
                record_event(tenant, 1, service="unrouted"),
                record_event(tenant, 2, service="kit"),
            )
            async with transaction(h.sessionmaker, tenant=tenant) as session:
                await OutboxWriter(tables.outbox).add_many(session, [before, unrouted, after])

            acked: list[list[str]] = []

            async def remember(event_ids: list[str]) -> None:
                acked.append(event_ids)

            nc = await connect(
                infra.nats_url,
                name="records-outbox-unacked-test",
                identity=nats_identity(infra, HARNESS),
            )
            routed = f"KIT_{tenant}"
            try:
                js = nc.jetstream()
                await ensure_stream(js, name=routed, subjects=[f"kit.{tenant}.>"])
                relay = OutboxRelay(h.engine, tables.outbox, js, after_publish=remember)

                assert await relay.relay_once() == 2
                assert acked == [[before.id, after.id]]
                unpublished = "SELECT event_id FROM outbox WHERE published_at IS NULL"
                assert await h.rows(unpublished) == [(unrouted.id,)]
                info = await js.stream_info(routed, subjects_filter=f"kit.{tenant}.>")
                assert info.state.subjects == {before.subject: 1, after.subject: 1}

                # Still unacknowledged, still kept.
                assert await relay.relay_once() == 0
                assert await h.rows(unpublished) == [(unrouted.id,)]

                # Once a stream takes the subject, the next pass delivers the event.
                stream = f"UNROUTED_{tenant}"
                await ensure_stream(js, name=stream, subjects=[f"unrouted.{tenant}.>"])
                try:
                    assert await relay.relay_once() == 1
                    assert await h.rows(unpublished) == []
                    info = await js.stream_info(stream)
                    assert info.state.messages == 1
                finally:
                    await js.delete_stream(stream)
            finally:
                await js.delete_stream(routed)
                await nc.close()

    asyncio.run(scenario())


def test_new_outbox_rows_wake_the_relays_when_they_commit(infra: Infra) -> None:
    """The outbox's own trigger notifies the relays' channel: on commit, once per
    statement, and not for a transaction that rolls back."""
    url = migrated_database(infra, "records_outbox_announced")

    async def scenario() -> None:
        listener = await asyncpg.connect(plain_url(url))
        heard: asyncio.Queue[str] = asyncio.Queue()
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[2]))
        try:
            async with harness(url) as h:
                tenant = new_id("ws")
                writer = OutboxWriter(tables.outbox)

                async def roll_back() -> None:
                    async with transaction(h.sessionmaker, tenant=tenant) as session:
                        await writer.add(session, record_event(tenant, 0))
                        raise RuntimeError("rolled back")

                with pytest.raises(RuntimeError):
                    await roll_back()
                async with transaction(h.sessionmaker, tenant=tenant) as session:
                    await writer.add(session, record_event(tenant, 1))
                    await asyncio.sleep(0.2)
                    assert heard.empty(), "a notification before the commit"
                assert await asyncio.wait_for(heard.get(), timeout=5) == NOTIFY_CHANNEL
                await asyncio.sleep(0.2)
                assert heard.empty(), "one notification per statement"
        finally:
            await listener.close()

    asyncio.run(scenario())
