"""Imports on real PostgreSQL: rows land through COPY with their events, bad rows are
reported by line, all-or-nothing lands nothing on a bad row, unique fields refuse
duplicates, jobs belong to their tenant and schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import pytest

from services.kit.db import transaction
from services.kit.errors import ValidationFailed
from services.kit.ids import new_id
from services.kit.json import dumps_exact, loads_exact
from services.records.errors import ImportNotFound
from services.records.imports import ALL_OR_NOTHING, BEST_EFFORT, CSV, NDJSON, Importer, ImportJob
from services.records.schemas import SchemaDef
from tests.factories.records import contacts_schema, context, field, schema
from tests.integration.records.conftest import Harness, harness


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def run_import(
    h: Harness,
    tenant: str,
    s: SchemaDef,
    data: bytes,
    *,
    format: str = CSV,
    mode: str = BEST_EFFORT,
    chunk: int = 65536,
    batch_size: int = 1000,
) -> ImportJob:
    importer = Importer(h.sessionmaker, h.service, batch_size=batch_size)
    return await importer.run(
        context(tenant), s.app_slug, s.slug, format=format, mode=mode, data=chunks(data, chunk)
    )


async def created_events(h: Harness, tenant: str) -> list[dict[str, Any]]:
    rows = await h.rows(
        "SELECT payload FROM outbox WHERE subject = :subject ORDER BY seq",
        subject=f"records.{tenant}.record.created",
    )
    return [orjson.loads(payload) for (payload,) in rows]


async def all_records(h: Harness, tenant: str, s: SchemaDef) -> list[dict[str, Any]]:
    page = await h.page(tenant, s, per_page=100, sort=[])
    return page.records


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


CONTACTS_CSV = lines(
    "name,bio,age,active,birthday,seen_at,email,website,status,tags",
    'Ada,"Wrote the first program,\nin 1843",36,true,1815-12-10,1852-11-27T12:30:00+01:00,'
    'ada@example.com,https://example.com/ada,lead,"[""a"",""b""]"',
    "Bob,,not a number,,,,,,,",
    'Carol,,,yes,,,,,customer,"b, c"',
    ",,,,,,,,,",
    "Dave,,1.25,0,2020-02-30,,,,,",
    "Eve,,,,,,not-an-email,,,",
    "Frank,,12345678901234567890.5,,,,,,,",
    "Grace,,,,,,,,,,",
    'Heidi,"unclosed,"quote,,,,,,,,',
    "",
    "Ivan,,,,,,,,prospect,",
)


def test_csv_rows_land_with_their_events_and_bad_rows_are_reported(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            job = await run_import(h, tenant, s, CONTACTS_CSV)

            assert job.state == "done"
            assert job.rows_done == 3
            assert job.rows_rejected == 7
            assert [(e["line"], e.get("field")) for e in job.errors] == [
                (4, "age"),
                (6, "name"),
                (7, "birthday"),
                (8, "email"),
                (10, None),
                (11, None),
                (13, "status"),
            ]
            assert "11 values; the header names 10" in job.errors[4]["message"]
            assert "Malformed CSV" in job.errors[5]["message"]
            assert job.finished_at is not None

            stored = {r["name"]: r for r in await all_records(h, tenant, s)}
            assert set(stored) == {"Ada", "Carol", "Frank"}
            ada = stored["Ada"]
            assert ada["bio"] == "Wrote the first program,\nin 1843"
            assert ada["age"] == 36
            assert ada["active"] is True
            assert ada["seen_at"] == "1852-11-27T11:30:00Z"
            assert ada["tags"] == ["a", "b"]
            assert stored["Carol"]["active"] is True
            assert stored["Carol"]["tags"] == ["b", "c"]
            assert stored["Carol"]["age"] is None
            assert orjson.dumps(stored["Frank"]["age"]) == b"12345678901234567890.5"

            # Each event carries exactly what a read returns.
            events = await created_events(h, tenant)
            assert len(events) == 3
            for event in events:
                record = event["data"]["record"]
                assert record == orjson.loads(orjson.dumps(await h.get(tenant, s, record["id"])))
            assert (await h.page(tenant, s)).total == 3

    asyncio.run(scenario())


def test_rows_split_anywhere_read_the_same(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            whole = await run_import(h, tenant, s, CONTACTS_CSV)
            for size in (1, 2, 7):
                again = await run_import(h, tenant, s, CONTACTS_CSV, chunk=size)
                assert (again.rows_done, again.rows_rejected, again.errors) == (
                    whole.rows_done,
                    whole.rows_rejected,
                    whole.errors,
                )

    asyncio.run(scenario())


def test_batches_commit_as_they_go(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, schema(field("name", required=True), field("n", "integer")))
            rows = [f"r{i},{i}" for i in range(25)]
            rows[9] = "r9,nine"
            job = await run_import(h, tenant, s, lines("name,n", *rows), batch_size=4)
            assert (job.state, job.rows_done, job.rows_rejected) == ("done", 24, 1)
            assert job.errors == [{"line": 11, "field": "n", "message": job.errors[0]["message"]}]
            assert await h.count_records(s) == 24
            assert len(await created_events(h, tenant)) == 24
            numbers = sorted(r["n"] for r in (await h.page(tenant, s, per_page=100)).records)
            assert numbers == [i for i in range(25) if i != 9]

    asyncio.run(scenario())


def test_all_or_nothing_lands_nothing_on_a_bad_row(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, schema(field("name", required=True), field("n", "integer")))
            rows = [f"r{i},{i}" for i in range(30)]
            rows[20] = "r20,x"
            rows[27] = ",27"
            job = await run_import(
                h, tenant, s, lines("name,n", *rows), mode=ALL_OR_NOTHING, batch_size=5, chunk=16
            )
            assert (job.state, job.rows_done, job.rows_rejected) == ("failed", 0, 2)
            # Every bad row is reported, also those after the first.
            assert [e["line"] for e in job.errors] == [22, 29]
            assert await h.count_records(s) == 0
            assert await created_events(h, tenant) == []

            good = await run_import(
                h, tenant, s, lines("name,n", "a,1", "b,2"), mode=ALL_OR_NOTHING
            )
            assert (good.state, good.rows_done, good.rows_rejected) == ("done", 2, 0)
            assert await h.count_records(s) == 2

    asyncio.run(scenario())


def test_unique_fields_refuse_duplicates_by_line(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(
                tenant, schema(field("name"), replace(field("email", "email"), unique=True))
            )
            await h.create(tenant, s, b'{"name": "First", "email": "taken@example.com"}')
            data = lines(
                "name,email",
                "A,a@example.com",
                "B,taken@example.com",
                "C,c@example.com",
                "D,a@example.com",
            )
            job = await run_import(h, tenant, s, data)
            assert (job.rows_done, job.rows_rejected) == (2, 2)
            assert [(e["line"], e["field"]) for e in job.errors] == [(3, "email"), (5, "email")]
            assert await h.count_records(s) == 3
            assert len(await created_events(h, tenant)) == 3  # the create and two imports

            strict = await run_import(
                h,
                tenant,
                s,
                lines("name,email", "X,x@example.com", "Y,c@example.com"),
                mode=ALL_OR_NOTHING,
            )
            assert (strict.state, strict.rows_done, strict.rows_rejected) == ("failed", 0, 1)
            assert await h.count_records(s) == 3

    asyncio.run(scenario())


def test_autonumbers_defaults_and_actor_are_filled_in(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(
                tenant,
                schema(
                    field("name"),
                    field("no", "autonumber"),
                    replace(
                        field("status", "select", options=["new", "old"]), default_json='"new"'
                    ),
                    field("who", "created_by"),
                ),
            )
            await h.create(tenant, s, b'{"name": "before"}')
            job = await run_import(h, tenant, s, lines("name", "a", "b"))
            assert job.rows_done == 2
            records = sorted(await all_records(h, tenant, s), key=lambda r: r["no"])
            assert [r["no"] for r in records] == [1, 2, 3]
            assert records[0]["name"] == "before"
            assert all(r["status"] == "new" for r in records)
            assert all(r["who"] for r in records)
            events = await created_events(h, tenant)
            assert {e["data"]["record"]["no"] for e in events} == {1, 2, 3}

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("header", "fields"),
    [
        ("name,nope,other", ["nope", "other"]),
        ("name,id", ["id"]),
        ("name,created_at", ["created_at"]),
        ("name,no", ["no"]),
        ("name,name", ["name"]),
        ("bio", ["name"]),
        ("", []),
    ],
)
def test_a_header_that_does_not_fit_is_refused_before_anything_lands(
    records_db: str, header: str, fields: list[str]
) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(
                tenant,
                schema(field("name", required=True), field("bio"), field("no", "autonumber")),
            )
            data = lines(header, "x,y,z") if header else b""
            with pytest.raises(ValidationFailed) as error:
                await run_import(h, tenant, s, data)
            assert [d["field"] for d in error.value.details] == fields
            if fields:
                assert error.value.field == fields[0]
                for name in fields:
                    assert repr(name) in error.value.message
            assert await h.count_records(s) == 0
            assert (
                await h.scalar("SELECT count(*) FROM imports WHERE tenant_id = :t", t=tenant) == 0
            )

    asyncio.run(scenario())


def test_ndjson_goes_through_the_same_validation_as_a_create(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            data = b"\n".join(
                [
                    orjson.dumps({"name": "Ada", "age": 36.5, "tags": ["a"], "id": "ignored"}),
                    b"[1, 2]",
                    b'{"name": "Bob", "age": "x"}',
                    b"",
                    b"{not json",
                    b'{"name": "Nul\x00"}',
                    b'{"name": "Carol", "nope": 1}',
                    b"   ",
                    b'{"name": "Dave", "age": 123456789012345678901234567890}',
                ]
            )
            job = await run_import(h, tenant, s, data, format=NDJSON, chunk=5)
            assert (job.state, job.rows_done, job.rows_rejected) == ("done", 2, 5)
            assert [(e["line"], e.get("field")) for e in job.errors] == [
                (2, None),
                (3, "age"),
                (5, None),
                (6, None),
                (7, "nope"),
            ]
            assert "NUL" in job.errors[3]["message"]
            stored = {r["name"]: r for r in await all_records(h, tenant, s)}
            assert stored["Ada"]["age"] == 36.5
            assert stored["Ada"]["id"] != "ignored"
            assert orjson.dumps(stored["Dave"]["age"]) == b"123456789012345678901234567890"

    asyncio.run(scenario())


def test_lines_past_the_limit_are_rejected_without_being_kept(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, schema(field("name"), field("bio", "long_text")))
            huge = "x" * (1024 * 1024 + 10)
            csv_data = lines("name,bio", "a,1", f"b,{huge}", f'c,"{huge}\n{huge}"', "d,4")
            job = await run_import(h, tenant, s, csv_data, chunk=70_000)
            assert (job.rows_done, job.rows_rejected) == (2, 2)
            assert [e["line"] for e in job.errors] == [3, 4]
            ndjson = b"\n".join([b'{"name": "e"}', orjson.dumps({"bio": huge}), b'{"name": "f"}'])
            job = await run_import(h, tenant, s, ndjson, format=NDJSON, chunk=70_000)
            assert (job.rows_done, job.rows_rejected) == (2, 1)
            assert job.errors[0]["line"] == 2
            assert "1 MiB" in job.errors[0]["message"]

    asyncio.run(scenario())


def test_jobs_belong_to_their_tenant_and_schema(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant, other = new_id("ws"), new_id("ws")
            s = h.schemas.put(tenant, contacts_schema())
            second = h.schemas.put(tenant, contacts_schema(slug="leads", app_id=s.app_id))
            h.schemas.put(other, contacts_schema())
            job = await run_import(h, tenant, s, lines("name", "a"))

            async def get(who: str, target: SchemaDef, import_id: str) -> Any:
                async with transaction(h.sessionmaker, tenant=who) as session:
                    return await h.service.get_import(
                        session, context(who), target.app_slug, target.slug, import_id
                    )

            assert ImportJob.from_row(await get(tenant, s, job.id)) == job
            for who, target, import_id in (
                (other, s, job.id),
                (tenant, second, job.id),
                (tenant, s, new_id("imp")),
                (tenant, s, "bad\x00id"),
            ):
                with pytest.raises(ImportNotFound):
                    await get(who, target, import_id)

    asyncio.run(scenario())


def test_an_upload_that_stops_leaves_a_failed_job_with_what_landed(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(tenant, schema(field("n", "integer")))
            silent = asyncio.Event()

            async def data() -> AsyncIterator[bytes]:
                yield b"n\n" + b"".join(b"%d\n" % i for i in range(10))
                silent.set()
                # The client goes quiet; the call is then cancelled (it hung up).
                await asyncio.Event().wait()

            importer = Importer(h.sessionmaker, h.service, batch_size=4)
            task = asyncio.create_task(
                importer.run(
                    context(tenant), s.app_slug, s.slug, format=CSV, mode=BEST_EFFORT, data=data()
                )
            )
            await asyncio.wait_for(silent.wait(), 10)
            job = "SELECT state, rows_done, errors FROM imports WHERE tenant_id = :t"
            for _ in range(200):
                rows = await h.rows(job, t=tenant)
                if rows and rows[0].rows_done == 8:
                    break
                await asyncio.sleep(0.05)
            assert rows[0].state == "running"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            (state, done, errors), *_ = await h.rows(job, t=tenant)
            assert (state, done) == ("failed", 8)
            assert errors[-1]["message"] == "The upload stopped before the file ended"
            assert await h.count_records(s) == 8
            assert len(await created_events(h, tenant)) == 8

    asyncio.run(scenario())


def test_json_and_list_values_land_as_a_create_would_store_them(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            s = h.schemas.put(
                tenant,
                schema(
                    field("name"),
                    field("meta", "json"),
                    field("tags", "multi_select", options=["a", "b"]),
                ),
            )
            rows: tuple[dict[str, Any], ...] = (
                {"name": "obj", "meta": {"a": [1, 2.5, None]}, "tags": ["b"]},
                {"name": "str", "meta": "text"},
                {"name": "null", "meta": None, "tags": []},
            )
            ndjson = b"\n".join(orjson.dumps(values) for values in rows)
            await run_import(h, tenant, s, ndjson, format=NDJSON)
            await run_import(h, tenant, s, lines("name,meta,tags", 'csv,"[1, {""b"": 2}]",a'))
            created = await h.create(tenant, s, b'{"name": "api", "meta": {"a": [1, 2.5, null]}}')
            stored = {r["name"]: r for r in await all_records(h, tenant, s)}
            assert stored["obj"]["meta"] == created["meta"] == {"a": [1, 2.5, None]}
            assert stored["obj"]["tags"] == ["b"]
            assert stored["str"]["meta"] == "text"
            assert stored["null"]["meta"] is None
            assert stored["null"]["tags"] == []
            assert stored["csv"]["meta"] == [1, {"b": 2}]
            assert stored["csv"]["tags"] == ["a"]
            for event in await created_events(h, tenant):
                record = event["data"]["record"]
                assert record == loads_exact(dumps_exact(stored[record["name"]]))

    asyncio.run(scenario())


def test_a_required_cell_that_reads_as_null_is_refused(records_db: str) -> None:
    async def scenario() -> None:
        async with harness(records_db) as h:
            tenant = new_id("ws")
            required = replace(field("meta", "json"), required=True)
            s = h.schemas.put(tenant, schema(field("name"), required))
            job = await run_import(h, tenant, s, lines("name,meta", "a,null", "b,", "c,1"))
            assert (job.rows_done, job.rows_rejected) == (1, 2)
            assert [(e["line"], e["field"]) for e in job.errors] == [(2, "meta"), (3, "meta")]

    asyncio.run(scenario())
