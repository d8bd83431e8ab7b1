"""Schemas changing under their records: fields added, renamed, retyped (refused with 409
when values would be lost, unless forced) and deleted; apps and schemas renamed; another
workspace's apps, schemas and fields out of reach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant
from tests.factories.tables import Table, error_of, invalid, new_table
from tests.support.db import scalar
from tests.support.records import Column, column_of
from tests.support.wait import eventually

BIG = 123456789012345678901234567890


def column_type(stack: Stack, column: Column) -> str | None:
    """The column's SQL type, None once it is gone."""
    found = scalar(
        database_url(stack, "records"),
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        column.app_id,
        column.schema_id,
        column.field_id,
    )
    return None if found is None else str(found)


def read_once_changed(
    table: Table, record_id: str, done: Callable[[dict[str, Any]], bool]
) -> httpx.Response:
    """The first read of the record that fails or shows the schema change `done` checks."""

    def probe() -> httpx.Response | None:
        response = table.tenant.get(f"{table.records}/{record_id}")
        return response if response.status_code != 200 or done(response.json()) else None

    return eventually(probe)


def one_field_table(tenant: Tenant, field: dict[str, Any]) -> Table:
    return new_table(tenant, [{"slug": "name", "type": "text"}, {"slug": "v", **field}])


# --- adding -----------------------------------------------------------------------------


def test_a_new_field_is_empty_on_existing_records_and_writable(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    old = table.insert(name="old")
    added = table.add_field(
        {"slug": "price", "name": "Price", "type": "number", "decimal_places": 1}
    )
    assert added.status_code == 201, added.text
    assert added.json()["fields"][-1] == {
        "slug": "price",
        "name": "Price",
        "type": "number",
        "required": False,
        "unique": False,
        "primary": False,
        "decimal_places": 1,
    }
    assert table.settled(old["id"], lambda r: "price" in r)["price"] is None
    assert table.insert(name="new", price=2.25)["price"] == 2.3
    assert table.update(old["id"], {"price": 1}).json()["price"] == 1
    assert table.names({"filter[price][gt]": "1.5"}) == {"new"}


@pytest.mark.parametrize(
    ("field", "status", "named"),
    [
        ({"slug": "name", "type": "text"}, 409, "name"),
        ({"slug": "c", "type": "colour"}, 400, "c"),
        ({"slug": "s", "type": "select"}, 400, "s"),
        ({"slug": "p", "type": "number", "colour": "red"}, 400, "field.colour"),
        ({"slug": "Bad Slug", "type": "text"}, 400, None),
        ({"slug": "version", "type": "text"}, 400, "version"),
        ({"type": "text"}, 400, None),
    ],
)
def test_a_field_that_cannot_be_added_is_refused_and_changes_nothing(
    shared_tenant: Tenant, field: dict[str, Any], status: int, named: str | None
) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    before = table.schema()
    error_of(table.add_field(field), status, named)
    assert table.schema() == before


# --- renaming ---------------------------------------------------------------------------


def test_renaming_a_field_keeps_its_values_under_the_new_slug(
    stack: Stack, shared_tenant: Tenant
) -> None:
    table = new_table(
        shared_tenant, [{"slug": "name", "type": "text"}, {"slug": "score", "type": "number"}]
    )
    record = table.insert(name="Ada", score=3)
    column = column_of(stack, table, "name")
    renamed = table.change_field("name", {"slug": "full_name", "name": "Full name"})
    assert renamed.status_code == 200, renamed.text
    assert [(f["slug"], f["name"]) for f in renamed.json()["fields"]] == [
        ("full_name", "Full name"),
        ("score", "score"),
    ]
    after = table.settled(record["id"], lambda r: "full_name" in r)
    assert "name" not in after
    assert after["full_name"] == "Ada"
    assert after["score"] == 3
    assert column_of(stack, table, "full_name") == column
    assert table.names({"filter[full_name]": "Ada"}, key="full_name") == {"Ada"}
    invalid(table.query({"filter[name]": "Ada"}), "filter[name]")
    invalid(table.query({"sort": "name"}), "sort")
    invalid(table.create({"name": "Grace"}), "name")
    assert table.create({"full_name": "Grace"}).status_code == 201
    assert table.change_field("name", {"name": "Again"}).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"slug": "score"}, 409, "slug"),
        ({"slug": "id"}, 400, "id"),
        ({"slug": "Not A Slug"}, 400, None),
        ({"type": "colour"}, 400, "name"),
        ({"nullable": True}, 400, None),
        ({"required": "yes"}, 400, "required"),
    ],
)
def test_a_field_change_that_is_refused_changes_nothing(
    shared_tenant: Tenant, change: dict[str, Any], status: int, named: str | None
) -> None:
    table = new_table(
        shared_tenant, [{"slug": "name", "type": "text"}, {"slug": "score", "type": "number"}]
    )
    record = table.insert(name="Ada", score=1)
    before = table.schema()
    error_of(table.change_field("name", change), status, named)
    assert table.schema() == before
    assert table.get(record["id"]) == record


# --- type changes -----------------------------------------------------------------------

# (the field before, its stored value, the change, the value after)
CONVERSIONS = [
    pytest.param({"type": "text"}, "12.5", {"type": "number"}, 12.5, id="text-number"),
    pytest.param({"type": "text"}, " 42 ", {"type": "integer"}, 42, id="text-integer"),
    pytest.param({"type": "number"}, 12.5, {"type": "text"}, "12.5", id="number-text"),
    pytest.param({"type": "number"}, BIG, {"type": "text"}, str(BIG), id="number30-text"),
    pytest.param({"type": "number"}, 0.1, {"type": "text"}, "0.1", id="number0.1-text"),
    pytest.param({"type": "number"}, 12, {"type": "integer"}, 12, id="number-integer"),
    pytest.param({"type": "number"}, 1, {"type": "boolean"}, True, id="number-boolean"),
    pytest.param(
        {"type": "number"}, 2.345, {"decimal_places": 2}, 2.35, id="number-decimal_places"
    ),
    pytest.param({"type": "integer"}, 7, {"type": "number"}, 7, id="integer-number"),
    pytest.param({"type": "integer"}, 4, {"type": "rating", "max": 5}, 4, id="integer-rating"),
    pytest.param({"type": "rating"}, 3, {"type": "integer"}, 3, id="rating-integer"),
    pytest.param({"type": "text"}, "2024-03-01", {"type": "date"}, "2024-03-01", id="text-date"),
    pytest.param(
        {"type": "text"},
        "2024-03-01T10:00:00+02:00",
        {"type": "datetime"},
        "2024-03-01T08:00:00Z",
        id="text-datetime",
    ),
    pytest.param({"type": "date"}, "2024-03-01", {"type": "text"}, "2024-03-01", id="date-text"),
    pytest.param(
        {"type": "date"},
        "2024-03-01",
        {"type": "datetime"},
        "2024-03-01T00:00:00Z",
        id="date-datetime",
    ),
    pytest.param(
        {"type": "datetime"},
        "2024-03-01T23:30:00-02:00",
        {"type": "date"},
        "2024-03-02",
        id="datetime-date-utc",
    ),
    pytest.param(
        {"type": "datetime"},
        "2024-03-01T08:00:00Z",
        {"type": "text"},
        "2024-03-01T08:00:00.000000Z",
        id="datetime-text",
    ),
    pytest.param({"type": "boolean"}, True, {"type": "text"}, "true", id="boolean-text"),
    pytest.param({"type": "text"}, "yes", {"type": "boolean"}, True, id="text-boolean"),
    pytest.param(
        {"type": "select", "options": ["new", "won"]},
        "won",
        {"type": "text"},
        "won",
        id="select-text",
    ),
    pytest.param(
        {"type": "text"},
        "won",
        {"type": "select", "options": ["new", "won"]},
        "won",
        id="text-select",
    ),
    pytest.param(
        {"type": "select", "options": ["a", "b"]},
        "a",
        {"options": ["a", "b", "c"]},
        "a",
        id="select-option-added",
    ),
    pytest.param(
        {"type": "select", "options": ["a", "b"]},
        "a",
        {"type": "multi_select"},
        ["a"],
        id="select-multi_select",
    ),
    pytest.param(
        {"type": "text"},
        "red",
        {"type": "multi_select", "options": ["red", "green"]},
        ["red"],
        id="text-multi_select",
    ),
    pytest.param(
        {"type": "multi_select", "options": ["red", "green", "blue"]},
        ["red", "blue"],
        {"type": "text"},
        "red,blue",
        id="multi_select-text",
    ),
    pytest.param(
        {"type": "multi_select", "options": ["red", "green", "blue"]},
        ["red", "blue"],
        {"options": ["red", "blue"]},
        ["red", "blue"],
        id="multi_select-unused-option-removed",
    ),
    pytest.param({"type": "text"}, "1:30:00", {"type": "duration"}, 5400, id="text-duration"),
    pytest.param({"type": "text"}, "-0:01", {"type": "duration"}, -60, id="text-duration-neg"),
    pytest.param({"type": "text"}, "90", {"type": "duration"}, 90, id="text-seconds-duration"),
    pytest.param({"type": "duration"}, 90, {"type": "text"}, "90", id="duration-text"),
    pytest.param(
        {"type": "text"}, "a@example.com", {"type": "email"}, "a@example.com", id="text-email"
    ),
    pytest.param(
        {"type": "url"}, "https://x.io/a", {"type": "text"}, "https://x.io/a", id="url-text"
    ),
    pytest.param(
        {"type": "text"}, "+1 555 0100", {"type": "phone"}, "+1 555 0100", id="text-phone"
    ),
    pytest.param({"type": "text"}, "hello", {"type": "json"}, "hello", id="text-json"),
    pytest.param({"type": "json"}, "hello", {"type": "text"}, "hello", id="json-text"),
    pytest.param({"type": "text"}, "x" * 5000, {"type": "long_text"}, "x" * 5000, id="text-long"),
    pytest.param({"type": "long_text"}, "short", {"type": "text"}, "short", id="long-text"),
]


@pytest.mark.parametrize(("before", "value", "change", "after"), CONVERSIONS)
def test_type_changes_convert_stored_values(
    shared_tenant: Tenant,
    before: dict[str, Any],
    value: Any,
    change: dict[str, Any],
    after: Any,
) -> None:
    table = one_field_table(shared_tenant, before)
    record = table.insert(name="full", v=value)
    empty = table.insert(name="empty")
    changed = table.change_field("v", change)
    assert changed.status_code == 200, changed.text
    field = next(f for f in changed.json()["fields"] if f["slug"] == "v")
    assert field["type"] == change.get("type", before["type"])
    assert table.settled(record["id"], lambda r: r["v"] == after)["v"] == after
    assert table.get(empty["id"])["v"] is None
    # The values now take the new type's filters.
    assert table.names({"filter[v][nempty]": ""}) == {"full"}


# (the field before, a value the change loses, one it keeps, the change, the kept one after)
LOSSY = [
    pytest.param({"type": "text"}, "abc", "12", {"type": "number"}, 12, id="text-number"),
    pytest.param(
        {"type": "select", "options": ["a", "b"]},
        "b",
        "a",
        {"options": ["a"]},
        "a",
        id="select-option-in-use",
    ),
    pytest.param(
        {"type": "text"},
        "1" * 300,
        "555 0100",
        {"type": "phone"},
        "555 0100",
        id="text300-phone",
    ),
    pytest.param({"type": "number"}, 12.5, 12, {"type": "integer"}, 12, id="number-integer"),
    pytest.param({"type": "rating", "max": 10}, 8, 3, {"max": 5}, 3, id="rating-lower-max"),
    pytest.param(
        {"type": "text"},
        "2024-02-30",
        "2024-02-28",
        {"type": "date"},
        "2024-02-28",
        id="text-date",
    ),
    pytest.param({"type": "boolean"}, True, None, {"type": "number"}, None, id="boolean-number"),
    pytest.param({"type": "text"}, "maybe", "no", {"type": "boolean"}, False, id="text-boolean"),
    pytest.param(
        {"type": "multi_select", "options": ["red", "blue"]},
        ["blue"],
        ["red"],
        {"options": ["red"]},
        ["red"],
        id="multi_select-option-in-use",
    ),
]


@pytest.mark.parametrize(("before", "lost", "kept", "change", "kept_after"), LOSSY)
def test_a_lossy_change_is_409_naming_the_records_and_changes_nothing_until_forced(
    stack: Stack,
    shared_tenant: Tenant,
    before: dict[str, Any],
    lost: Any,
    kept: Any,
    change: dict[str, Any],
    kept_after: Any,
) -> None:
    table = one_field_table(shared_tenant, before)
    losing = table.insert(name="losing", v=lost)
    keeping = table.insert(name="keeping", v=kept)
    schema = table.schema()
    column = column_of(stack, table, "v")
    sql_type = column_type(stack, column)

    refused = table.change_field("v", change)
    error = error_of(refused, 409, "v")
    assert error["code"] == "conflict"
    assert error["details"] == [{"lost": 1, "record_ids": [losing["id"]]}]
    assert table.schema() == schema
    assert table.get(losing["id"]) == losing
    assert table.get(keeping["id"]) == keeping
    assert column_type(stack, column) == sql_type

    forced = table.change_field("v", {**change, "force": True})
    assert forced.status_code == 200, forced.text
    # What could not be kept is emptied.
    assert table.settled(losing["id"], lambda r: r["v"] in (None, []))["v"] in (None, [])
    assert table.get(keeping["id"])["v"] == kept_after


def test_a_lossy_change_names_at_most_20_records_and_counts_them_all(
    shared_tenant: Tenant,
) -> None:
    table = one_field_table(shared_tenant, {"type": "text"})
    losing = {table.insert(v=f"x{i}")["id"] for i in range(25)}
    keeping = table.insert(v="5")
    error = error_of(table.change_field("v", {"type": "number"}), 409, "v")
    (detail,) = error["details"]
    assert detail["lost"] == 25
    assert len(detail["record_ids"]) == 20
    assert set(detail["record_ids"]) <= losing
    assert detail["record_ids"] == sorted(detail["record_ids"])

    assert table.change_field("v", {"type": "number", "force": True}).status_code == 200
    assert table.settled(keeping["id"], lambda r: r["v"] == 5)["v"] == 5
    assert table.names({"filter[v][empty]": ""}, key="id") == losing


def test_forcing_an_option_away_keeps_the_other_options(shared_tenant: Tenant) -> None:
    table = one_field_table(
        shared_tenant, {"type": "multi_select", "options": ["red", "green", "blue"]}
    )
    record = table.insert(v=["red", "blue"])
    error = error_of(table.change_field("v", {"options": ["red", "green"]}), 409, "v")
    assert error["details"] == [{"lost": 1, "record_ids": [record["id"]]}]
    assert table.change_field("v", {"options": ["red", "green"], "force": True}).status_code == 200
    assert table.settled(record["id"], lambda r: r["v"] != ["red", "blue"])["v"] == ["red"]


def test_text_to_multi_select_keeps_the_order_of_the_options(shared_tenant: Tenant) -> None:
    table = one_field_table(shared_tenant, {"type": "text"})
    record = table.insert(v="red, blue")
    change = {"type": "multi_select", "options": ["red", "green", "blue"]}
    assert table.change_field("v", change).status_code == 200
    assert table.settled(record["id"], lambda r: r["v"] != "red, blue")["v"] == ["red", "blue"]


@pytest.mark.parametrize("kind", ["created_at", "updated_by", "autonumber", "link"])
def test_a_value_field_cannot_become_a_system_or_link_field(
    shared_tenant: Tenant, kind: str
) -> None:
    table = one_field_table(shared_tenant, {"type": "text"})
    record = table.insert(v="keep me")
    invalid(table.change_field("v", {"type": kind, "force": True}), "v")
    assert table.get(record["id"])["v"] == "keep me"


def test_changing_a_field_to_autonumber_is_never_a_500(shared_tenant: Tenant) -> None:
    table = one_field_table(shared_tenant, {"type": "text"})
    record = table.insert(v="a")
    changed = table.change_field("v", {"type": "autonumber", "force": True})
    assert changed.status_code in (200, 400, 409), changed.text
    if changed.status_code == 200:
        read = read_once_changed(table, record["id"], lambda r: isinstance(r["v"], int))
        assert read.status_code == 200, read.text


def test_changing_an_autonumber_to_text_keeps_the_schema_usable(shared_tenant: Tenant) -> None:
    table = one_field_table(shared_tenant, {"type": "autonumber"})
    record = table.insert(name="first")
    changed = table.change_field("v", {"type": "text"})
    assert changed.status_code in (200, 400, 409), changed.text
    if changed.status_code == 200:
        read = read_once_changed(table, record["id"], lambda r: isinstance(r["v"], str))
        assert read.status_code == 200, read.text
        assert read.json()["v"] == "1"
    assert table.query().status_code == 200


def test_making_a_field_unique_while_values_repeat_is_409(shared_tenant: Tenant) -> None:
    table = one_field_table(shared_tenant, {"type": "text"})
    table.insert(v="same")
    table.insert(v="same")
    error = error_of(table.change_field("v", {"unique": True}), 409, "v")
    assert error["code"] == "conflict"
    assert table.field("v")["unique"] is False


def test_a_change_with_nothing_to_lose_needs_no_force(shared_tenant: Tenant) -> None:
    table = one_field_table(shared_tenant, {"type": "select", "options": ["a", "b"]})
    record = table.insert(v="a")
    # Removing an option nobody holds loses nothing.
    assert table.change_field("v", {"options": ["a"]}).status_code == 200
    assert table.field("v")["options"] == ["a"]
    assert table.get(record["id"])["v"] == "a"
    invalid(table.update(record["id"], {"v": "b"}), "v")


# --- deleting ---------------------------------------------------------------------------


def test_deleting_a_field_removes_its_values(stack: Stack, shared_tenant: Tenant) -> None:
    table = new_table(
        shared_tenant, [{"slug": "name", "type": "text"}, {"slug": "score", "type": "number"}]
    )
    record = table.insert(name="Ada", score=42)
    column = column_of(stack, table, "score")
    assert column_type(stack, column) == "numeric"
    deleted = table.delete_field("score")
    assert deleted.status_code == 200, deleted.text
    assert [f["slug"] for f in deleted.json()["fields"]] == ["name"]
    after = table.settled(record["id"], lambda r: "score" not in r)
    assert after["name"] == "Ada"
    # The column stays while the field is in the trash, so a restore brings the values.
    assert column_type(stack, column) == "numeric"
    invalid(table.query({"filter[score]": "42"}), "filter[score]")
    invalid(table.create({"name": "Grace", "score": 1}), "score")
    assert table.delete_field("score").status_code == 404
    # A new field of the same slug starts empty: the old values are not its values.
    assert table.add_field({"slug": "score", "type": "number"}).status_code == 201
    assert table.settled(record["id"], lambda r: "score" in r)["score"] is None
    assert table.names({"filter[score]": "42"}) == set()


# --- apps and schemas -------------------------------------------------------------------


def test_renaming_an_app_keeps_its_schemas_and_records(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    record = table.insert(name="Ada")
    new_slug = f"{table.app_slug}-renamed"
    renamed = shared_tenant.patch(
        f"/api/apps/{table.app_slug}", json={"name": "Renamed", "slug": new_slug}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["slug"]) == ("Renamed", new_slug)
    assert shared_tenant.get(f"/api/apps/{table.app_slug}").status_code == 404
    assert eventually(lambda: table.query().status_code == 404)
    moved = Table(tenant=shared_tenant, app_slug=new_slug, slug=table.slug)
    assert moved.get(record["id"]) == record
    assert moved.names() == {"Ada"}


def test_renaming_a_schema_keeps_its_records(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    record = table.insert(name="Ada")
    renamed = shared_tenant.patch(table.path, json={"name": "People", "slug": "people"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["slug"]) == ("People", "people")
    assert shared_tenant.get(table.path).status_code == 404
    assert eventually(lambda: table.query().status_code == 404)
    moved = Table(tenant=shared_tenant, app_slug=table.app_slug, slug="people")
    assert moved.get(record["id"]) == record
    assert moved.insert(name="Grace")["name"] == "Grace"


def test_renames_to_a_taken_or_invalid_slug_are_refused(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    other = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    second = shared_tenant.post(
        f"/api/apps/{table.app_slug}/schemas", json={"name": "Second", "slug": "second"}
    )
    assert second.status_code == 201
    error_of(
        shared_tenant.patch(f"/api/apps/{table.app_slug}", json={"slug": other.app_slug}),
        409,
        "slug",
    )
    error_of(shared_tenant.patch(table.path, json={"slug": "second"}), 409, "slug")
    invalid(shared_tenant.patch(f"/api/apps/{table.app_slug}", json={"slug": "Bad Slug"}), "slug")
    invalid(shared_tenant.patch(table.path, json={"slug": "bad slug"}), "slug")
    invalid(shared_tenant.patch(table.path, json={"name": ""}), "name")
    assert table.schema()["slug"] == table.slug


def test_another_workspace_cannot_reach_apps_schemas_or_fields(
    shared_tenant: Tenant, shared_other_tenant: Tenant
) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    record = table.insert(name="Private")
    before = table.schema()
    intruder = shared_other_tenant
    app = f"/api/apps/{table.app_slug}"
    for response in (
        intruder.get(app),
        intruder.patch(app, json={"name": "Mine"}),
        intruder.get(f"{app}/schemas"),
        intruder.get(table.path),
        intruder.patch(table.path, json={"name": "Mine"}),
        intruder.post(f"{table.path}/fields", json={"slug": "spy", "type": "text"}),
        intruder.patch(f"{table.path}/fields/name", json={"type": "number", "force": True}),
        intruder.delete(f"{table.path}/fields/name"),
        intruder.get(table.records),
        intruder.get(f"{table.records}/{record['id']}"),
    ):
        assert error_of(response, 404)["code"] == "not_found"
    assert table.schema() == before
    assert table.get(record["id"]) == record
