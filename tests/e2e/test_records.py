"""Records: CRUD, partial updates, listing, validation and tenancy through the gateway."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.db import scalar
from tests.support.records import physical_names, stored_rows
from tests.support.wait import eventually

RECORD_ID = re.compile(r"^rec_[a-z2-7]{26}$")


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant, name="My CRM")
    create_schema(tenant, app["slug"])
    return str(app["slug"])


def test_create_get_update_delete(tenant: Tenant, crm: str) -> None:
    path = records_path(crm)
    created = tenant.post(
        path,
        json={
            "name": "John Doe",
            "email": "john@example.com",
            "status": "lead",
            "score": 41.5,
            "active": True,
            "born": "1990-02-03",
            "seen_at": "2025-01-15T10:30:00Z",
            "site": "https://example.com/john",
            "tags": ["red", "blue"],
        },
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert RECORD_ID.match(record["id"])
    assert record["name"] == "John Doe"
    assert record["score"] == 41.5
    assert record["tags"] == ["red", "blue"]
    assert record["seen_at"].startswith("2025-01-15T10:30:00")
    assert record["notes"] is None
    assert record["created_at"]
    assert record["updated_at"]

    fetched = tenant.get(f"{path}/{record['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == record

    put = tenant.put(f"{path}/{record['id']}", json={"status": "customer"})
    assert put.status_code == 200
    assert put.json()["status"] == "customer"
    assert put.json()["name"] == "John Doe"
    assert put.json()["email"] == "john@example.com"

    patched = tenant.patch(f"{path}/{record['id']}", json={"score": 7})
    assert patched.status_code == 200
    assert patched.json()["score"] == 7
    assert patched.json()["status"] == "customer"
    assert patched.json()["updated_at"] >= record["updated_at"]

    deleted = tenant.delete(f"{path}/{record['id']}")
    assert deleted.status_code == 204
    gone = tenant.get(f"{path}/{record['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert tenant.delete(f"{path}/{record['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "site": "ftp//nope"}, "site"),
        ({"name": "A", "born": "31/12/2020"}, "born"),
        ({"name": "A", "born": "2020-02-30"}, "born"),
        ({"name": "A", "seen_at": "yesterday"}, "seen_at"),
        ({"name": "A", "score": "12"}, "score"),
        ({"name": "A", "score": True}, "score"),
        ({"name": "A", "active": "yes"}, "active"),
        ({"name": "A", "status": "prospect"}, "status"),
        ({"name": "A", "tags": ["red", "purple"]}, "tags"),
        ({"name": "A", "tags": "red"}, "tags"),
        ({"email": "a@example.com"}, "name"),
        ({"name": None}, "name"),
        ({"name": "A", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_records_are_400_and_write_nothing(
    stack: Stack, tenant: Tenant, crm: str, body: dict[str, Any], field: str
) -> None:
    response = tenant.post(records_path(crm), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["message"]
    assert stored_rows(stack, tenant, crm) == 0


def test_invalid_update_changes_nothing(stack: Stack, tenant: Tenant, crm: str) -> None:
    path = records_path(crm)
    record = tenant.post(path, json={"name": "Keep", "status": "lead"}).json()
    for body in ({"status": "nope"}, {"name": None}, {"bogus": 1}):
        response = tenant.patch(f"{path}/{record['id']}", json=body)
        assert response.status_code == 400
    assert tenant.get(f"{path}/{record['id']}").json() == record


def test_non_object_and_non_json_bodies(tenant: Tenant, crm: str) -> None:
    path = records_path(crm)
    assert tenant.post(path, json=[1, 2]).status_code == 400
    assert (
        tenant.post(
            path, content=b"name=x", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    huge = tenant.post(path, content=b'{"notes":"' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413


def test_list_pages_sorts_and_filters(tenant: Tenant, crm: str) -> None:
    path = records_path(crm)
    people = [
        ("Carol", 3, "lead"),
        ("alice", 1, "customer"),
        ("Bob", 2, "lead"),
        ("Dave", 2, "customer"),
    ]
    for name, score, status in people:
        assert (
            tenant.post(path, json={"name": name, "score": score, "status": status}).status_code
            == 201
        )

    everything = tenant.get(path).json()
    assert everything["page"] == 1
    assert everything["per_page"] == 50
    assert everything["total"] == 4
    assert len(everything["records"]) == 4

    by_score = tenant.get(path, params={"sort": "-score,name"}).json()["records"]
    assert [r["name"] for r in by_score] == ["Carol", "Bob", "Dave", "alice"]

    page_two = tenant.get(path, params={"sort": "score,name", "per_page": 2, "page": 2}).json()
    assert [r["name"] for r in page_two["records"]] == ["Dave", "Carol"]
    assert page_two["total"] == 4
    assert page_two["page"] == 2
    assert page_two["per_page"] == 2

    past_the_end = tenant.get(path, params={"page": 9}).json()
    assert past_the_end["records"] == []
    assert past_the_end["total"] == 4

    leads = tenant.get(path, params={"filter[status]": "lead", "sort": "name"}).json()
    assert [r["name"] for r in leads["records"]] == ["Bob", "Carol"]
    assert leads["total"] == 2

    both = tenant.get(path, params={"filter[status]": "customer", "filter[score]": "2"}).json()
    assert [r["name"] for r in both["records"]] == ["Dave"]


def test_sort_ties_are_broken_by_id(tenant: Tenant, crm: str) -> None:
    path = records_path(crm)
    ids = [tenant.post(path, json={"name": "Same", "score": 1}).json()["id"] for _ in range(5)]
    listed = tenant.get(path, params={"sort": "name"}).json()["records"]
    assert [r["id"] for r in listed] == sorted(ids)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"sort": "nope"}, "sort"),
        ({"sort": "name,,score"}, "sort"),
        ({"filter[nope]": "x"}, "filter[nope]"),
        ({"filter[score]": "abc"}, "filter[score]"),
    ],
)
def test_bad_list_parameters_are_400(
    tenant: Tenant, crm: str, params: dict[str, str], field: str
) -> None:
    response = tenant.get(records_path(crm), params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["field"] == field


def test_unknown_app_schema_or_record_is_404(tenant: Tenant, crm: str) -> None:
    assert tenant.get(records_path("nope")).status_code == 404
    assert tenant.get(records_path(crm, "nope")).status_code == 404
    assert tenant.get(f"{records_path(crm)}/rec_aaaaaaaaaaaaaaaaaaaaaaaaaa").status_code == 404
    assert tenant.get(f"{records_path(crm)}/not-even-an-id").status_code == 404
    assert tenant.post(records_path(crm, "nope"), json={"name": "x"}).status_code == 404


def test_other_workspace_cannot_see_or_touch_records(
    stack: Stack, tenant: Tenant, other_tenant: Tenant, crm: str
) -> None:
    path = records_path(crm)
    record = tenant.post(path, json={"name": "Private"}).json()
    # Same app and schema slugs in the other workspace hold other data.
    create_schema(other_tenant, create_app(other_tenant, name="My CRM", slug=crm)["slug"])
    theirs = other_tenant.get(path).json()
    assert theirs["records"] == []
    assert theirs["total"] == 0
    for method in ("get", "put", "patch", "delete"):
        kwargs = {"json": {"name": "Hijack"}} if method in ("put", "patch") else {}
        response = getattr(other_tenant, method)(f"{path}/{record['id']}", **kwargs)
        assert response.status_code == 404
    assert tenant.get(f"{path}/{record['id']}").json() == record
    assert stored_rows(stack, tenant, crm) == 1


def test_schema_creation_provisions_a_real_typed_table(
    stack: Stack, tenant: Tenant, crm: str
) -> None:
    app_id, schema_id = physical_names(stack, tenant, crm, "contacts")
    # The records service builds the table from the schema.created event, without a write.
    column_types = eventually(
        lambda: scalar(
            database_url(stack, "records"),
            "SELECT string_agg(data_type, ',' ORDER BY data_type) FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            app_id,
            schema_id,
        )
    )
    for expected in ("numeric", "boolean", "date", "timestamp with time zone", "ARRAY", "text"):
        assert expected in column_types
