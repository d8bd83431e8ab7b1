"""Schema events over a real nats-server: the durable consumer provisions eagerly, and the
plain subscription drops a tenant's cached definitions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson

from services.kit.ids import new_id
from services.kit.nats.connection import connect, ensure_stream
from services.records.consumers import (
    INVALIDATION_SUBJECTS,
    SchemaProvisioningHandler,
    invalidation_callback,
    run_schema_provisioner,
)
from services.records.schemas import CachedSchemaSource
from tests.factories.records import contacts_schema, context
from tests.integration.records.conftest import harness
from tests.integration.records.test_provisioning import schema_event
from tests.support.infra import Infra
from tests.support.nats_users import HARNESS, nats_identity
from tests.unit.records.test_schemas import FakeSchemaStub, proto_schema


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_schema_created_event_provisions_the_table(infra: Infra, records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            # The provisioner on a durable of its own, which the records service's role
            # does not own; the schema service's events from the schema service's user.
            nc = await connect(
                infra.nats_url,
                name="records-consumer-test",
                identity=nats_identity(infra, HARNESS),
            )
            schema_nc = await connect(
                infra.nats_url, name="schema-test", identity=nats_identity(infra, "schema")
            )
            stop = asyncio.Event()
            js = nc.jetstream()
            schema_js = schema_nc.jetstream()
            handler = SchemaProvisioningHandler(h.sessionmaker, h.provisioner)
            # Started before the stream exists: it must wait, not fail.
            # Its own durable and tenant: other records services on this NATS must not take
            # its events, and it must not replay the whole session's schema history.
            tenant = new_id("ws")
            consumer = asyncio.create_task(
                run_schema_provisioner(
                    js,
                    handler,
                    stop,
                    durable=f"provisioner-test-{tenant}",
                    subject=f"schema.{tenant}.schema.>",
                )
            )
            try:
                await ensure_stream(schema_js, name="SCHEMA", subjects=["schema.>"])
                schema = contacts_schema()
                event = schema_event(tenant, schema)
                await schema_js.publish(
                    event.subject, event.to_json(), headers={"Nats-Msg-Id": event.id}
                )

                async def provisioned() -> bool:
                    found = await h.scalar(
                        "SELECT count(*) FROM information_schema.tables"
                        " WHERE table_schema = :app AND table_name = :table",
                        app=schema.app_id,
                        table=schema.id,
                    )
                    return bool(found) and h.provisioner.is_current(schema)

                await eventually(provisioned)
            finally:
                stop.set()
                await asyncio.wait_for(consumer, timeout=10)
                await nc.close()
                await schema_nc.close()

    asyncio.run(scenario())


def test_schema_events_invalidate_the_tenants_cache(infra: Infra) -> None:
    async def scenario() -> None:
        stub = FakeSchemaStub()
        source = CachedSchemaSource(stub, ttl_seconds=3600)
        tenant = new_id("ws")
        stub.schemas[(tenant, "crm", "contacts")] = proto_schema(1)
        ctx = context(tenant)
        assert (await source.get(ctx, "crm", "contacts")).version == 1

        # Heard as the records service, said as the schema service.
        nc = await connect(
            infra.nats_url,
            name="records-invalidation-test",
            identity=nats_identity(infra, "records"),
        )
        schema_nc = await connect(
            infra.nats_url, name="schema-test", identity=nats_identity(infra, "schema")
        )
        try:
            for subject in INVALIDATION_SUBJECTS:
                await nc.subscribe(subject, cb=invalidation_callback(source))
            await nc.flush()
            stub.schemas[(tenant, "crm", "contacts")] = proto_schema(2)
            await schema_nc.publish(f"schema.{tenant}.schema.updated", orjson.dumps({}))

            async def refreshed() -> bool:
                return (await source.get(ctx, "crm", "contacts")).version == 2

            await eventually(refreshed)
        finally:
            await nc.close()
            await schema_nc.close()

    asyncio.run(scenario())
