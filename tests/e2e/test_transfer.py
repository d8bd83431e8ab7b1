"""Streaming import and export through the gateway: CSV and NDJSON in, with bad rows
reported by line; everything a filter and sort select out, in both formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.bus import BusReader, stream_messages
from tests.support.db import count_rows, scalar

CSV_TYPE = {"Content-Type": "text/csv"}
NDJSON_TYPE = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant, name="Transfers")
    create_schema(tenant, app["slug"])
    return str(app["slug"])


def stored_rows(stack: Stack, tenant: Tenant, app_slug: str) -> int:
    url = database_url(stack, "schema")
    app_id = scalar(
        url, "SELECT id FROM apps WHERE tenant_id = %s AND slug = %s", tenant.workspace_id, app_slug
    )
    schema_id = scalar(
        url, "SELECT id FROM schemas WHERE app_id = %s AND slug = 'contacts'", app_id
    )
    return count_rows(database_url(stack, "records"), str(app_id), str(schema_id))


def import_path(app_slug: str) -> str:
    return f"{records_path(app_slug)}/import"


def export_path(app_slug: str) -> str:
    return f"{records_path(app_slug)}/export"


def jobs_path(app_slug: str, import_id: str) -> str:
    return f"/api/apps/{app_slug}/schemas/contacts/imports/{import_id}"


def listed(tenant: Tenant, app_slug: str, **params: str) -> list[dict[str, Any]]:
    """Every record of the list, page after page by cursor."""
    records: list[dict[str, Any]] = []
    query: dict[str, str] = {**params, "per_page": "100", "count": "false"}
    while True:
        response = tenant.get(records_path(app_slug), params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["records"]
        if not body["next_cursor"]:
            return records
        query = {**params, "per_page": "100", "count": "false", "cursor": body["next_cursor"]}


CONTACTS_CSV = (
    "name,email,score,active,born,tags,status\n"
    'Ada,ada@example.com,36,true,1815-12-10,"[""red""]",lead\n'
    "Bob,not-an-email,1,,,,\n"
    'Carol,carol@example.com,2.5,no,,"red, blue",customer\n'
    ",,,,,,\n"
    'Dave,"multi\nline",,,,,\n'
    "Eve,eve@example.com,,,1990-02-30,,\n"
    'Frank,"broken"quote,,,,,\n'
    "Grace,grace@example.com,,,,,prospect\n"
    "Heidi,heidi@example.com,7,false,,,\n"
)


def test_csv_import_lands_valid_rows_reports_bad_ones_and_publishes_events(
    stack: Stack, bus: BusReader, tenant: Tenant, crm: str
) -> None:
    response = tenant.post(import_path(crm), content=CONTACTS_CSV.encode(), headers=CSV_TYPE)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["id"].startswith("imp_")
    assert (job["state"], job["mode"], job["format"]) == ("done", "best_effort", "csv")
    assert (job["rows_done"], job["rows_rejected"]) == (3, 6)
    assert [(e["line"], e.get("field")) for e in job["errors"]] == [
        (3, "email"),
        (5, "name"),
        (6, "email"),
        (8, "born"),
        (9, None),
        (10, "status"),
    ]
    assert all(e["message"] for e in job["errors"])
    assert tenant.get(jobs_path(crm, job["id"])).json() == job

    records = {r["name"]: r for r in listed(tenant, crm)}
    assert set(records) == {"Ada", "Carol", "Heidi"}
    assert records["Ada"]["tags"] == ["red"]
    assert records["Ada"]["born"] == "1815-12-10"
    assert records["Carol"]["score"] == 2.5
    assert records["Carol"]["active"] is False
    assert records["Carol"]["tags"] == ["red", "blue"]
    assert records["Heidi"]["email"] == "heidi@example.com"
    assert stored_rows(stack, tenant, crm) == 3

    events = stream_messages(
        bus,
        "RECORDS",
        f"records.{tenant.workspace_id}.record.created",
        at_least=3,
    )
    assert sorted(e.body["data"]["record"]["name"] for e in events) == ["Ada", "Carol", "Heidi"]
    for event in events:
        record = event.body["data"]["record"]
        assert record == records[record["name"]]
        assert event.msg_id == event.body["id"]


def test_ndjson_import_streams_a_body_of_any_size(stack: Stack, tenant: Tenant, crm: str) -> None:
    notes = "n" * 500

    def body() -> Iterator[bytes]:
        # Sent chunked, without a Content-Length, and far past the 1 MiB body limit.
        for i in range(3000):
            if i == 10:
                yield b"[1, 2, 3]\n"
            elif i == 20:
                yield b'{"name": "Bad score", "score": "high"}\n'
            elif i == 30:
                yield b"{not json\n"
            else:
                yield orjson.dumps({"name": f"p{i}", "score": i, "notes": notes}) + b"\n"

    response = tenant.post(import_path(crm), content=body(), headers=NDJSON_TYPE)
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["state"], job["format"], job["rows_done"], job["rows_rejected"]) == (
        "done",
        "ndjson",
        2997,
        3,
    )
    assert [(e["line"], e.get("field")) for e in job["errors"]] == [
        (11, None),
        (21, "score"),
        (31, None),
    ]
    assert "JSON object" in job["errors"][0]["message"]
    assert stored_rows(stack, tenant, crm) == 2997
    assert tenant.get(records_path(crm)).json()["total"] == 2997


def test_all_or_nothing_stores_nothing_when_a_row_is_bad(
    stack: Stack, tenant: Tenant, crm: str
) -> None:
    rows = "".join(f"person {i},{i}\n" for i in range(2500))
    body = f"name,score\n{rows}bad,score\n".encode()
    response = tenant.post(
        import_path(crm), params={"mode": "all_or_nothing"}, content=body, headers=CSV_TYPE
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["state"], job["mode"], job["rows_done"], job["rows_rejected"]) == (
        "failed",
        "all_or_nothing",
        0,
        1,
    )
    assert job["errors"][0]["line"] == 2502
    assert job["errors"][0]["field"] == "score"
    assert stored_rows(stack, tenant, crm) == 0
    assert tenant.get(jobs_path(crm, job["id"])).json()["state"] == "failed"

    fine = tenant.post(
        import_path(crm),
        params={"mode": "all_or_nothing"},
        content=f"name,score\n{rows}".encode(),
        headers=CSV_TYPE,
    )
    assert fine.json()["state"] == "done"
    assert stored_rows(stack, tenant, crm) == 2500


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("name,nickname,shoe_size", ["nickname", "shoe_size"]),
        ("name,id", ["id"]),
        ("name,created_at", ["created_at"]),
        ("email", ["name"]),
    ],
)
def test_a_header_that_does_not_fit_is_400_and_writes_nothing(
    stack: Stack, tenant: Tenant, crm: str, header: str, named: list[str]
) -> None:
    body = f"{header}\n" + "".join("a,b,c\n" for _ in range(100_000))
    response = tenant.post(import_path(crm), content=body.encode(), headers=CSV_TYPE)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == named[0]
    assert [d["field"] for d in error["details"]] == named
    for name in named:
        assert repr(name) in error["message"]
    assert stored_rows(stack, tenant, crm) == 0
    # The connection is still good for the next request.
    assert tenant.get(records_path(crm)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "text/csv; charset=latin-1"},
        {"Content-Type": "text/csv", "Content-Encoding": "gzip"},
        {},
    ],
)
def test_anything_but_csv_or_ndjson_is_415(
    tenant: Tenant, crm: str, headers: dict[str, str]
) -> None:
    response = tenant.post(import_path(crm), content=b'{"name": "x"}\n', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert tenant.get(records_path(crm)).json()["total"] == 0


def test_bad_import_parameters_and_unknown_schemas(tenant: Tenant, crm: str) -> None:
    for params in ({"mode": "sometimes"}, {"batch": "5"}):
        response = tenant.post(
            import_path(crm), params=params, content=b"name\nx\n", headers=CSV_TYPE
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
    missing = tenant.post(
        f"/api/apps/{crm}/schemas/nope/records/import", content=b"name\nx\n", headers=CSV_TYPE
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_another_workspace_cannot_see_an_import(
    tenant: Tenant, other_tenant: Tenant, crm: str
) -> None:
    job = tenant.post(import_path(crm), content=b"name\nMine\n", headers=CSV_TYPE).json()
    create_schema(other_tenant, create_app(other_tenant, name="Transfers", slug=crm)["slug"])
    for who, import_id in (
        (other_tenant, job["id"]),
        (tenant, "imp_aaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ):
        response = who.get(jobs_path(crm, import_id))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert tenant.get(jobs_path(crm, job["id"])).json()["rows_done"] == 1


# --- export ---------------------------------------------------------------------------


def seed(tenant: Tenant, app_slug: str, count: int) -> None:
    lines = [
        orjson.dumps(
            {
                "name": f"person {i:04d}",
                "score": i % 97 if i % 11 else None,
                "status": "lead" if i % 2 else "customer",
                "tags": ["red", "blue"] if i % 3 == 0 else [],
                "notes": f'line one\nline "two", {i}' if i % 5 == 0 else None,
                "active": i % 4 == 0,
            }
        )
        for i in range(count)
    ]
    response = tenant.post(import_path(app_slug), content=b"\n".join(lines), headers=NDJSON_TYPE)
    assert response.json()["rows_done"] == count


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def test_export_streams_what_the_list_selects_in_both_formats(tenant: Tenant, crm: str) -> None:
    seed(tenant, crm, 3000)
    query = {"filter[status]": "lead", "filter[score][gte]": "10", "sort": "-score,name"}
    expected = listed(tenant, crm, **query)
    # More than one internal batch of the export.
    assert len(expected) > 1000

    ndjson = tenant.get(export_path(crm), params=query)
    assert ndjson.status_code == 200, ndjson.text
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert ndjson.headers["content-disposition"] == 'attachment; filename="contacts.ndjson"'
    exported = [orjson.loads(line) for line in ndjson.content.splitlines()]
    assert exported == expected

    as_csv = tenant.get(export_path(crm), params={**query, "format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == 'attachment; filename="contacts.csv"'
    rows = list(csv.reader(io.StringIO(as_csv.text, newline="")))
    keys = list(expected[0])
    assert rows[0] == keys
    assert len(rows) == len(expected) + 1
    for row, record in zip(rows[1:], expected, strict=True):
        assert row == [cell(record[key]) for key in keys]


def test_export_of_everything_and_of_nothing(tenant: Tenant, crm: str) -> None:
    seed(tenant, crm, 2500)
    everything = tenant.get(export_path(crm))
    records = [orjson.loads(line) for line in everything.content.splitlines()]
    assert len(records) == 2500
    assert len({r["id"] for r in records}) == 2500
    assert records == listed(tenant, crm)

    nothing = tenant.get(export_path(crm), params={"filter[name]": "nobody", "format": "csv"})
    assert nothing.status_code == 200
    assert nothing.text.splitlines() == [",".join(records[0])]

    only = tenant.get(export_path(crm), params={"fields": "name,score", "sort": "name"})
    first = orjson.loads(only.content.splitlines()[0])
    assert first == {"id": first["id"], "name": "person 0000", "score": None}


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"page": "2"}, 400, "page"),
        ({"per_page": "10"}, 400, "per_page"),
        ({"cursor": "abc"}, 400, "cursor"),
        ({"count": "false"}, 400, "count"),
        ({"format": "xml"}, 400, "format"),
        ({"filter[nope]": "x"}, 400, "filter[nope]"),
        ({"sort": "nope"}, 400, "sort"),
    ],
)
def test_bad_export_parameters_are_400(
    tenant: Tenant, crm: str, params: dict[str, str], status: int, field: str
) -> None:
    response = tenant.get(export_path(crm), params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_export_of_an_unknown_schema_is_404(tenant: Tenant, crm: str) -> None:
    response = tenant.get(f"/api/apps/{crm}/schemas/nope/records/export")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- links and search -------------------------------------------------------------------


@pytest.fixture
def linked(tenant: Tenant) -> str:
    app = str(create_app(tenant)["slug"])
    create_schema(
        tenant,
        app,
        name="Companies",
        slug="companies",
        fields=[{"slug": "name", "type": "text", "primary": True}],
    )
    create_schema(
        tenant,
        app,
        name="People",
        slug="people",
        fields=[
            {"slug": "name", "type": "text"},
            {"slug": "bio", "type": "long_text"},
            {"slug": "employers", "type": "link", "target": "companies"},
        ],
    )
    return app


def test_link_fields_are_not_imported(stack: Stack, tenant: Tenant, linked: str) -> None:
    people = records_path(linked, "people")
    refused = tenant.post(
        f"{people}/import", content=b"name,employers\nAda,rec_x\n", headers=CSV_TYPE
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == "employers"
    assert "link" in refused.json()["error"]["message"]
    body = b'{"name": "Ada", "employers": ["rec_x"]}\n{"name": "Bob", "employers": []}\n'
    job = tenant.post(f"{people}/import", content=body, headers=NDJSON_TYPE).json()
    assert (job["rows_done"], job["rows_rejected"]) == (1, 1)
    assert job["errors"] == [
        {"line": 1, "field": "employers", "message": job["errors"][0]["message"]}
    ]
    listed_people = tenant.get(people).json()["records"]
    assert [(p["name"], p["employers"]) for p in listed_people] == [("Bob", [])]


def test_an_export_shows_links_and_searches_like_the_list(tenant: Tenant, linked: str) -> None:
    companies, people = records_path(linked, "companies"), records_path(linked, "people")
    acme = tenant.post(companies, json={"name": "Acme"}).json()["id"]
    globex = tenant.post(companies, json={"name": "Globex"}).json()["id"]
    for i in range(30):
        employers = [acme, globex] if i % 3 == 0 else [globex] if i % 3 == 1 else []
        bio = "writes compilers" if i % 2 else "plays chess"
        response = tenant.post(
            people, json={"name": f"p{i:02d}", "bio": bio, "employers": employers}
        )
        assert response.status_code == 201, response.text
    for params in (
        {"sort": "-name"},
        {"search": "compil"},
        {"filter[employers][has_any]": acme, "expand": "employers", "sort": "name"},
    ):
        expected = tenant.get(people, params={**params, "per_page": "100"}).json()["records"]
        exported = tenant.get(f"{people}/export", params=params)
        assert exported.status_code == 200, exported.text
        assert [orjson.loads(line) for line in exported.content.splitlines()] == expected
    assert len(expected) == 10
    assert expected[0]["employers"][0]["name"] == "Acme"
