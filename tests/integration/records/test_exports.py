"""Exports on real PostgreSQL: the cursor's batches give exactly the list's records in the
list's order, however the batches fall, NULL sort keys included."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from tessera.records.v1 import records_pb2

from services.kit.db import transaction
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id
from services.records.schemas import SchemaDef
from services.records.service import ExportPlan
from tests.factories.records import context, field, schema
from tests.integration.records.conftest import Harness, harness


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


async def export(h: Harness, tenant: str, plan: ExportPlan, size: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    async with transaction(h.sessionmaker, tenant=tenant) as session:
        async for batch in h.service.export_records(
            session, context(tenant), plan, batch_size=size
        ):
            assert 0 < len(batch) <= size
            records += batch
    return records


async def listed(h: Harness, tenant: str, target: SchemaDef, **params: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await h.page(tenant, target, per_page=7, cursor=cursor, count=False, **params)
        records += page.records
        if not page.next_cursor:
            return records
        cursor = page.next_cursor


def people() -> SchemaDef:
    # A table of its own for each test: the database is the session's.
    return schema(
        field("name"), field("score", "number"), field("kind", "select", options=["a", "b"])
    )


@pytest.mark.parametrize(
    "sort",
    [
        [],
        [Sort("score")],
        [Sort("score", descending=True), Sort("name")],
        [Sort("kind"), Sort("score", descending=True)],
        [Sort("name", descending=True)],
    ],
)
def test_batches_give_the_lists_records_in_its_order(records_db: str, sort: list[Sort]) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, people())
            for i in range(40):
                values = {
                    "name": None if i % 9 == 0 else f"n{i % 13}",
                    "score": None if i % 4 == 0 else i % 5,
                    "kind": None if i % 6 == 0 else "ab"[i % 2],
                }
                await h.create(tenant, s, orjson.dumps(values))
            plan = await h.service.export_plan(context(tenant), "crm", "contacts", sort=sort)
            expected = await listed(h, tenant, s, sort=sort)
            assert len(expected) == 40
            for size in (1, 3, 7, 40, 41):
                assert await export(h, tenant, plan, size) == expected

    asyncio.run(scenario())


def test_a_filtered_export_keeps_the_selected_keys(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, people())
            for i in range(10):
                await h.create(tenant, s, orjson.dumps({"name": f"n{i}", "score": i}))
            where = records_pb2.FilterNode(
                condition=records_pb2.Condition(field="score", op="gte", text="6")
            )
            plan = await h.service.export_plan(
                context(tenant),
                "crm",
                "contacts",
                sort=[Sort("score", descending=True)],
                filter=where,
                fields=["name"],
            )
            assert plan.keys == ("id", "name")
            records = await export(h, tenant, plan, 3)
            assert [r["name"] for r in records] == ["n9", "n8", "n7", "n6"]
            assert all(list(r) == ["id", "name"] for r in records)

    asyncio.run(scenario())


def test_an_export_plan_checks_like_a_list(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            h.schemas.put(tenant, people())
            for kwargs in ({"sort": [Sort("nope")]}, {"fields": ["nope"]}):
                with pytest.raises(ValidationFailed):
                    await h.service.export_plan(context(tenant), "crm", "contacts", **kwargs)

    asyncio.run(scenario())
