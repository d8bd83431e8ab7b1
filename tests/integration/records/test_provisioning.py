from __future__ import annotations

import asyncio

import orjson
from sqlalchemy import text

from services.kit.ids import new_id
from services.kit.nats.events import Event
from services.records.consumers import PROVISIONER, SchemaProvisioningHandler
from services.records.provisioning import Provisioner
from services.records.repository import RecordTables
from services.records.schemas import SchemaDef
from tests.factories.records import contacts_schema, field, with_fields
from tests.integration.records.conftest import Harness, harness

EXPECTED_TYPES = {
    "name": "text",
    "bio": "text",
    "age": "numeric",
    "active": "boolean",
    "birthday": "date",
    "seen_at": "timestamp with time zone",
    "email": "text",
    "website": "text",
    "status": "text",
    "tags": "ARRAY",
}


async def columns_of(h: Harness, schema: SchemaDef) -> dict[str, str]:
    rows = await h.rows(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = :app AND table_name = :table",
        app=schema.app_id,
        table=schema.id,
    )
    return {name: kind for name, kind in rows}


async def indexes_of(h: Harness, schema: SchemaDef) -> dict[str, str]:
    rows = await h.rows(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :app AND tablename = :table",
        app=schema.app_id,
        table=schema.id,
    )
    return {name: definition for name, definition in rows}


def test_provisioning_creates_table_columns_and_indexes(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            schema = h.schemas.put(tenant, contacts_schema())
            page = await h.page(tenant, schema)
            assert (page.records, page.total) == ([], 0)

            columns = await columns_of(h, schema)
            assert columns["id"] == "text"
            assert columns["created_at"] == "timestamp with time zone"
            assert columns["updated_at"] == "timestamp with time zone"
            for f in schema.fields:
                assert columns[f.id] == EXPECTED_TYPES[f.slug], f.slug
            assert columns["version"] == "bigint"
            assert columns["created_by"] == columns["updated_by"] == "text"
            assert len(columns) == len(schema.fields) + 6

            indexes = await indexes_of(h, schema)
            for f in schema.fields:
                name = f"ix_{f.id}"
                if f.slug == "tags":
                    assert "USING gin" in indexes[name]
                elif f.slug == "bio":
                    assert name not in indexes
                elif f.type.name in ("text", "email", "url"):
                    # Text is indexed by a bounded prefix: any valid value is storable.
                    assert indexes[name].endswith(f'USING btree ("left"({f.id}, 200), id)'), (
                        indexes[name]
                    )
                else:
                    assert indexes[name].endswith(f"USING btree ({f.id}, id)"), indexes[name]
            assert f"{schema.id}_pkey" in indexes

            version = await h.scalar(
                "SELECT version FROM provisioned_schemas WHERE schema_id = :id", id=schema.id
            )
            assert version == 1

            # Idempotent: another process (empty memo) provisioning again is a no-op.
            again = Provisioner(h.sessionmaker, RecordTables())
            await again.ensure(tenant, schema)
            assert await columns_of(h, schema) == columns

    asyncio.run(scenario())


def test_a_newer_version_adds_columns_on_demand(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            v1 = h.schemas.put(tenant, contacts_schema())
            first = await h.create(tenant, v1, b'{"name": "Ada"}')

            v2 = h.schemas.put(tenant, with_fields(v1, field("score", "number")))
            score = v2.by_slug["score"]
            fetched = await h.get(tenant, v2, first["id"])
            assert fetched["score"] is None
            assert (await columns_of(h, v2))[score.id] == "numeric"
            assert f"ix_{score.id}" in await indexes_of(h, v2)
            assert (
                await h.scalar(
                    "SELECT version FROM provisioned_schemas WHERE schema_id = :id", id=v2.id
                )
                == 2
            )

    asyncio.run(scenario())


def schema_event(tenant: str, schema: SchemaDef) -> Event:
    data = {
        "schema": {
            "id": schema.id,
            "app_id": schema.app_id,
            "app_slug": schema.app_slug,
            "slug": schema.slug,
            "name": schema.name,
            "version": schema.version,
            "created_at": "2025-01-01T00:00:00Z",
            "fields": [
                {
                    "id": f.id,
                    "slug": f.slug,
                    "name": f.name,
                    "type": f.type.name,
                    "required": f.required,
                    "options": list(f.options),
                    "position": f.position,
                }
                for f in schema.fields
            ],
        }
    }
    # Through JSON, as it arrives from JetStream.
    data = orjson.loads(orjson.dumps(data))
    return Event.new(service="schema", tenant=tenant, entity="schema", action="created", data=data)


def test_schema_event_provisions_eagerly_and_once(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            schema = contacts_schema()
            handler = SchemaProvisioningHandler(h.sessionmaker, h.provisioner)
            event = schema_event(tenant, schema)
            await handler(event)
            assert len(await columns_of(h, schema)) == len(schema.fields) + 6
            assert (
                await h.scalar(
                    "SELECT count(*) FROM processed_events WHERE consumer = :c AND event_id = :e",
                    c=PROVISIONER,
                    e=event.id,
                )
                == 1
            )
            # A redelivery is recognised and skipped; so is an unrelated or malformed event.
            await handler(event)
            other = Event.new(
                service="schema", tenant=tenant, entity="app", action="created", data={}
            )
            await handler(other)
            broken = Event.new(
                service="schema",
                tenant=tenant,
                entity="schema",
                action="created",
                data={"schema": {"id": "x"}},
            )
            await handler(broken)
            # The records written against that table need no further provisioning.
            h.schemas.put(tenant, schema)
            record = await h.create(tenant, schema, b'{"name": "Ada"}')
            assert record["name"] == "Ada"

    asyncio.run(scenario())


def test_unfiltered_totals_follow_every_writer(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            schema = h.schemas.put(tenant, contacts_schema())
            name = schema.by_slug["name"].id
            table = f'"{schema.app_id}"."{schema.id}"'
            made = [await h.create(tenant, schema, orjson.dumps({"name": n})) for n in "abc"]
            assert (await h.page(tenant, schema)).total == 3
            # Writers that bypass the service are counted too, in bulk.
            async with h.engine.begin() as conn:
                await conn.execute(
                    text(
                        f"INSERT INTO {table} (id, {name})"
                        " SELECT 'rec_bulk' || g, 'x' FROM generate_series(1, 250) g"
                    )
                )
            assert (await h.page(tenant, schema)).total == 253
            await h.delete(tenant, schema, made[0]["id"])
            async with h.engine.begin() as conn:
                await conn.execute(text(f"DELETE FROM {table} WHERE id LIKE 'rec_bulk1%'"))
            expected = await h.count_records(schema)
            assert (await h.page(tenant, schema)).total == expected == 252 - 111
            async with h.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {table}"))
            assert (await h.page(tenant, schema)).total == 0
            await h.create(tenant, schema, orjson.dumps({"name": "again"}))
            assert (await h.page(tenant, schema)).total == 1

    asyncio.run(scenario())


def test_a_purge_event_drops_the_schema_table_once(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            schema = h.schemas.put(tenant, contacts_schema())
            await h.create(tenant, schema, b'{"name": "Ada"}')
            handler = SchemaProvisioningHandler(h.sessionmaker, h.provisioner)
            purged = Event.new(
                service="schema",
                tenant=tenant,
                entity="schema",
                action="purged",
                data={"purged": {"app_id": schema.app_id, "schema_id": schema.id}},
            )
            await handler(purged)
            await handler(purged)  # a redelivery changes nothing
            assert await columns_of(h, schema) == {}
            assert (
                await h.scalar(
                    "SELECT count(*) FROM provisioned_schemas WHERE schema_id = :id", id=schema.id
                )
                == 0
            )

    asyncio.run(scenario())
