from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import Select

from services.kit.fields import REGISTRY
from services.records.repository import (
    Condition,
    Group,
    Keyset,
    ListQuery,
    RecordTables,
    SortSpec,
    build_table,
    count_statement,
    count_trigger_sql,
    list_statement,
)
from tests.factories.records import contacts_schema, field, schema, with_fields

DIALECT = postgresql.dialect()
SCHEMA = contacts_schema()
F = SCHEMA.by_slug
RT = build_table(SCHEMA)


def sql(statement: Select[object]) -> str:
    return " ".join(str(statement.compile(dialect=DIALECT)).split())


def query(*sort: SortSpec, where: Group | Condition | None = None, limit: int = 50) -> ListQuery:
    return ListQuery(sort=sort, filter=where, limit=limit, offset=0)


def order_by(statement: Select[object]) -> str:
    text = sql(statement)
    return text[text.index("ORDER BY") + len("ORDER BY ") : text.index(" LIMIT")]


def test_table_layout_follows_the_definition() -> None:
    table = RT.table
    assert table.schema == SCHEMA.app_id
    assert table.name == SCHEMA.id
    assert [c.name for c in table.columns] == [
        "id",
        *(f.id for f in SCHEMA.fields),
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ]
    ddl = " ".join(str(CreateTable(table, if_not_exists=True).compile(dialect=DIALECT)).split())
    assert f"CREATE TABLE IF NOT EXISTS {SCHEMA.app_id}.{SCHEMA.id}" in ddl
    assert f"{F['tags'].id} TEXT[]" in ddl
    assert "PRIMARY KEY (id)" in ddl


def test_indexes_btree_for_sortable_gin_for_multi_select() -> None:
    indexes = {str(i.name): i for i in RT.table.indexes}
    sortable = [f for f in SCHEMA.fields if f.type.sortable]
    for f in sortable:
        assert str(indexes[f"ix_{f.id}"].expressions[-1]).endswith(".id")
    assert indexes[f"ix_{F['tags'].id}"].dialect_options["postgresql"]["using"] == "gin"
    assert f"ix_{F['bio'].id}" not in indexes
    assert f"ix_{SCHEMA.id}_created_at" in indexes


def test_quoting_is_left_to_the_dialect() -> None:
    odd = schema(field("name", id="Fld-Odd"), id="Sch Odd", app_id="App")
    text = sql(list_statement(build_table(odd), query()))
    assert '"App"."Sch Odd"."Fld-Odd"' in text


def test_default_order_is_creation_then_id() -> None:
    assert order_by(list_statement(RT, query())) == (
        f"{RT.table.fullname}.created_at ASC, {RT.table.fullname}.id ASC"
    )


def test_sort_keys_then_id_in_the_first_keys_direction() -> None:
    name, age = F["name"].id, F["age"].id
    t = RT.table.fullname
    statement = list_statement(RT, query(SortSpec(F["name"], True), SortSpec(F["age"])))
    assert order_by(statement) == (f"left({t}.{name}, 200) DESC, {t}.{age} ASC, {t}.id DESC")


def test_keyset_of_one_direction_is_a_row_comparison() -> None:
    t = RT.table.fullname
    after = Keyset(values=(Decimal(3),), record_id="rec_x")
    statement = list_statement(
        RT, ListQuery(sort=(SortSpec(F["age"], True),), filter=None, limit=5, after=after)
    )
    assert f"({t}.{F['age'].id}, {t}.id) < (" in sql(statement)


def test_keyset_of_mixed_directions_expands() -> None:
    after = Keyset(values=(Decimal(3), None), record_id="rec_x")
    statement = list_statement(
        RT,
        ListQuery(
            sort=(SortSpec(F["age"], True), SortSpec(F["born"] if "born" in F else F["birthday"])),
            filter=None,
            limit=5,
            after=after,
        ),
    )
    assert " OR " in sql(statement)


def test_filters_and_together_and_paging_is_limit_offset() -> None:
    statement = list_statement(
        RT,
        ListQuery(
            sort=(),
            filter=Group(
                any=False,
                members=(
                    Condition(F["status"], "eq", "lead"),
                    Condition(F["tags"], "eq", "a"),
                ),
            ),
            limit=20,
            offset=40,
        ),
    )
    text = sql(statement)
    t = RT.table.fullname
    assert f"WHERE {t}.{F['status'].id} = " in text
    assert f"{t}.{F['tags'].id} @> " in text
    params = statement.compile(dialect=DIALECT).params
    assert sorted(v for v in params.values() if isinstance(v, int)) == [20, 40]


def test_count_uses_the_same_filters_without_order_or_paging() -> None:
    spec = Condition(F["active"], "eq", True)
    text = sql(count_statement(RT, query(SortSpec(F["name"]), where=spec)))
    assert text.startswith(f"SELECT count(*) AS count_1 FROM {RT.table.fullname} WHERE")
    assert "ORDER BY" not in text
    assert "LIMIT" not in text


def test_selected_columns_are_in_record_key_order() -> None:
    text = sql(list_statement(RT, query()))
    select_list = text[len("SELECT ") : text.index(" FROM")]
    names = [part.rsplit(".", 1)[1] for part in select_list.split(", ")]
    assert names == ["id", *(f.id for f in SCHEMA.fields), "created_at", "updated_at", "version"]


def test_to_record_orders_keys_and_serialises() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    values: dict[str, object] = {f.id: None for f in SCHEMA.fields}
    values[F["name"].id] = "Ada"
    values[F["age"].id] = Decimal("36")
    values[F["birthday"].id] = date(1815, 12, 10)
    values[F["tags"].id] = ["a"]
    row = ("rec_1", *(values[f.id] for f in SCHEMA.fields), moment, moment, 1)
    record = RT.to_record(row)
    assert list(record) == [
        "id",
        *(f.slug for f in SCHEMA.fields),
        "created_at",
        "updated_at",
        "version",
    ]
    assert record["id"] == "rec_1"
    assert record["name"] == "Ada"
    assert record["age"] == 36
    assert record["birthday"] == "1815-12-10"
    assert record["tags"] == ["a"]
    assert record["email"] is None
    assert record["created_at"] == "2024-01-02T03:04:05Z"


def test_tables_are_cached_per_schema_version() -> None:
    cache = RecordTables(max_entries=2)
    first = cache.get(SCHEMA)
    assert cache.get(SCHEMA) is first
    newer = with_fields(SCHEMA, field("mobile", "phone"))
    second = cache.get(newer)
    assert second is not first
    assert second.table.c[newer.by_slug["mobile"].id].type.compile(dialect=DIALECT) == "TEXT"
    assert cache.get(SCHEMA) is first
    cache.get(schema(field("x")))  # a third schema pushes out the least recently used
    assert cache.get(newer) is not second


def test_number_column_is_numeric() -> None:
    assert RT.table.c[F["age"].id].type.compile(dialect=DIALECT) == "NUMERIC"
    assert REGISTRY["number"].sortable


def test_count_triggers_cover_every_kind_of_write() -> None:
    function, *triggers = count_trigger_sql(DIALECT, RT)
    assert function.startswith(
        f"CREATE OR REPLACE FUNCTION {SCHEMA.app_id}._count_records() RETURNS trigger"
    )
    assert f"UPDATE {SCHEMA.app_id}._record_counts SET n = n + delta" in function
    assert [t.split(" ON ")[0].split()[-3:] for t in triggers] == [
        ["records_inserted", "AFTER", "INSERT"],
        ["records_updated", "BEFORE", "UPDATE"],
        ["records_deleted", "AFTER", "DELETE"],
        ["records_truncated", "AFTER", "TRUNCATE"],
    ]
    assert all(f"ON {RT.table.fullname} " in t for t in triggers)
