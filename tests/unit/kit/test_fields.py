from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.dialects import postgresql

from services.gateway.presenters import RecordsCsv
from services.kit.errors import ValidationFailed
from services.kit.fields import REGISTRY, field_type
from tests.factories.records import field

DIALECT = postgresql.dialect()


def check(type_name: str, value: Any, **kwargs: Any) -> Any:
    f = field("f", type_name, **kwargs)
    return f.type.validate(f, value)


def rejects(type_name: str, value: Any, **kwargs: Any) -> ValidationFailed:
    f = field("f", type_name, **kwargs)
    with pytest.raises(ValidationFailed) as caught:
        f.type.validate(f, value)
    assert caught.value.field == "f"
    assert "'f'" in caught.value.message
    return caught.value


def parse(type_name: str, raw: str, **kwargs: Any) -> Any:
    f = field("f", type_name, **kwargs)
    return f.type.operand(f, "eq", raw, text=True)


def parse_rejects(type_name: str, raw: str, **kwargs: Any) -> None:
    f = field("f", type_name, **kwargs)
    with pytest.raises(ValueError):
        f.type.operand(f, "eq", raw, text=True)


def out(type_name: str, value: Any) -> Any:
    """A stored value as the JSON a client reads (exact numbers as raw JSON text)."""
    fn = REGISTRY[type_name].serializer({})
    result = value if fn is None or value is None else fn(value)
    if isinstance(result, orjson.Fragment):
        return orjson.loads(orjson.dumps(result))
    return result


def test_registry_names_every_type_once() -> None:
    assert sorted(REGISTRY) == sorted(
        [
            "text",
            "long_text",
            "number",
            "integer",
            "boolean",
            "date",
            "datetime",
            "email",
            "url",
            "phone",
            "select",
            "multi_select",
            "rating",
            "duration",
            "json",
            "link",
            "autonumber",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        ]
    )
    assert field_type("text") is REGISTRY["text"]


@pytest.mark.parametrize(
    ("type_name", "sql"),
    [
        ("text", "TEXT"),
        ("long_text", "TEXT"),
        ("number", "NUMERIC"),
        ("boolean", "BOOLEAN"),
        ("date", "DATE"),
        ("datetime", "TIMESTAMP WITH TIME ZONE"),
        ("email", "TEXT"),
        ("url", "TEXT"),
        ("select", "TEXT"),
        ("multi_select", "TEXT[]"),
    ],
)
def test_column_types(type_name: str, sql: str) -> None:
    assert REGISTRY[type_name].column_type({}).compile(dialect=DIALECT) == sql


def test_sortable_types() -> None:
    unsortable = {name for name, kind in REGISTRY.items() if not kind.sortable}
    assert unsortable == {"long_text", "multi_select", "json", "link"}


# --- text ---------------------------------------------------------------------------------


def test_text() -> None:
    assert check("text", "hello") == "hello"
    assert check("text", "x" * 10_000) == "x" * 10_000
    rejects("text", "x" * 10_001)
    rejects("text", 5)
    rejects("text", ["a"])
    rejects("text", "nul\x00byte")
    assert parse("text", "Ada") == "Ada"


def test_long_text() -> None:
    assert check("long_text", "x" * 1_000_000) == "x" * 1_000_000
    rejects("long_text", "x" * 1_000_001)
    rejects("long_text", True)


# --- number -------------------------------------------------------------------------------


def test_number_accepts_ints_and_floats_exactly() -> None:
    assert check("number", 42) == Decimal(42)
    assert check("number", 0.1) == Decimal("0.1")
    assert check("number", -3.5) == Decimal("-3.5")


@pytest.mark.parametrize("value", [True, False, "1", [1], {"a": 1}, float("inf"), float("nan")])
def test_number_rejects(value: Any) -> None:
    error = rejects("number", value)
    assert error.message == "Field 'f' must be a number"


def test_number_serializes_integral_as_int() -> None:
    assert out("number", Decimal("3")) == 3
    assert isinstance(out("number", Decimal("3.0")), int)
    assert out("number", Decimal("2.5")) == 2.5
    assert out("number", Decimal("1E+20")) == 1e20  # too wide for a JSON int
    assert out("number", None) is None


def test_number_filter() -> None:
    assert parse("number", "3.25") == Decimal("3.25")
    assert parse("number", " 7 ") == Decimal(7)
    parse_rejects("number", "seven")
    parse_rejects("number", "NaN")
    parse_rejects("number", "Infinity")
    parse_rejects("number", "")


# --- boolean ------------------------------------------------------------------------------


def test_boolean() -> None:
    assert check("boolean", True) is True
    assert check("boolean", False) is False
    for bad in (1, 0, "true", "false"):
        rejects("boolean", bad)


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_boolean_filter(raw: str, expected: bool) -> None:
    assert parse("boolean", raw) is expected


def test_boolean_filter_rejects() -> None:
    for bad in ("yes", "2", ""):
        parse_rejects("boolean", bad)


# --- date / datetime ----------------------------------------------------------------------


def test_date() -> None:
    assert check("date", "2024-02-29") == date(2024, 2, 29)
    for bad in ("2023-02-29", "20240101", "2024-1-1", "2024-01-01T00:00:00", 20240101):
        rejects("date", bad)
    assert out("date", date(2024, 1, 2)) == "2024-01-02"
    assert parse("date", "2024-01-02") == date(2024, 1, 2)
    parse_rejects("date", "yesterday")


def test_datetime_normalises_to_utc() -> None:
    assert check("datetime", "2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert check("datetime", "2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    # Naive means UTC.
    assert check("datetime", "2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    for bad in ("not a date", "2024-13-01T00:00:00Z", 1714557600, "x" * 100):
        rejects("datetime", bad)


def test_datetime_serializes_rfc3339_utc() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert out("datetime", moment) == "2024-05-01T10:00:00Z"
    assert parse("datetime", "2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    parse_rejects("datetime", "soon")


# --- email / url --------------------------------------------------------------------------


def test_email() -> None:
    assert check("email", "ada@example.com") == "ada@example.com"
    assert check("email", "a.b+c@sub.example.co.uk") == "a.b+c@sub.example.co.uk"
    for bad in ("plain", "a@b", "a @example.com", "a@@example.com", "@example.com", 5):
        rejects("email", bad)
    parse_rejects("email", "nope")


def test_email_length_limit() -> None:
    address = "a" * 242 + "@example.com"  # 254 characters
    assert check("email", address) == address
    rejects("email", "a" + address)


def test_url() -> None:
    assert check("url", "https://example.com/a?b=c") == "https://example.com/a?b=c"
    assert check("url", "http://localhost:8080") == "http://localhost:8080"
    for bad in (
        "example.com",
        "ftp://example.com",
        "https://",
        "https:///path",
        "javascript:alert(1)",
        "https://exa mple.com",
        "http://[::1",
        "https://example.com/" + "a" * 2048,
        7,
    ):
        rejects("url", bad)


# --- select / multi_select ----------------------------------------------------------------


def test_select() -> None:
    options = ["lead", "customer"]
    assert check("select", "lead", options=options) == "lead"
    rejects("select", "other", options=options)
    rejects("select", ["lead"], options=options)
    assert parse("select", "customer", options=options) == "customer"
    parse_rejects("select", "nobody", options=options)


def test_multi_select_drops_duplicates_keeping_order() -> None:
    options = ["a", "b", "c"]
    assert check("multi_select", ["c", "a", "c", "b", "a"], options=options) == ["c", "a", "b"]
    assert check("multi_select", [], options=options) == []
    rejects("multi_select", "a", options=options)
    rejects("multi_select", ["a", "z"], options=options)
    rejects("multi_select", ["a", 1], options=options)
    assert out("multi_select", ["a", "b"]) == ["a", "b"]
    assert parse("multi_select", "b", options=options) == "b"
    parse_rejects("multi_select", "z", options=options)


# --- clauses and indexes ------------------------------------------------------------------


def _table() -> Table:
    return Table(
        "t",
        MetaData(),
        Column("id", Text, primary_key=True),
        Column("name", REGISTRY["text"].column_type({})),
        Column("tags", REGISTRY["multi_select"].column_type({})),
    )


def test_eq_clause_is_equality_and_contains_for_multi_select() -> None:
    table = _table()
    text_clause = REGISTRY["text"].compile(table.c.name, "eq", "Ada")
    assert "t.name = %(name_1)s" in str(text_clause.compile(dialect=DIALECT))
    tags_clause = REGISTRY["multi_select"].compile(table.c.tags, "eq", "a")
    assert str(tags_clause.compile(dialect=DIALECT)) == "t.tags @> %(tags_1)s::TEXT[]"


def test_indexes_per_type() -> None:
    table = _table()
    btree = REGISTRY["text"].index("ix_name", table.c.name, table.c.id)
    assert btree is not None
    assert [str(e) for e in btree.expressions] == ["left(t.name, 200)", "t.id"]
    gin = REGISTRY["multi_select"].index("ix_tags", table.c.tags, table.c.id)
    assert gin is not None
    assert gin.dialect_options["postgresql"]["using"] == "gin"
    assert REGISTRY["long_text"].index("ix_bio", table.c.name, table.c.id) is None


def cell(type_name: str, raw: str, **kwargs: Any) -> Any:
    f = field("f", type_name, **kwargs)
    return f.type.parse_cell(f, raw)


@pytest.mark.parametrize(
    ("type_name", "raw", "expected"),
    [
        ("text", "  spaced, as is ", "  spaced, as is "),
        ("long_text", "two\nlines", "two\nlines"),
        ("number", "36", Decimal(36)),
        ("number", " -2.50 ", Decimal("-2.50")),
        ("number", "12345678901234567890.5", Decimal("12345678901234567890.5")),
        ("integer", "+42", 42),
        ("rating", "3", 3),
        ("boolean", "true", True),
        ("boolean", " Yes", True),
        ("boolean", "0", False),
        ("boolean", "OFF", False),
        ("date", " 2020-01-31 ", date(2020, 1, 31)),
        ("datetime", "2020-01-31T10:00:00+02:00", datetime(2020, 1, 31, 8, tzinfo=UTC)),
        ("duration", "90.5", Decimal("90.5")),
        ("duration", "1:30", Decimal(5400)),
        ("email", "ada@example.com", "ada@example.com"),
        ("select", "lead", "lead"),
        ("multi_select", '["b", "a"]', ["b", "a"]),
        ("multi_select", "b, a,b", ["b", "a"]),
        ("multi_select", "", []),
        ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("json", "null", None),
        ("json", "not json, a string", "not json, a string"),
    ],
)
def test_parse_cell_reads_text_into_the_stored_form(
    type_name: str, raw: str, expected: Any
) -> None:
    options = ["lead", "customer"] if type_name == "select" else ["a", "b"]
    assert cell(type_name, raw, options=options) == expected


@pytest.mark.parametrize(
    ("type_name", "raw"),
    [
        ("number", "abc"),
        ("number", "NaN"),
        ("number", "١٢"),
        ("integer", "1.5"),
        ("integer", "99999999999999999999"),
        ("rating", "9"),
        ("boolean", "maybe"),
        ("date", "31/12/2020"),
        ("date", "2020-02-30"),
        ("datetime", "yesterday"),
        ("email", "nope"),
        ("select", "prospect"),
        ("multi_select", '["a", "z"]'),
        ("multi_select", "[broken"),
        ("multi_select", '{"a": 1}'),
        ("text", "nul\x00"),
    ],
)
def test_parse_cell_refuses_what_the_type_cannot_hold(type_name: str, raw: str) -> None:
    f = field("f", type_name, options=["lead", "customer", "a", "b"])
    with pytest.raises(ValidationFailed) as caught:
        f.type.parse_cell(f, raw)
    assert caught.value.field == "f"


def test_number_cells_round_to_the_fields_decimal_places() -> None:
    f = replace(field("f", "number"), config_json='{"decimal_places": 1}')
    assert f.type.parse_cell(f, "2.57") == Decimal("2.6")


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("text", 'quotes " and, commas'),
        ("long_text", "two\nlines"),
        ("number", 2.5),
        ("number", Decimal("12345678901234567890.5")),
        ("integer", -42),
        ("boolean", False),
        ("date", "2020-01-31"),
        ("datetime", "2020-01-31T10:00:00.123456Z"),
        ("email", "ada@example.com"),
        ("url", "https://example.com/a?b=c"),
        ("phone", "+1 555 0100"),
        ("select", "a"),
        ("multi_select", ["b", "a"]),
        ("rating", 4),
        ("duration", 90.5),
        ("json", {"a": [1, 2.5, None]}),
        ("json", "a string"),
    ],
)
def test_every_type_reads_back_what_a_csv_export_writes(type_name: str, value: Any) -> None:
    f = field("f", type_name, options=["a", "b"])
    stored = f.type.validate(f, value)
    serialize = f.type.serializer(f.config)
    record = {"f": stored if serialize is None else serialize(stored)}
    table = RecordsCsv(["f"])
    table.header()
    text = table.rows(orjson.dumps(record) + b"\n").decode()
    (written,) = next(csv.reader(io.StringIO(text, newline="")))
    assert f.type.parse_cell(f, written) == stored
