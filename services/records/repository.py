"""All SQL of the records service, DDL included.

Records live in one real table per schema: PostgreSQL schema = the app's id, table = the
schema's id, one column per field named by the field's id, plus id / created_at /
updated_at. Tenancy is structural here: a RecordTable is only ever built from a definition
the schema service resolved for the caller's tenant, and ids are unguessable, so no
statement can reach another tenant's app schema.

Table objects (and the statements that never change) are built once per (schema id,
version) and cached, so the hot path neither rebuilds them nor defeats SQLAlchemy's
compiled-statement cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    Row,
    Select,
    SmallInteger,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable
from sqlalchemy.sql.elements import ColumnElement

from services.kit.clock import rfc3339
from services.records import tables
from services.records.fields import FieldType, Serializer
from services.records.schemas import SchemaDef

ID = "id"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
SYSTEM_COLUMNS = (ID, CREATED_AT, UPDATED_AT)

# DDL waits at most this long for a lock (a long transaction on the table) before giving up.
DDL_LOCK_TIMEOUT = "5s"

# Row counts per record table, kept by statement-level triggers in the app's own schema, so
# an unfiltered list's total is a sum of a few rows instead of a scan of the whole table.
# Writers add to one of COUNT_SLOTS rows chosen by transaction id, so concurrent writers
# rarely wait on one another and one transaction never locks two slots.
COUNTS_TABLE = "_record_counts"
COUNT_FUNCTION = "_count_records"
COUNT_SLOTS = 16


@dataclass(frozen=True, slots=True)
class RecordTable:
    """A schema version's physical table and how its rows become records."""

    schema: SchemaDef
    table: Table
    # Selected in record-key order: id, fields by position, created_at, updated_at.
    columns: tuple[Column[Any], ...]
    keys: tuple[str, ...]
    serializers: tuple[Serializer, ...]
    get_statement: Select[Any]
    counts: Table
    # Sum of the counters; NULL when they do not exist.
    total_statement: Select[Any]

    def to_record(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if fn is None or value is None else fn(value)
            for key, fn, value in zip(self.keys, self.serializers, row, strict=True)
        }


def build_table(schema: SchemaDef) -> RecordTable:
    metadata = MetaData(schema=schema.app_id)
    id_column = Column(ID, Text, primary_key=True)
    field_columns = [Column(f.id, f.type.column_type(), nullable=True) for f in schema.fields]
    created = Column(CREATED_AT, DateTime(timezone=True), nullable=False, server_default=func.now())
    updated = Column(UPDATED_AT, DateTime(timezone=True), nullable=False, server_default=func.now())
    table = Table(schema.id, metadata, id_column, *field_columns, created, updated)
    # Indexes built on the table's columns attach themselves to it (table.indexes).
    for f, column in zip(schema.fields, field_columns, strict=True):
        f.type.index(f"ix_{f.id}", column, id_column)
    # The default order and the "changed since" order.
    Index(f"ix_{schema.id}_{CREATED_AT}", created, id_column)
    Index(f"ix_{schema.id}_{UPDATED_AT}", updated, id_column)
    columns = (id_column, *field_columns, created, updated)
    counts = Table(
        COUNTS_TABLE,
        metadata,
        Column("schema_id", Text, primary_key=True),
        Column("slot", SmallInteger, primary_key=True),
        Column("n", BigInteger, nullable=False),
    )
    return RecordTable(
        schema=schema,
        table=table,
        columns=columns,
        keys=(ID, *(f.slug for f in schema.fields), CREATED_AT, UPDATED_AT),
        serializers=(None, *(f.type.serializer() for f in schema.fields), rfc3339, rfc3339),
        get_statement=select(*columns).where(id_column == bindparam("record_id")),
        counts=counts,
        total_statement=select(func.sum(counts.c.n)).where(counts.c.schema_id == schema.id),
    )


class RecordTables:
    """RecordTables per (schema id, version), least recently used dropped past a bound."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, int], RecordTable] = OrderedDict()

    def get(self, schema: SchemaDef) -> RecordTable:
        key = (schema.id, schema.version)
        entry = self._entries.get(key)
        if entry is not None and (entry.schema is schema or entry.schema == schema):
            self._entries.move_to_end(key)
            return entry
        entry = build_table(schema)
        self._entries[key] = entry
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortSpec:
    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class FilterSpec:
    column: str
    type: FieldType
    value: Any


@dataclass(frozen=True, slots=True)
class ListQuery:
    sort: tuple[SortSpec, ...]
    filters: tuple[FilterSpec, ...]
    limit: int
    offset: int


def _where(rt: RecordTable, filters: Sequence[FilterSpec]) -> list[ColumnElement[bool]]:
    return [spec.type.eq_clause(rt.table.c[spec.column], spec.value) for spec in filters]


def list_statement(rt: RecordTable, query: ListQuery) -> Select[Any]:
    """One page. Ties are always broken by id ascending, so paging is stable; without a
    sort, records come in creation order."""
    c = rt.table.c
    sort = query.sort or (SortSpec(CREATED_AT),)
    order = [c[s.column].desc() if s.descending else c[s.column].asc() for s in sort]
    if all(s.column != ID for s in sort):
        order.append(c[ID].asc())
    return (
        select(*rt.columns)
        .where(*_where(rt, query.filters))
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )


def count_statement(rt: RecordTable, query: ListQuery) -> Select[Any]:
    return select(func.count()).select_from(rt.table).where(*_where(rt, query.filters))


async def _conn(session: AsyncSession) -> AsyncConnection:
    # Core statements on the session's connection skip the ORM's execution machinery.
    return await session.connection()


async def insert_record(
    session: AsyncSession, rt: RecordTable, record_id: str, values: Mapping[str, Any]
) -> Row[Any]:
    conn = await _conn(session)
    statement = insert(rt.table).values({ID: record_id, **values}).returning(*rt.columns)
    return (await conn.execute(statement)).one()


async def get_record(session: AsyncSession, rt: RecordTable, record_id: str) -> Row[Any] | None:
    conn = await _conn(session)
    return (await conn.execute(rt.get_statement, {"record_id": record_id})).first()


async def update_record(
    session: AsyncSession, rt: RecordTable, record_id: str, values: Mapping[str, Any]
) -> Row[Any] | None:
    conn = await _conn(session)
    c = rt.table.c
    statement = (
        update(rt.table)
        .where(c[ID] == record_id)
        .values({**values, UPDATED_AT: func.now()})
        .returning(*rt.columns)
    )
    return (await conn.execute(statement)).first()


async def delete_record(session: AsyncSession, rt: RecordTable, record_id: str) -> bool:
    conn = await _conn(session)
    c = rt.table.c
    statement = delete(rt.table).where(c[ID] == record_id).returning(c[ID])
    return (await conn.execute(statement)).first() is not None


async def list_records(
    session: AsyncSession, rt: RecordTable, query: ListQuery
) -> tuple[Sequence[Row[Any]], int]:
    conn = await _conn(session)
    total = None
    if not query.filters:
        total = (await conn.execute(rt.total_statement)).scalar()
    if total is None:
        total = (await conn.execute(count_statement(rt, query))).scalar_one()
    if total <= query.offset:
        return [], int(total)
    rows = (await conn.execute(list_statement(rt, query))).all()
    return rows, int(total)


# --- provisioning ----------------------------------------------------------------------


async def provision(session: AsyncSession, rt: RecordTable, *, tenant_id: str) -> bool:
    """Creates what the schema version needs: the app's PostgreSQL schema, the table, any
    missing columns and indexes. Idempotent; serialised per schema by an advisory lock and
    bounded by a lock timeout. False when this version (or a newer one) already was."""
    conn = await _conn(session)
    schema = rt.schema
    await conn.execute(text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
    # The app's lock guards what the app's schemas share (the PostgreSQL schema, the
    # counters, the trigger function); always taken before the schema's, so no deadlock.
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(schema.app_id))))
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(schema.id))))
    provisioned = tables.provisioned_schemas
    current = (
        await conn.execute(
            select(provisioned.c.version).where(provisioned.c.schema_id == schema.id)
        )
    ).scalar_one_or_none()
    if current is not None and current >= schema.version:
        return False
    await conn.execute(CreateSchema(schema.app_id, if_not_exists=True))
    await conn.execute(CreateTable(rt.table, if_not_exists=True))
    add_columns = add_columns_sql(conn.dialect, rt)
    if add_columns is not None:
        await conn.exec_driver_sql(add_columns)
    for index in sorted(rt.table.indexes, key=lambda i: str(i.name)):
        await conn.execute(CreateIndex(index, if_not_exists=True))
    await _provision_counts(conn, rt)
    upsert = pg_insert(provisioned).values(
        schema_id=schema.id, tenant_id=tenant_id, app_id=schema.app_id, version=schema.version
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[provisioned.c.schema_id],
            set_={
                "version": func.greatest(provisioned.c.version, upsert.excluded.version),
                "provisioned_at": func.now(),
            },
        )
    )
    return True


async def _provision_counts(conn: AsyncConnection, rt: RecordTable) -> None:
    await conn.execute(CreateTable(rt.counts, if_not_exists=True))
    for statement in count_trigger_sql(conn.dialect, rt):
        await conn.exec_driver_sql(statement)
    # Seeded after the triggers exist: creating them locked out writers until commit, so
    # the table's count cannot move between here and the first trigger firing.
    slots = (
        func.generate_series(0, COUNT_SLOTS - 1).table_valued("slot").render_derived(name="slots")
    )
    existing = select(func.count()).select_from(rt.table).scalar_subquery()
    seed = pg_insert(rt.counts).from_select(
        ["schema_id", "slot", "n"],
        select(
            literal(rt.schema.id),
            slots.c.slot,
            case((slots.c.slot == 0, existing), else_=literal(0)),
        ),
    )
    await conn.execute(seed.on_conflict_do_nothing())


def count_trigger_sql(dialect: Dialect, rt: RecordTable) -> list[str]:
    """The counting function (one per app schema) and the table's three triggers."""
    quote = dialect.identifier_preparer
    app = quote.quote_schema(rt.schema.app_id)
    counts = quote.format_table(rt.counts)
    function = f"{app}.{quote.quote(COUNT_FUNCTION)}"
    table = quote.format_table(rt.table)
    # Only identifiers rendered by the dialect's preparer and constants go in here.
    body = f"""
DECLARE
  delta bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE {counts} SET n = 0 WHERE schema_id = TG_TABLE_NAME;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO delta FROM new_rows;
  ELSE
    SELECT -count(*) INTO delta FROM old_rows;
  END IF;
  IF delta <> 0 THEN
    UPDATE {counts} SET n = n + delta
      WHERE schema_id = TG_TABLE_NAME AND slot = (txid_current() % {COUNT_SLOTS})::smallint;
  END IF;
  RETURN NULL;
END
"""  # noqa: S608
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql"
        f" AS $count${body}$count$",
        f"CREATE OR REPLACE TRIGGER records_inserted AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER records_deleted AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER records_truncated AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def add_columns_sql(dialect: Dialect, rt: RecordTable) -> str | None:
    """ALTER TABLE … ADD COLUMN IF NOT EXISTS for every field column (fields added after
    the table was created). Identifiers and types are rendered by SQLAlchemy's dialect."""
    quote = dialect.identifier_preparer
    field_columns = [col for col in rt.columns if col.name not in SYSTEM_COLUMNS]
    if not field_columns:
        return None
    clauses = ", ".join(
        f"ADD COLUMN IF NOT EXISTS {quote.format_column(col)} {col.type.compile(dialect=dialect)}"
        for col in field_columns
    )
    return f"ALTER TABLE {quote.format_table(rt.table)} {clauses}"


def sqlstate(error: DBAPIError) -> str | None:
    """The PostgreSQL SQLSTATE behind a driver error, when there is one."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


LOCK_NOT_AVAILABLE = "55P03"
# Concurrent creation of the same catalog object (e.g. two schemas of one app creating the
# app's PostgreSQL schema at once): retrying sees it exist.
CREATION_RACES = frozenset({"23505", "40P01", "42P06", "42P07", "42710"})
