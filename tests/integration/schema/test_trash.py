"""The purge: trash entries past their time go for good, and the records service is told."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2

from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, create_engine, create_sessionmaker, transaction
from services.schema import service
from tests.integration.schema.support import TIMEOUT, SchemaService, next_event

Ctx = common_pb2.RequestContext
FI = schema_pb2.FieldInput


def purge(schema_service: SchemaService, *, after: timedelta) -> int:
    """Runs the purge as it would run `after` from now."""

    async def run() -> int:
        engine = create_engine(schema_service.database_url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), tenant=ALL_TENANTS) as session:
                cut = utcnow() + after - service.TRASH_RETENTION
                return await service.purge_trash(session, cut)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_only_entries_past_their_time_are_purged(schema_service: SchemaService, ctx: Ctx) -> None:
    stub = schema_service.stub
    stub.CreateApp(schema_pb2.CreateAppRequest(ctx=ctx, name="CRM", slug="crm"), timeout=TIMEOUT)
    schema = stub.CreateSchema(
        schema_pb2.CreateSchemaRequest(
            ctx=ctx,
            app_slug="crm",
            name="Contacts",
            fields=[FI(slug="name", type="text"), FI(slug="note", type="text")],
        ),
        timeout=TIMEOUT,
    )
    after_field = stub.DeleteField(
        schema_pb2.DeleteFieldRequest(
            ctx=ctx, app_slug="crm", schema_slug="contacts", field_slug="note"
        ),
        timeout=TIMEOUT,
    )
    assert [f.slug for f in after_field.fields] == ["name"]
    assert list(after_field.trashed_field_ids) == [schema.fields[1].id]
    stub.DeleteSchema(
        schema_pb2.DeleteSchemaRequest(ctx=ctx, app_slug="crm", schema_slug="contacts"),
        timeout=TIMEOUT,
    )
    # Still in their 72 hours: nothing goes.
    assert purge(schema_service, after=timedelta(hours=1)) == 0
    listed = stub.ListTrash(schema_pb2.ListTrashRequest(ctx=ctx), timeout=TIMEOUT)
    assert {e.type for e in listed.entries} == {"schema"}  # the field is inside it

    assert purge(schema_service, after=timedelta(hours=73)) >= 2
    with psycopg.connect(schema_service.database_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM schemas WHERE tenant_id = %s", (ctx.tenant_id,)
        ).fetchone()
    assert left == (0,)
    event = next_event(schema_service.bus, f"schema.{ctx.tenant_id}.schema.purged")
    assert event.body["data"] == {"purged": {"app_id": schema.app_id, "schema_id": schema.id}}
