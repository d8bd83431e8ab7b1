from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tessera.schema.v1 import schema_pb2

from services.kit.errors import InternalError, NotFound, ServiceUnavailable, Unauthenticated
from services.kit.fields import REGISTRY
from services.records.consumers import invalidate_for_subject
from services.records.schemas import (
    CachedSchemaSource,
    UnknownFieldType,
    schema_from_event,
    schema_from_proto,
)
from tests.factories.records import context


def proto_schema(version: int = 1, *, slug: str = "contacts") -> schema_pb2.Schema:
    return schema_pb2.Schema(
        id="sch_1",
        app_id="app_1",
        app_slug="crm",
        slug=slug,
        name="Contacts",
        version=version,
        fields=[
            schema_pb2.Field(
                id="fld_2",
                slug="tags",
                name="Tags",
                type="multi_select",
                options=["a", "b"],
                position=2,
            ),
            schema_pb2.Field(
                id="fld_1",
                slug="name",
                name="Name",
                type="text",
                required=True,
                position=1,
            ),
        ],
    )


def test_schema_from_proto() -> None:
    definition = schema_from_proto(proto_schema(version=7))
    assert (definition.id, definition.app_id, definition.app_slug) == ("sch_1", "app_1", "crm")
    assert definition.version == 7
    # Position order.
    assert [f.slug for f in definition.fields] == ["name", "tags"]
    name, tags = definition.fields
    assert name.required
    assert name.type is REGISTRY["text"]
    assert tags.type is REGISTRY["multi_select"]
    assert tags.options == ("a", "b")
    assert tags.option_set == frozenset({"a", "b"})


def test_schema_from_event() -> None:
    data = {
        "schema": {
            "id": "sch_9",
            "app_id": "app_9",
            "app_slug": "crm",
            "slug": "deals",
            "name": "Deals",
            "version": 3,
            "created_at": "2025-01-01T00:00:00Z",
            "fields": [
                {
                    "id": "fld_a",
                    "slug": "amount",
                    "name": "Amount",
                    "type": "number",
                    "required": False,
                    "options": [],
                    "position": 1,
                },
                {
                    "id": "fld_b",
                    "slug": "stage",
                    "name": "Stage",
                    "type": "select",
                    "required": True,
                    "options": ["open", "won"],
                    "position": 2,
                },
            ],
        }
    }
    definition = schema_from_event(data)
    assert definition.version == 3
    assert [(f.id, f.type.name, f.required) for f in definition.fields] == [
        ("fld_a", "number", False),
        ("fld_b", "select", True),
    ]
    with pytest.raises(KeyError):
        schema_from_event({"schema": {"id": "x"}})


class FakeSchemaStub:
    """Stands in for SchemaServiceStub: answers GetSchema from a dict, counting calls."""

    def __init__(self) -> None:
        self.schemas: dict[tuple[str, str, str], schema_pb2.Schema] = {}
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None

    async def GetSchema(
        self,
        request: schema_pb2.GetSchemaRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the generated stub's signature
        metadata: Any = None,
    ) -> schema_pb2.Schema:
        assert timeout is not None  # every call carries a deadline
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        key = (request.ctx.tenant_id, request.app_slug, request.schema_slug)
        if key not in self.schemas:
            raise NotFound("Schema not found")
        return self.schemas[key]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_source() -> tuple[CachedSchemaSource, FakeSchemaStub, Clock]:
    stub, clock = FakeSchemaStub(), Clock()
    return CachedSchemaSource(stub, ttl_seconds=60, clock=clock), stub, clock


def test_cache_hits_until_ttl_then_refetches() -> None:
    async def scenario() -> None:
        source, stub, clock = make_source()
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(1)
        ctx = context("t1")
        first = await source.get(ctx, "crm", "contacts")
        assert await source.get(ctx, "crm", "contacts") is first
        assert stub.calls == 1
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(2)
        clock.now += 59
        assert (await source.get(ctx, "crm", "contacts")).version == 1
        clock.now += 2
        assert (await source.get(ctx, "crm", "contacts")).version == 2
        assert stub.calls == 2

    asyncio.run(scenario())


def test_fresh_bypasses_the_cache_and_refreshes_it() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(1)
        ctx = context("t1")
        await source.get(ctx, "crm", "contacts")
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(2)
        assert (await source.get(ctx, "crm", "contacts", fresh=True)).version == 2
        assert (await source.get(ctx, "crm", "contacts")).version == 2
        assert stub.calls == 2

    asyncio.run(scenario())


def test_invalidation_drops_only_that_tenant() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        for tenant in ("t1", "t2"):
            stub.schemas[(tenant, "crm", "contacts")] = proto_schema(1)
            await source.get(context(tenant), "crm", "contacts")
        assert stub.calls == 2
        invalidate_for_subject(source, "schema.t1.schema.updated")
        invalidate_for_subject(source, "schema")  # malformed: ignored
        await source.get(context("t2"), "crm", "contacts")
        assert stub.calls == 2
        await source.get(context("t1"), "crm", "contacts")
        assert stub.calls == 3

    asyncio.run(scenario())


def test_a_fetch_overtaken_by_an_invalidation_is_not_cached() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(1)
        stub.gate = asyncio.Event()
        pending = asyncio.ensure_future(source.get(context("t1"), "crm", "contacts"))
        await asyncio.sleep(0)
        source.invalidate_tenant("t1")
        stub.gate.set()
        assert (await pending).version == 1
        await source.get(context("t1"), "crm", "contacts")
        assert stub.calls == 2

    asyncio.run(scenario())


def test_concurrent_misses_share_one_call() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(1)
        stub.gate = asyncio.Event()
        waiters = [
            asyncio.ensure_future(source.get(context("t1"), "crm", "contacts")) for _ in range(5)
        ]
        await asyncio.sleep(0)
        stub.gate.set()
        results = await asyncio.gather(*waiters)
        assert stub.calls == 1
        assert all(r is results[0] for r in results)

    asyncio.run(scenario())


def test_an_expired_copy_serves_while_the_schema_service_is_away() -> None:
    async def scenario() -> None:
        source, stub, clock = make_source()
        stub.schemas[("t1", "crm", "contacts")] = proto_schema(1)
        ctx = context("t1")
        await source.get(ctx, "crm", "contacts")
        stub.failure = ServiceUnavailable()
        clock.now += 120
        assert (await source.get(ctx, "crm", "contacts")).version == 1
        # Never after an invalidation: then the copy is known to be stale.
        source.invalidate_tenant("t1")
        with pytest.raises(ServiceUnavailable):
            await source.get(ctx, "crm", "contacts")

    asyncio.run(scenario())


def test_a_type_this_build_does_not_know_fails_loudly() -> None:
    message = proto_schema()
    message.fields.append(schema_pb2.Field(id="fld_3", slug="odd", type="hologram"))
    with pytest.raises(UnknownFieldType):
        schema_from_proto(message)


def test_a_reserved_slug_breaks_the_contract_loudly() -> None:
    message = proto_schema()
    message.fields.append(schema_pb2.Field(id="fld_9", slug="id", type="text", position=9))
    with pytest.raises(InternalError):
        schema_from_proto(message)


def test_not_found_propagates_and_is_not_cached() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        for _ in range(2):
            with pytest.raises(NotFound):
                await source.get(context("t1"), "crm", "nope")
        assert stub.calls == 2

    asyncio.run(scenario())


def test_a_call_without_tenant_is_refused() -> None:
    async def scenario() -> None:
        source, stub, _ = make_source()
        with pytest.raises(Unauthenticated):
            await source.get(context(""), "crm", "contacts")
        assert stub.calls == 0

    asyncio.run(scenario())
