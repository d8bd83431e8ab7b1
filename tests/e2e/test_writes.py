"""Writes beyond one record: unique fields, batches, upserts, Idempotency-Key, If-Match."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.records import outbox_events, stored_rows

PEOPLE_FIELDS: list[dict[str, Any]] = [
    {"slug": "name", "type": "text", "required": True},
    {"slug": "email", "type": "email", "unique": True},
    {"slug": "score", "type": "integer", "default": 0},
    {"slug": "status", "type": "select", "options": ["lead", "customer"]},
]


@pytest.fixture
def people(tenant: Tenant) -> str:
    app = create_app(tenant)
    create_schema(tenant, app["slug"], name="People", slug="people", fields=PEOPLE_FIELDS)
    return records_path(app["slug"], "people")


def app_of(path: str) -> str:
    return path.split("/")[3]


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"Person {n}", "email": f"p{n}@example.com", **extra}


def test_a_duplicate_unique_value_is_409_naming_the_field(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    first = tenant.post(people, json=person(1))
    assert first.status_code == 201, first.text
    assert first.json()["score"] == 0  # the default
    again = tenant.post(people, json={"name": "Other", "email": "p1@example.com"})
    assert again.status_code == 409, again.text
    assert again.json()["error"] == {
        "code": "conflict",
        "message": "Another record already has this 'email'",
        "field": "email",
    }
    other = tenant.post(people, json=person(2)).json()
    moved = tenant.patch(f"{people}/{other['id']}", json={"email": "p1@example.com"})
    assert moved.status_code == 409
    assert moved.json()["error"]["field"] == "email"
    assert stored_rows(stack, tenant, app_of(people), "people") == 2


def test_batch_create_is_all_or_nothing_and_names_each_bad_item(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    good = [person(n) for n in range(5)]
    created = tenant.post(f"{people}/batch", json={"records": good})
    assert created.status_code == 201, created.text
    records = created.json()["records"]
    assert [r["email"] for r in records] == [p["email"] for p in good]
    assert len({r["id"] for r in records}) == 5

    bad = [person(10), {"email": "x@example.com"}, person(12, status="nope"), person(13)]
    refused = tenant.post(f"{people}/batch", json={"records": bad})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["field"] == "records[1].name"
    assert [d["field"] for d in error["details"]] == ["records[1].name", "records[2].status"]
    assert stored_rows(stack, tenant, app_of(people), "people") == 5

    clash = tenant.post(
        f"{people}/batch", json={"records": [person(20), person(0), person(20, name="Twin")]}
    )
    assert clash.status_code == 409
    assert {d["field"] for d in clash.json()["error"]["details"]} == {
        "records[1].email",
        "records[2].email",
    }
    assert stored_rows(stack, tenant, app_of(people), "people") == 5


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {"records": [{}] * 1001},
        {"records": "x"},
        {"records": [1]},
        {"rows": []},
    ],
)
def test_malformed_batches_are_400(tenant: Tenant, people: str, body: dict[str, Any]) -> None:
    assert tenant.post(f"{people}/batch", json=body).status_code == 400


def test_a_batch_of_1000_lands_with_one_event_each(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    before = outbox_events(stack, "records.record.created")
    batch = [{"name": f"N{n}", "email": f"bulk{n}@example.com"} for n in range(1000)]
    response = tenant.post(f"{people}/batch", json={"records": batch})
    assert response.status_code == 201, response.text
    assert stored_rows(stack, tenant, app_of(people), "people") == 1000
    assert outbox_events(stack, "records.record.created") - before == 1000


def test_batch_update_and_delete(stack: Stack, tenant: Tenant, people: str) -> None:
    made = tenant.post(f"{people}/batch", json={"records": [person(n) for n in range(3)]})
    ids = [r["id"] for r in made.json()["records"]]
    changed = tenant.patch(
        f"{people}/batch",
        json={"records": [{"id": ids[0], "score": 5}, {"id": ids[2], "status": "customer"}]},
    )
    assert changed.status_code == 200, changed.text
    assert [(r["id"], r["score"], r["status"]) for r in changed.json()["records"]] == [
        (ids[0], 5, None),
        (ids[2], 0, "customer"),
    ]
    missing = tenant.patch(
        f"{people}/batch",
        json={"records": [{"id": ids[1], "score": 9}, {"id": "rec_nope", "score": 1}]},
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "records[1].id"
    assert tenant.get(f"{people}/{ids[1]}").json()["score"] == 0  # rolled back

    partly = tenant.request_delete_json(f"{people}/batch", {"ids": [ids[0], "rec_nope"]})
    assert partly.status_code == 404
    assert stored_rows(stack, tenant, app_of(people), "people") == 3
    gone = tenant.request_delete_json(f"{people}/batch", {"ids": ids[:2]})
    assert gone.status_code == 204
    assert stored_rows(stack, tenant, app_of(people), "people") == 1


def test_upsert_creates_then_updates_by_the_unique_field(tenant: Tenant, people: str) -> None:
    path = f"{people}?upsert_on=email"
    created = tenant.put(path, json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    updated = tenant.put(path, json={"email": "ada@example.com", "score": 7})
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert (updated.json()["name"], updated.json()["score"]) == ("Ada", 7)
    assert updated.json()["version"] == created.json()["version"] + 1

    not_unique = tenant.put(f"{people}?upsert_on=name", json={"name": "Ada"})
    assert not_unique.status_code == 400
    assert not_unique.json()["error"]["field"] == "upsert_on"
    assert tenant.put(people, json={"name": "Ada"}).status_code == 400

    batch = tenant.post(
        f"{people}/batch",
        json={
            "upsert_on": "email",
            "records": [
                {"email": "ada@example.com", "status": "customer"},
                {"name": "Grace", "email": "grace@example.com"},
            ],
        },
    )
    assert batch.status_code == 201, batch.text
    ada, grace = batch.json()["records"]
    assert ada["id"] == created.json()["id"]
    assert (ada["status"], ada["score"]) == ("customer", 7)
    assert grace["name"] == "Grace"


def test_concurrent_upserts_of_one_value_make_one_record(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    def upsert(n: int) -> int:
        response = tenant.put(
            f"{people}?upsert_on=email", json={"name": f"Racer {n}", "email": "race@example.com"}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upsert, range(8)))
    assert sorted(set(statuses)) in ([200, 201], [201])
    assert statuses.count(201) == 1
    assert stored_rows(stack, tenant, app_of(people), "people") == 1


def test_idempotency_key_replays_the_first_answer(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    key = {"Idempotency-Key": secrets.token_hex(16)}
    first = tenant.post(people, json=person(1), headers=key)
    assert first.status_code == 201
    retry = tenant.post(people, json=person(1), headers=key)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert stored_rows(stack, tenant, app_of(people), "people") == 1

    other_body = tenant.post(people, json=person(2), headers=key)
    assert other_body.status_code == 409
    assert other_body.json()["error"]["field"] == "Idempotency-Key"

    record_id = first.json()["id"]
    delete_key = {"Idempotency-Key": secrets.token_hex(16)}
    assert tenant.delete(f"{people}/{record_id}", headers=delete_key).status_code == 204
    assert tenant.delete(f"{people}/{record_id}", headers=delete_key).status_code == 204
    assert tenant.delete(f"{people}/{record_id}").status_code == 404

    # A failed write keeps no claim: the retry runs again.
    failing = {"Idempotency-Key": secrets.token_hex(16)}
    assert tenant.post(people, json={"email": "x@example.com"}, headers=failing).status_code == 400
    assert tenant.post(people, json={"email": "x@example.com"}, headers=failing).status_code == 400


def test_concurrent_retries_with_one_key_write_once(
    stack: Stack, tenant: Tenant, people: str
) -> None:
    key = {"Idempotency-Key": secrets.token_hex(16)}

    def create(_: int) -> str:
        response = tenant.post(people, json=person(1), headers=key)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(create, range(6)))
    assert len(ids) == 1
    assert stored_rows(stack, tenant, app_of(people), "people") == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9".encode(), "a\tb"])
def test_bad_idempotency_keys_are_400(tenant: Tenant, people: str, key: str | bytes) -> None:
    response = tenant.post(people, json=person(1), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"


def test_if_match_guards_updates_and_deletes(tenant: Tenant, people: str) -> None:
    created = tenant.post(people, json=person(1))
    record = created.json()
    assert created.headers["ETag"] == '"1"'
    assert record["version"] == 1
    path = f"{people}/{record['id']}"

    fetched = tenant.get(path)
    assert fetched.headers["ETag"] == '"1"'
    changed = tenant.patch(path, json={"score": 3}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'

    stale = tenant.patch(path, json={"score": 4}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert stale.json()["error"]["details"] == [{"record_id": record["id"], "current_version": 2}]
    assert tenant.get(path).json()["score"] == 3

    assert tenant.delete(path, headers={"If-Match": "1"}).status_code == 412
    assert tenant.patch(path, json={}, headers={"If-Match": "9"}).status_code == 412
    assert tenant.patch(path, json={"score": 1}, headers={"If-Match": "soon"}).status_code == 400
    assert tenant.delete(path, headers={"If-Match": "2"}).status_code == 204
    assert tenant.patch(path, json={"score": 1}, headers={"If-Match": "2"}).status_code == 404
