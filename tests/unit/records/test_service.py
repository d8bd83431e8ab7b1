from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from tessera.records.v1 import records_pb2

from services.kit.errors import ValidationFailed
from services.records.repository import Condition, Group
from services.records.service import (
    filter_tree,
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
    assert [(s.field.id, s.descending) for s in specs] == [
        (F["name"].id, True),
        ("created_at", False),
        ("id", True),
    ]


def test_sort_rejects_unknown_and_unsortable() -> None:
    with pytest.raises(ValidationFailed) as error:
        sort_specs(SCHEMA, [Sort("nope")])
    fails(error, "Unknown sort field 'nope'", "sort")
    for unsortable in ("bio", "tags"):
        with pytest.raises(ValidationFailed) as error:
            sort_specs(SCHEMA, [Sort(unsortable)])
        fails(error, f"Field '{unsortable}' cannot be sorted", "sort")


def conditions(*items: tuple[str, str, str]) -> records_pb2.FilterNode:
    return records_pb2.FilterNode(
        all_of=records_pb2.FilterGroup(
            nodes=[
                records_pb2.FilterNode(condition=records_pb2.Condition(field=f, op=op, text=value))
                for f, op, value in items
            ]
        )
    )


def test_filter_tree_parses_operands_by_type() -> None:
    tree = filter_tree(
        SCHEMA,
        conditions(
            ("active", "eq", "1"),
            ("age", "between", "30,40"),
            ("tags", "has_any", "a,b"),
            ("id", "eq", "rec_x"),
            ("name", "", "Ada"),
        ),
    )
    assert isinstance(tree, Group)
    assert [(c.field.slug, c.op, c.operand) for c in tree.members if isinstance(c, Condition)] == [
        ("active", "eq", True),
        ("age", "between", [Decimal(30), Decimal(40)]),
        ("tags", "has_any", ["a", "b"]),
        ("id", "eq", "rec_x"),
        # proto3's default (empty) operator is eq.
        ("name", "eq", "Ada"),
    ]


def test_json_operands_and_nested_groups() -> None:
    tree = filter_tree(
        SCHEMA,
        records_pb2.FilterNode(
            any_of=records_pb2.FilterGroup(
                nodes=[
                    records_pb2.FilterNode(
                        condition=records_pb2.Condition(field="age", op="in", json=b"[1, 2.5]")
                    ),
                    conditions(("status", "eq", "lead")),
                ]
            )
        ),
    )
    assert isinstance(tree, Group)
    assert tree.any
    first, second = tree.members
    assert isinstance(first, Condition)
    assert first.operand == [Decimal(1), Decimal("2.5")]
    assert isinstance(second, Group)
    assert not second.any


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (("nope", "eq", "x"), "Unknown filter field 'nope'"),
        (("name", "gtt", "x"), "Unknown filter operator 'gtt'"),
        (("active", "gt", "1"), "Fields of type boolean do not support 'gt'"),
        (("age", "eq", "old"), "Filter on 'age' with 'eq' needs a number"),
        (("age", "eq", "1e999999999"), "Filter on 'age' with 'eq' needs a number"),
        (("age", "eq", "\u0663"), "Filter on 'age' with 'eq' needs a number"),
        (("active", "eq", "yes"), "Filter on 'active' with 'eq' needs true or false"),
        (("status", "eq", "nobody"), "Filter on 'status' with 'eq' needs one of"),
        (("age", "between", "1"), "Filter on 'age' with 'between' needs two values"),
    ],
)
def test_filter_rejections(item: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        filter_tree(SCHEMA, conditions(item))
    assert error.value.message.startswith(message)
    assert error.value.field == f"filter[{item[0]}]"
