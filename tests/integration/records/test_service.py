from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
from tessera.records.v1 import records_pb2

from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.records.errors import RecordNotFound
from services.records.schemas import SchemaDef
from tests.factories.records import contacts_schema, field, schema, with_fields
from tests.integration.records.conftest import Harness, harness


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    field: str
    value: str
    op: str = "eq"


def where(*filters: Filter) -> records_pb2.FilterNode:
    return records_pb2.FilterNode(
        all_of=records_pb2.FilterGroup(
            nodes=[
                records_pb2.FilterNode(
                    condition=records_pb2.Condition(field=f.field, op=f.op, text=f.value)
                )
                for f in filters
            ]
        )
    )


def body(**values: Any) -> bytes:
    return orjson.dumps(values)


async def outbox_events(h: Harness, tenant: str) -> list[dict[str, Any]]:
    rows = await h.rows(
        "SELECT subject, payload, headers FROM outbox WHERE subject LIKE :prefix ORDER BY seq",
        prefix=f"records.{tenant}.%",
    )
    return [{"subject": subject, **orjson.loads(payload)} for subject, payload, _ in rows]


FULL = {
    "name": "Ada Lovelace",
    "bio": "Wrote the first program.",
    "age": 36,
    "active": True,
    "birthday": "1815-12-10",
    "seen_at": "1852-11-27T12:30:00+01:00",
    "email": "ada@example.com",
    "website": "https://example.com/ada",
    "status": "lead",
    "tags": ["b", "a", "b"],
}


def test_crud_round_trip_with_events(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())

            created = await h.create(tenant, s, body(**FULL, id="rec_ignored", created_at="x"))
            assert created["id"].startswith("rec_")
            assert created["id"] != "rec_ignored"
            assert list(created) == [
                "id",
                *(f.slug for f in s.fields),
                "created_at",
                "updated_at",
                "version",
            ]
            assert created["age"] == 36
            assert isinstance(created["age"], int)
            assert created["seen_at"] == "1852-11-27T11:30:00Z"
            assert created["birthday"] == "1815-12-10"
            assert created["tags"] == ["b", "a"]
            assert created["created_at"].endswith("Z")
            assert created["created_at"] == created["updated_at"]

            fetched = await h.get(tenant, s, created["id"])
            assert fetched == created

            updated = await h.update(tenant, s, created["id"], body(age=36.5, status=None))
            assert updated["age"] == 36.5
            assert updated["status"] is None
            assert updated["name"] == "Ada Lovelace"  # untouched
            assert updated["created_at"] == created["created_at"]
            assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(
                created["updated_at"]
            )
            assert await h.get(tenant, s, created["id"]) == updated

            await h.delete(tenant, s, created["id"])
            with pytest.raises(RecordNotFound):
                await h.get(tenant, s, created["id"])
            with pytest.raises(RecordNotFound):
                await h.delete(tenant, s, created["id"])
            with pytest.raises(RecordNotFound):
                await h.update(tenant, s, created["id"], body(age=1))

            events = await outbox_events(h, tenant)
            assert [e["subject"] for e in events] == [
                f"records.{tenant}.record.created",
                f"records.{tenant}.record.updated",
                f"records.{tenant}.record.deleted",
            ]
            about = {"app": s.app_slug, "app_id": s.app_id, "schema": s.slug, "schema_id": s.id}
            written = events[0]["data"].pop("image")
            assert events[0]["data"] == {**about, "record": created}
            assert (written["id"], written["version"]) == (created["id"], 1)
            assert events[0]["type"] == "records.record.created"
            assert events[0]["tenant"] == tenant
            age = s.by_slug["age"].id
            image, previous = (
                events[1]["data"].pop("image"),
                events[1]["data"].pop("previous_image"),
            )
            assert events[1]["data"] == {**about, "changed": ["age", "status"], "record": updated}
            # The row's stored values, keyed by column, after and before the update.
            assert (image["id"], image["version"], image[age]) == (created["id"], 2, 36.5)
            assert (previous["version"], previous[age]) == (1, 36)
            gone = events[2]["data"].pop("previous_image")
            assert events[2]["data"] == {**about, "record_id": created["id"]}
            assert gone == image

    asyncio.run(scenario())


def test_missing_and_malformed_ids_are_the_same_404(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            for record_id in (new_id("rec"), "", "x" * 500, "bad\x00id", "'; DROP TABLE x; --"):
                with pytest.raises(RecordNotFound) as error:
                    await h.get(tenant, s, record_id)
                assert error.value.message == "Record not found"
                assert error.value.code == "not_found"

    asyncio.run(scenario())


def test_unknown_schema_is_not_found(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            missing = schema(field("name"), slug="missing")
            with pytest.raises(NotFound):
                await h.page(tenant, missing)

    asyncio.run(scenario())


def test_empty_update_changes_nothing(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            created = await h.create(tenant, s, body(name="Ada"))
            before = await h.count_outbox()
            assert await h.update(tenant, s, created["id"], b"{}") == created
            assert await h.update(tenant, s, created["id"], body(id="rec_other")) == created
            assert await h.count_outbox() == before
            with pytest.raises(RecordNotFound):
                await h.update(tenant, s, new_id("rec"), b"{}")

    asyncio.run(scenario())


BAD_CREATES: list[tuple[bytes, str, str | None]] = [
    (b"not json", "Request body is not valid JSON", None),
    (b"[1, 2]", "Request body must be a JSON object", None),
    (body(name="Ada", nickname="A"), "Unknown field 'nickname'", "nickname"),
    (body(age=3), "Field 'name' is required", "name"),
    (body(name=None), "Field 'name' is required", "name"),
    (body(name=5), "Field 'name' must be a string of at most 10000 characters", "name"),
    (body(name="x" * 10_001), "Field 'name' must be at most 10000 characters", "name"),
    (body(name="Ada", age="36"), "Field 'age' must be a number", "age"),
    (body(name="Ada", age=True), "Field 'age' must be a number", "age"),
    (body(name="Ada", active="yes"), "Field 'active' must be true or false", "active"),
    (
        body(name="Ada", birthday="10/12/1815"),
        "Field 'birthday' must be a date as YYYY-MM-DD",
        "birthday",
    ),
    (body(name="Ada", seen_at="later"), "Field 'seen_at' must be an ISO 8601 date-time", "seen_at"),
    (body(name="Ada", email="ada"), "Field 'email' must be an email address", "email"),
    (
        body(name="Ada", website="example.com"),
        "Field 'website' must be an absolute http or https URL",
        "website",
    ),
    (
        body(name="Ada", status="boss"),
        "Field 'status' must be one of the field's options",
        "status",
    ),
    (
        body(name="Ada", tags=["a", "z"]),
        "Field 'tags' must be a list of the field's options",
        "tags",
    ),
]


def test_every_validation_failure_writes_nothing(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            existing = await h.create(tenant, s, body(name="Ada", age=1))
            outbox_before = await h.count_outbox()
            for raw, message, field_name in BAD_CREATES:
                with pytest.raises(ValidationFailed) as error:
                    await h.create(tenant, s, raw)
                assert (error.value.message, error.value.field) == (message, field_name), raw
            for raw, message, field_name in [
                (body(name=None), "Field 'name' is required", "name"),
                (body(age=1, nickname="A"), "Unknown field 'nickname'", "nickname"),
                (body(age=2, email="nope"), "Field 'email' must be an email address", "email"),
            ]:
                with pytest.raises(ValidationFailed) as error:
                    await h.update(tenant, s, existing["id"], raw)
                assert (error.value.message, error.value.field) == (message, field_name)
            assert await h.count_records(s) == 1
            assert await h.get(tenant, s, existing["id"]) == existing
            assert await h.count_outbox() == outbox_before

    asyncio.run(scenario())


async def seed(h: Harness, tenant: str, s: SchemaDef) -> list[dict[str, Any]]:
    people = [
        ("Cleo", 30, True, "lead", ["a"]),
        ("Ada", 36, False, "customer", ["a", "b"]),
        ("Bea", 30, True, "customer", ["c"]),
        ("Ada", 20, True, "lead", []),
        ("Dan", 45, False, "lead", ["b"]),
        ("Eve", 28, True, "customer", ["a", "c"]),
    ]
    created = []
    for name, age, active, status, tags in people:
        created.append(
            await h.create(
                tenant, s, body(name=name, age=age, active=active, status=status, tags=tags)
            )
        )
    return created


def test_list_sorts_filters_pages_and_counts(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            made = await seed(h, tenant, s)

            everything = await h.page(tenant, s)
            assert everything.total == 6
            # No sort: creation order, ties by id.
            assert [r["id"] for r in everything.records] == [
                r["id"] for r in sorted(made, key=lambda r: (r["created_at"], r["id"]))
            ]

            by_name = await h.page(tenant, s, sort=[Sort("name")])
            names = [(r["name"], r["id"]) for r in by_name.records]
            assert names == sorted(names)

            # Descending on the key, ties by id descending too: one backward index scan.
            by_age = await h.page(tenant, s, sort=[Sort("age", descending=True)])
            keys = [(r["age"], r["id"]) for r in by_age.records]
            assert keys == sorted(keys, reverse=True)

            two_keys = await h.page(tenant, s, sort=[Sort("status"), Sort("age", True)])
            assert [(r["status"], r["age"]) for r in two_keys.records] == [
                ("customer", 36),
                ("customer", 30),
                ("customer", 28),
                ("lead", 45),
                ("lead", 30),
                ("lead", 20),
            ]

            leads = await h.page(tenant, s, filter=where(Filter("status", "lead")))
            assert leads.total == 3
            assert {r["status"] for r in leads.records} == {"lead"}

            active_leads = await h.page(
                tenant, s, filter=where(Filter("status", "lead"), Filter("active", "1"))
            )
            assert sorted(r["name"] for r in active_leads.records) == ["Ada", "Cleo"]

            tagged = await h.page(tenant, s, filter=where(Filter("tags", "a")), sort=[Sort("name")])
            assert [r["name"] for r in tagged.records] == ["Ada", "Cleo", "Eve"]

            thirty = await h.page(tenant, s, filter=where(Filter("age", "30.0")))
            assert thirty.total == 2

            one = await h.page(tenant, s, filter=where(Filter("id", made[2]["id"])))
            assert [r["id"] for r in one.records] == [made[2]["id"]]

            pages = [
                await h.page(tenant, s, page=n, per_page=4, sort=[Sort("name")]) for n in (1, 2)
            ]
            assert [p.total for p in pages] == [6, 6]
            assert [len(p.records) for p in pages] == [4, 2]
            assert [r["id"] for p in pages for r in p.records] == [r["id"] for r in by_name.records]

            past = await h.page(tenant, s, page=3, per_page=4)
            assert (past.records, past.total) == ([], 6)

    asyncio.run(scenario())


def test_list_parameter_errors(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            cases: list[tuple[dict[str, Any], str]] = [
                ({"per_page": 101}, "per_page"),
                ({"page": -1}, "page"),
                ({"sort": [Sort("nope")]}, "sort"),
                ({"sort": [Sort("bio")]}, "sort"),
                ({"filter": where(Filter("nope", "x"))}, "filter[nope]"),
                ({"filter": where(Filter("age", "x"))}, "filter[age]"),
                ({"filter": where(Filter("active", "x", op="gt"))}, "filter[active]"),
            ]
            for params, field_name in cases:
                with pytest.raises(ValidationFailed) as error:
                    await h.page(tenant, s, **params)
                assert error.value.field == field_name, params

    asyncio.run(scenario())


def test_tenants_are_separated(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            mine, theirs = new_id("ws"), new_id("ws")
            # Same app and schema slugs, different schemas underneath.
            s_mine = h.schemas.put(mine, contacts_schema())
            s_theirs = h.schemas.put(theirs, contacts_schema())
            assert (s_mine.app_slug, s_mine.slug) == (s_theirs.app_slug, s_theirs.slug)
            record = await h.create(mine, s_mine, body(name="Mine"))

            assert (await h.page(theirs, s_theirs)).total == 0
            with pytest.raises(RecordNotFound):
                await h.get(theirs, s_theirs, record["id"])
            with pytest.raises(RecordNotFound):
                await h.update(theirs, s_theirs, record["id"], body(name="Stolen"))
            with pytest.raises(RecordNotFound):
                await h.delete(theirs, s_theirs, record["id"])
            assert await h.get(mine, s_mine, record["id"]) == record
            # An app slug only one tenant has is unknown to the other.
            only_mine = h.schemas.put(mine, contacts_schema(app_slug="private"))
            with pytest.raises(NotFound):
                await h.page(theirs, only_mine)

    asyncio.run(scenario())


def test_a_field_created_a_moment_ago_is_accepted(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            v1 = h.schemas.put(tenant, contacts_schema())
            old = await h.create(tenant, v1, body(name="Old"))
            # The schema service has a new field; this replica's cached copy does not yet.
            v2 = h.schemas.publish(tenant, with_fields(v1, field("phone")))
            record = await h.create(tenant, v2, body(name="New", phone="+44 20 7946 0000"))
            assert record["phone"] == "+44 20 7946 0000"
            assert h.schemas.fresh_calls == 1
            assert (await h.get(tenant, v2, old["id"]))["phone"] is None
            updated = await h.update(tenant, v2, old["id"], body(phone="123"))
            assert updated["phone"] == "123"

            # A field nobody created is rejected after one fresh look.
            with pytest.raises(ValidationFailed) as error:
                await h.create(tenant, v2, body(name="X", fax="1"))
            assert (error.value.message, error.value.field) == ("Unknown field 'fax'", "fax")
            assert h.schemas.fresh_calls == 2

    asyncio.run(scenario())
