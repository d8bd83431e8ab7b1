"""A record change produces exactly one event, even when the relay dies between publishing
and marking the row published: the restarted relay publishes again with the same
Nats-Msg-Id and JetStream drops the duplicate."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.kit.ids import new_id
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.outbox import OutboxRelay
from services.records import tables
from tests.factories.records import contacts_schema
from tests.integration.records.conftest import harness, migrated_database
from tests.support.infra import Infra


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

            nc = await connect(infra.nats_url, name="records-outbox-test")
            try:
                js = nc.jetstream()
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

                info = await js.stream_info("RECORDS", subjects_filter=f"records.{tenant}.>")
                assert info.state.subjects == {subject: 1}

                reader = await js.pull_subscribe(
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

    asyncio.run(scenario())
