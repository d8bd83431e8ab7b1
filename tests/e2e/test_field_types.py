"""Every field type's values and every field setting, as a client writes and reads them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.factories.accounts import Tenant
from tests.factories.tables import ONE_OF_EACH_TYPE, Table, error_of, invalid, new_table

EVERY_TYPE = [*ONE_OF_EACH_TYPE, {"slug": "price", "type": "number", "decimal_places": 2}]
BIG = "123456789012345678901234567890"


@pytest.fixture(scope="module")
def every_type(shared_tenant: Tenant) -> Table:
    return new_table(shared_tenant, EVERY_TYPE)


def total(table: Table) -> int:
    return int(table.page({"per_page": 1})["total"])


# (field, the value as JSON text, what a client reads back)
VALID = [
    pytest.param("name", json.dumps("x" * 10_000), "x" * 10_000, id="text-10000-chars"),
    pytest.param("name", '"héllo ✓ 日本"', "héllo ✓ 日本", id="text-unicode"),
    pytest.param("name", '""', "", id="text-empty"),
    pytest.param("name", "null", None, id="text-null"),
    pytest.param("body", json.dumps("y" * 100_000), "y" * 100_000, id="long_text-100k"),
    pytest.param("amount", BIG, int(BIG), id="number-30-digits"),
    pytest.param("amount", "0.1", 0.1, id="number-0.1"),
    pytest.param("amount", "-2.5e-7", -2.5e-7, id="number-tiny"),
    pytest.param("amount", "1e20", 10**20, id="number-exponent"),
    pytest.param("price", "2.345", 2.35, id="decimal_places-half-up"),
    pytest.param("price", "-1.005", -1.01, id="decimal_places-negative-half"),
    pytest.param("price", "2.5", 2.5, id="decimal_places-shorter"),
    pytest.param("price", BIG, int(BIG), id="decimal_places-30-digits"),
    pytest.param("qty", "9223372036854775807", 2**63 - 1, id="integer-max"),
    pytest.param("qty", "-9223372036854775808", -(2**63), id="integer-min"),
    pytest.param("qty", "5.0", 5, id="integer-written-as-5.0"),
    pytest.param("done", "true", True, id="boolean-true"),
    pytest.param("done", "false", False, id="boolean-false"),
    pytest.param("due", '"2024-02-29"', "2024-02-29", id="date-leap-day"),
    pytest.param("at", '"2024-03-01T10:30:00+02:00"', "2024-03-01T08:30:00Z", id="datetime-offset"),
    pytest.param("at", '"2024-03-01T10:30:00"', "2024-03-01T10:30:00Z", id="datetime-naive"),
    pytest.param(
        "at", '"2024-03-01T10:30:00.123456Z"', "2024-03-01T10:30:00.123456Z", id="datetime-us"
    ),
    pytest.param("mail", '"a.b+c@example.co.uk"', "a.b+c@example.co.uk", id="email"),
    pytest.param("site", '"https://example.com/a?b=c#d"', "https://example.com/a?b=c#d", id="url"),
    pytest.param("site", '"http://localhost:8080"', "http://localhost:8080", id="url-port"),
    pytest.param("tel", '"+44 (20) 7946-0958"', "+44 (20) 7946-0958", id="phone"),
    pytest.param("stage", '"won"', "won", id="select"),
    pytest.param("tags", '["blue","red","blue"]', ["blue", "red"], id="multi_select-dedup"),
    pytest.param("tags", "[]", [], id="multi_select-empty"),
    pytest.param("stars", "0", 0, id="rating-zero"),
    pytest.param("stars", "5", 5, id="rating-max"),
    pytest.param("took", "90", 90, id="duration-seconds"),
    pytest.param("took", "1.5", 1.5, id="duration-fraction"),
    pytest.param("took", '"1:02:03"', 3723, id="duration-h:mm:ss"),
    pytest.param("took", '"0:30"', 1800, id="duration-h:mm"),
    pytest.param(
        "meta",
        '{"a":[1,"x",null,true],"b":{"c":0.5}}',
        {"a": [1, "x", None, True], "b": {"c": 0.5}},
        id="json-object",
    ),
    pytest.param("meta", '"just text"', "just text", id="json-string"),
    pytest.param("meta", "0.1", 0.1, id="json-number"),
]


@pytest.mark.parametrize(("field", "sent", "read"), VALID)
def test_valid_values_are_stored_and_read_back(
    every_type: Table, field: str, sent: str, read: Any
) -> None:
    created = every_type.create_raw(f'{{"{field}": {sent}}}'.encode())
    assert created.status_code == 201, created.text
    assert created.json()[field] == read
    assert every_type.get(created.json()["id"])[field] == read

    blank = every_type.insert()
    updated = every_type.update_raw(blank["id"], f'{{"{field}": {sent}}}'.encode())
    assert updated.status_code == 200, updated.text
    assert updated.json()[field] == read
    assert every_type.get(blank["id"])[field] == read


INVALID = [
    pytest.param("name", "5", id="text-number"),
    pytest.param("name", json.dumps("x" * 10_001), id="text-too-long"),
    pytest.param("name", '"a\\u0000b"', id="text-nul"),
    pytest.param("name", '["x"]', id="text-list"),
    pytest.param("body", '"\\u0000"', id="long_text-nul"),
    pytest.param("body", "{}", id="long_text-object"),
    pytest.param("amount", '"12"', id="number-string"),
    pytest.param("amount", "true", id="number-boolean"),
    pytest.param("amount", "1e400", id="number-huge"),
    pytest.param("amount", "1e-400", id="number-tiny"),
    pytest.param("amount", "1" + "0" * 61, id="number-62-digits"),
    pytest.param("price", "[1]", id="number-list"),
    pytest.param("qty", "9223372036854775808", id="integer-over-max"),
    pytest.param("qty", "-9223372036854775809", id="integer-under-min"),
    pytest.param("qty", "1.5", id="integer-fraction"),
    pytest.param("qty", '"7"', id="integer-string"),
    pytest.param("qty", "true", id="integer-boolean"),
    pytest.param("done", '"true"', id="boolean-string"),
    pytest.param("done", "1", id="boolean-number"),
    pytest.param("due", '"2024-02-30"', id="date-impossible"),
    pytest.param("due", '"2024-2-1"', id="date-short"),
    pytest.param("due", '"01/02/2024"', id="date-slashes"),
    pytest.param("due", '"2024-02-01T00:00:00"', id="date-with-time"),
    pytest.param("at", '"yesterday"', id="datetime-word"),
    pytest.param("at", '"2024-13-01T00:00:00Z"', id="datetime-month-13"),
    pytest.param("at", "1700000000", id="datetime-epoch"),
    pytest.param("mail", '"no-at"', id="email-no-at"),
    pytest.param("mail", '"a@b"', id="email-no-dot"),
    pytest.param("mail", '"a b@c.com"', id="email-space"),
    pytest.param("mail", '"a\\u0000@b.com"', id="email-nul"),
    pytest.param("site", '"ftp://x.com"', id="url-ftp"),
    pytest.param("site", '"example.com"', id="url-relative"),
    pytest.param("site", '"http://"', id="url-no-host"),
    pytest.param("site", '"https://exa mple.com"', id="url-space"),
    pytest.param("tel", '"12"', id="phone-short"),
    pytest.param("tel", '"call me"', id="phone-words"),
    pytest.param("tel", json.dumps("1" * 33), id="phone-too-long"),
    pytest.param("stage", '"maybe"', id="select-unknown"),
    pytest.param("stage", '["won"]', id="select-list"),
    pytest.param("tags", '["purple"]', id="multi_select-unknown"),
    pytest.param("tags", '"red"', id="multi_select-string"),
    pytest.param("tags", "[1]", id="multi_select-number"),
    pytest.param("stars", "6", id="rating-over-max"),
    pytest.param("stars", "-1", id="rating-negative"),
    pytest.param("stars", "2.5", id="rating-fraction"),
    pytest.param("took", '"1:60:00"', id="duration-60-minutes"),
    pytest.param("took", '"soon"', id="duration-word"),
    pytest.param("took", "true", id="duration-boolean"),
    pytest.param("meta", '"\\u0000"', id="json-nul"),
    pytest.param("meta", '{"k\\u0000": 1}', id="json-nul-key"),
    pytest.param("meta", '{"x": 1e400}', id="json-huge-number"),
    pytest.param("meta", "1e-400", id="json-tiny-number"),
    pytest.param("meta", "[" * 300 + "]" * 300, id="json-300-deep"),
]


@pytest.mark.parametrize(("field", "sent"), INVALID)
def test_invalid_values_are_400_naming_the_field_and_change_nothing(
    every_type: Table, field: str, sent: str
) -> None:
    kept = every_type.insert(name="kept")
    before = total(every_type)
    body = f'{{"{field}": {sent}}}'.encode()
    invalid(every_type.create_raw(body), field)
    assert total(every_type) == before
    invalid(every_type.update_raw(kept["id"], body), field)
    assert every_type.get(kept["id"]) == kept


def test_numbers_keep_every_digit_in_the_response_text(every_type: Table) -> None:
    created = every_type.create_raw(
        f'{{"amount": {BIG}, "price": {BIG}, "took": 0.1, "meta": 0.1}}'.encode()
    )
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    for response in (
        created,
        every_type.tenant.get(f"{every_type.records}/{record_id}"),
        every_type.query({"filter[id]": record_id}),
    ):
        assert f'"amount":{BIG},' in response.text
        assert f'"price":{BIG},' in response.text
        assert '"took":0.1,' in response.text
        assert '"meta":0.1,' in response.text
    tenth = every_type.create_raw(b'{"amount": 0.1}')
    assert '"amount":0.1,' in tenth.text
    for value, record in ((BIG, created.json()), ("0.1", tenth.json())):
        found = every_type.page({"filter[amount]": value, "per_page": 100})["records"]
        assert record["id"] in {r["id"] for r in found}
        assert {r["amount"] for r in found} == {record["amount"]}


def test_text_of_10000_characters_is_stored_sorted_and_filtered(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text", "unique": True}])
    tail = "x" * 9_999
    values = ["b" + tail, "a" + tail, "c", "d" + tail[:-1] + "y"]
    ids = {table.insert(name=value)["id"]: value for value in values}
    assert sorted(ids.values()) == [r["name"] for r in table.page({"sort": "name"})["records"]]
    assert [r["name"] for r in table.walk({"sort": "-name"}, per_page=1)] == sorted(
        values, reverse=True
    )
    for value in values:
        assert table.names({"filter[name]": value}) == {value}
    # Equality is on the whole value, not the indexed prefix.
    assert table.names({"filter[name]": "d" + tail[:-1] + "z"}) == set()
    assert table.names({"filter[name][neq]": values[0]}) == set(values[1:])


@pytest.mark.xfail(
    strict=True,
    reason="by design for now: text sorts by its first 200 characters, then by record id "
    "(README, Field types); a whole-value order would make cursors carry whole values",
)
def test_long_texts_sharing_a_prefix_sort_by_the_whole_value(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    first, second = sorted((table.insert()["id"], table.insert()["id"]))
    prefix = "p" * 300
    # The smaller id gets the larger value, so an order by id is visibly wrong.
    assert table.update(first, {"name": prefix + "b"}).status_code == 200
    assert table.update(second, {"name": prefix + "a"}).status_code == 200
    listed = table.page({"sort": "name"})["records"]
    assert [r["name"][-1] for r in listed] == ["a", "b"]


def test_autonumber_numbers_existing_and_new_records_and_is_read_only(
    shared_tenant: Tenant,
) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    existing = [table.insert(name=f"old {i}")["id"] for i in range(3)]
    added = table.add_field({"slug": "no", "type": "autonumber"})
    assert added.status_code == 201, added.text
    assert table.field("no")["type"] == "autonumber"
    numbered = [table.settled(record_id, lambda r: "no" in r)["no"] for record_id in existing]
    assert numbered == [1, 2, 3]

    fresh = table.insert(name="new")
    assert fresh["no"] == 4
    # A number sent by a client is not the record's number: the system's is kept.
    chosen = table.create({"name": "pushy", "no": 99})
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["no"] == 5
    changed = table.update(fresh["id"], {"no": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["no"] == 4
    assert [r["no"] for r in table.page({"sort": "-no"})["records"]] == [5, 4, 3, 2, 1]
    assert table.names({"filter[no][gt]": "3"}) == {"new", "pushy"}


def test_system_stamp_fields_are_filled_and_read_only(shared_tenant: Tenant) -> None:
    table = new_table(
        shared_tenant,
        [
            {"slug": "name", "type": "text"},
            {"slug": "made", "type": "created_at"},
            {"slug": "changed", "type": "updated_at"},
            {"slug": "maker", "type": "created_by"},
            {"slug": "changer", "type": "updated_by"},
        ],
    )
    forged = {
        "made": "2000-01-01T00:00:00Z",
        "changed": "2000-01-01T00:00:00Z",
        "maker": "acc_someone_else",
        "changer": "acc_someone_else",
    }
    created = table.create({"name": "first", **forged})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["made"] == record["created_at"]
    assert record["changed"] == record["updated_at"]
    assert record["maker"] == record["changer"] == shared_tenant.account_id

    updated = table.update(record["id"], {"name": "second", **forged})
    assert updated.status_code == 200, updated.text
    after = updated.json()
    assert after["made"] == record["made"]
    assert after["changed"] == after["updated_at"]
    assert datetime.fromisoformat(after["changed"]) > datetime.fromisoformat(record["changed"])
    assert after["maker"] == after["changer"] == shared_tenant.account_id
    assert table.names({"filter[maker]": shared_tenant.account_id}) == {"second"}


@pytest.mark.parametrize("kind", ["autonumber", "created_at", "updated_by"])
def test_system_set_fields_cannot_be_required_or_take_a_default(
    shared_tenant: Tenant, kind: str
) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    invalid(table.add_field({"slug": "stamp", "type": kind, "required": True}), "stamp")
    invalid(table.add_field({"slug": "stamp", "type": kind, "default": 1}), "stamp")


def test_required_fields(shared_tenant: Tenant) -> None:
    table = new_table(
        shared_tenant,
        [{"slug": "name", "type": "text", "required": True}, {"slug": "note", "type": "text"}],
    )
    invalid(table.create({"note": "no name"}), "name")
    invalid(table.create({"name": None}), "name")
    invalid(table.create({}), "name")
    record = table.insert(name="Ada")
    # An update that leaves the field out keeps it; one that empties it is refused.
    assert table.update(record["id"], {"note": "hi"}).status_code == 200
    invalid(table.update(record["id"], {"name": None}), "name")
    assert table.get(record["id"])["name"] == "Ada"


@pytest.fixture
def unique_table(shared_tenant: Tenant) -> Table:
    return new_table(
        shared_tenant,
        [
            {"slug": "code", "type": "text", "unique": True},
            {"slug": "n", "type": "integer", "unique": True},
        ],
    )


def test_unique_fields_take_distinct_values_and_repeated_nulls(unique_table: Table) -> None:
    first = unique_table.insert(code="A", n=1)
    unique_table.insert(code="B", n=2)
    unique_table.insert(code=None, n=None)
    unique_table.insert(code=None, n=None)
    assert unique_table.tenant.delete(f"{unique_table.records}/{first['id']}").status_code == 204
    # The deleted record's values are free again.
    assert unique_table.create({"code": "A", "n": 1}).status_code == 201


def test_a_duplicate_value_on_create_is_409_naming_the_field(unique_table: Table) -> None:
    unique_table.insert(code="A", n=1)
    error = error_of(unique_table.create({"code": "A", "n": 2}), 409, "code")
    assert error["code"] == "conflict"
    assert unique_table.names({"filter[code]": "A"}, key="n") == {1}


def test_a_duplicate_value_on_update_is_409_naming_the_field(unique_table: Table) -> None:
    unique_table.insert(code="A", n=1)
    other = unique_table.insert(code="B", n=2)
    error = error_of(unique_table.update(other["id"], {"n": 1}), 409, "n")
    assert error["code"] == "conflict"
    assert unique_table.get(other["id"])["n"] == 2


def test_defaults_apply_when_a_field_is_omitted(shared_tenant: Tenant) -> None:
    table = new_table(
        shared_tenant,
        [
            {"slug": "name", "type": "text"},
            {"slug": "stage", "type": "select", "options": ["new", "won"], "default": "new"},
            {"slug": "count", "type": "integer", "default": 0},
            {"slug": "tags", "type": "multi_select", "options": ["a", "b"], "default": ["b"]},
        ],
    )
    assert table.field("stage")["default"] == "new"
    record = table.insert(name="plain")
    assert (record["stage"], record["count"], record["tags"]) == ("new", 0, ["b"])
    given = table.insert(name="given", stage="won", count=None, tags=[])
    assert (given["stage"], given["count"], given["tags"]) == ("won", None, [])
    # An update does not bring defaults back.
    updated = table.update(given["id"], {"name": "still given"}).json()
    assert (updated["stage"], updated["count"]) == ("won", None)


def test_a_fractional_number_default_is_kept_and_rounded(shared_tenant: Tenant) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    added = table.add_field(
        {"slug": "price", "type": "number", "decimal_places": 1, "default": 9.95}
    )
    assert added.status_code == 201, added.text
    assert table.field("price")["default"] == 9.95
    assert table.insert(name="plain")["price"] == 10


def test_a_body_nested_too_deep_is_400(every_type: Table) -> None:
    response = every_type.create_raw(b'{"meta": ' + b"[" * 1100 + b"]" * 1100 + b"}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Request body nests too deeply"


@pytest.mark.parametrize(
    "field",
    [
        {"slug": "stage", "type": "select", "options": ["new"], "default": "old"},
        {"slug": "count", "type": "integer", "default": "zero"},
        {"slug": "due", "type": "date", "default": "tomorrow"},
    ],
)
def test_a_default_that_does_not_fit_the_type_is_400(
    shared_tenant: Tenant, field: dict[str, Any]
) -> None:
    table = new_table(shared_tenant, [{"slug": "name", "type": "text"}])
    invalid(table.add_field(field), field["slug"])
    assert [f["slug"] for f in table.schema()["fields"]] == ["name"]


def test_one_primary_field_per_schema(shared_tenant: Tenant) -> None:
    table = new_table(
        shared_tenant,
        [
            {"slug": "tags", "type": "multi_select", "options": ["a"]},
            {"slug": "name", "type": "text"},
            {"slug": "code", "type": "text"},
        ],
    )

    def primaries() -> list[str]:
        return [f["slug"] for f in table.schema()["fields"] if f["primary"]]

    # The first field that can be one is the primary field unless another is named.
    assert primaries() == ["name"]
    assert table.add_field({"slug": "label", "type": "text", "primary": True}).status_code == 201
    assert primaries() == ["label"]
    assert table.change_field("code", {"primary": True}).status_code == 200
    assert primaries() == ["code"]
    invalid(table.change_field("tags", {"primary": True}), "tags")
    assert primaries() == ["code"]
    two = table.tenant.post(
        f"/api/apps/{table.app_slug}/schemas",
        json={
            "name": "Two",
            "fields": [
                {"slug": "a", "type": "text", "primary": True},
                {"slug": "b", "type": "text", "primary": True},
            ],
        },
    )
    invalid(two, "b")


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ({"slug": "stars", "type": "rating", "max": 11}, "stars"),
        ({"slug": "price", "type": "number", "decimal_places": -1}, "price"),
        ({"slug": "price", "type": "number", "places": 2}, "field.places"),
        ({"slug": "name", "type": "text", "max": 3}, "field.max"),
        ({"slug": "flag", "type": "boolean", "unique": True}, "flag"),
        ({"slug": "s", "type": "select", "options": ["a", "a"]}, "s"),
    ],
)
def test_invalid_settings_are_400_naming_them(
    shared_tenant: Tenant, field: dict[str, Any], named: str
) -> None:
    table = new_table(shared_tenant, [{"slug": "title", "type": "text"}])
    invalid(table.add_field(field), named)
