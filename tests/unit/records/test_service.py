from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from services.kit.errors import ValidationFailed
from services.records.repository import FilterSpec, SortSpec
from services.records.service import (
    filter_specs,
    page_bounds,
    parse_body,
    sort_specs,
    unknown_keys,
    validate_values,
    writable,
)
from tests.factories.records import contacts_schema


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    field: str
    value: str
    op: str = "eq"


SCHEMA = contacts_schema()
F = SCHEMA.by_slug


def fails(error: pytest.ExceptionInfo[ValidationFailed], message: str, field: str | None) -> None:
    assert error.value.message == message
    assert error.value.field == field
    assert error.value.code == "validation_error"


# --- body -------------------------------------------------------------------------------


def test_parse_body() -> None:
    assert parse_body(b'{"name": "Ada", "age": 36}') == {"name": "Ada", "age": 36}
    assert parse_body(b"{}") == {}


@pytest.mark.parametrize("raw", [b"", b"{", b"nope", b'{"a": NaN}', b"\xff\xfe"])
def test_parse_body_rejects_invalid_json(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_body(raw)
    fails(error, "Request body is not valid JSON", None)


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"x"', b"null", b"true"])
def test_parse_body_requires_an_object(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_body(raw)
    fails(error, "Request body must be a JSON object", None)


def test_read_only_keys_are_ignored() -> None:
    body = {"id": "rec_x", "created_at": "t", "updated_at": "t", "name": "Ada"}
    assert writable(body) == {"name": "Ada"}
    assert unknown_keys(SCHEMA, ["name", "nope", "age"]) == ["nope"]


# --- values -----------------------------------------------------------------------------


def test_validate_values_maps_slugs_to_columns() -> None:
    columns = validate_values(
        SCHEMA,
        {"name": "Ada", "age": 36, "birthday": "1815-12-10", "tags": ["b", "a", "b"]},
        creating=True,
    )
    assert columns == {
        F["name"].id: "Ada",
        F["age"].id: Decimal(36),
        F["birthday"].id: date(1815, 12, 10),
        F["tags"].id: ["b", "a"],
    }


def test_validate_values_unknown_field() -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_values(SCHEMA, {"name": "Ada", "nickname": "A"}, creating=True)
    fails(error, "Unknown field 'nickname'", "nickname")


def test_required_on_create() -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_values(SCHEMA, {"age": 3}, creating=True)
    fails(error, "Field 'name' is required", "name")
    with pytest.raises(ValidationFailed) as error:
        validate_values(SCHEMA, {"name": None}, creating=True)
    fails(error, "Field 'name' is required", "name")


def test_required_on_update() -> None:
    # Absent is fine on update; null is not.
    assert validate_values(SCHEMA, {"age": 3}, creating=False) == {F["age"].id: Decimal(3)}
    with pytest.raises(ValidationFailed) as error:
        validate_values(SCHEMA, {"name": None}, creating=False)
    fails(error, "Field 'name' is required", "name")


def test_null_clears_optional_fields() -> None:
    assert validate_values(SCHEMA, {"age": None}, creating=False) == {F["age"].id: None}


def test_type_errors_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_values(SCHEMA, {"name": "Ada", "age": "36"}, creating=True)
    fails(error, "Field 'age' must be a number", "age")


# --- list parameters --------------------------------------------------------------------


def test_page_bounds_defaults() -> None:
    assert page_bounds(0, 0) == (50, 0)
    assert page_bounds(3, 20) == (20, 40)
    assert page_bounds(10_000_000, 100) == (100, 999_999_900)


@pytest.mark.parametrize("page", [-1, 10_000_001])
def test_page_out_of_range(page: int) -> None:
    with pytest.raises(ValidationFailed) as error:
        page_bounds(page, 10)
    fails(error, "page must be between 1 and 10000000", "page")


@pytest.mark.parametrize("per_page", [-5, 101, 1000])
def test_per_page_out_of_range_is_an_error_not_a_cut(per_page: int) -> None:
    with pytest.raises(ValidationFailed) as error:
        page_bounds(1, per_page)
    fails(error, "per_page must be between 1 and 100", "per_page")


def test_sort_specs() -> None:
    specs = sort_specs(
        SCHEMA, [Sort("name", True), Sort("created_at"), Sort("name"), Sort("id", True)]
    )
    assert specs == (
        SortSpec(F["name"].id, True),
        SortSpec("created_at", False),
        SortSpec("id", True),
    )


def test_sort_rejects_unknown_and_unsortable() -> None:
    with pytest.raises(ValidationFailed) as error:
        sort_specs(SCHEMA, [Sort("nope")])
    fails(error, "Unknown sort field 'nope'", "sort")
    for unsortable in ("bio", "tags"):
        with pytest.raises(ValidationFailed) as error:
            sort_specs(SCHEMA, [Sort(unsortable)])
        fails(error, f"Field '{unsortable}' cannot be sorted", "sort")


def test_filter_specs_parse_by_type() -> None:
    specs = filter_specs(
        SCHEMA,
        [Filter("active", "1"), Filter("age", "36"), Filter("tags", "a"), Filter("id", "rec_x")],
    )
    assert specs == (
        FilterSpec(F["active"].id, F["active"].type, True),
        FilterSpec(F["age"].id, F["age"].type, Decimal(36)),
        FilterSpec(F["tags"].id, F["tags"].type, "a"),
        FilterSpec("id", F["name"].type, "rec_x"),
    )
    # proto3's default (empty) operator is eq.
    assert filter_specs(SCHEMA, [Filter("name", "Ada", op="")])[0].value == "Ada"


def test_filter_rejections() -> None:
    with pytest.raises(ValidationFailed) as error:
        filter_specs(SCHEMA, [Filter("nope", "x")])
    fails(error, "Unknown filter field 'nope'", "filter[nope]")
    with pytest.raises(ValidationFailed) as error:
        filter_specs(SCHEMA, [Filter("name", "x", op="gt")])
    fails(error, "Unsupported filter operator 'gt' on 'name'", "filter[name]")
    with pytest.raises(ValidationFailed) as error:
        filter_specs(SCHEMA, [Filter("age", "old")])
    fails(error, "Filter on 'age' must be a number", "filter[age]")
    with pytest.raises(ValidationFailed) as error:
        filter_specs(SCHEMA, [Filter("active", "yes")])
    assert error.value.field == "filter[active]"
    with pytest.raises(ValidationFailed) as error:
        filter_specs(SCHEMA, [Filter("status", "nobody")])
    assert error.value.field == "filter[status]"
