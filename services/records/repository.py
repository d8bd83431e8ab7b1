"""All SQL of the records service, DDL included.

Records live in one real table per schema: PostgreSQL schema = the app's id, table = the
schema's id, one column per field that owns one (named by the field's id), plus the
system columns every record has: id, version, created_at, updated_at, created_by,
updated_by; fields of the created_at/updated_at/created_by/updated_by types read those.
Tenancy is structural here: a RecordTable is only ever built from a definition the schema
service resolved for the caller's tenant, and ids are unguessable, so no statement can
reach another tenant's app schema.

Table objects (and the statements that never change) are built once per (schema id,
version) and cached, so the hot path neither rebuilds them nor defeats SQLAlchemy's
compiled-statement cache."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    SmallInteger,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import replacement_traverse

from services.kit.clock import rfc3339
from services.kit.db import (
    ALL_TENANTS,
    DRIVER_DIALECT,
    DriverStatement,
    Executor,
    act_in,
    copy_rows,
    driver_of,
    is_read_connection,
    json_text,
)
from services.kit.fields import RECORD_ID_TYPE, REGISTRY, Serializer, sql_text_array
from services.kit.ids import new_id
from services.kit.json import dumps_exact, loads_exact
from services.kit.privacy import AllOf, FieldTest, NoneOf, Residual, SchemaAccess
from services.kit.tenancy import TenantTable
from services.records import tables
from services.records.schemas import FieldDef, SchemaDef
from services.records.totals import Totals, reads_only

log = logging.getLogger(__name__)

ID = "id"
VERSION = "version"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
CREATED_BY = "created_by"
UPDATED_BY = "updated_by"
SYSTEM_COLUMNS = (ID, VERSION, CREATED_AT, UPDATED_AT, CREATED_BY, UPDATED_BY)

# Built-in keys seen as fields, so sorting and filtering on them goes through the same
# catalogue as user fields. Their id is the column name.
SYSTEM_FIELDS: Mapping[str, FieldDef] = {
    ID: FieldDef(id=ID, slug=ID, name="Id", type=RECORD_ID_TYPE),
    CREATED_AT: FieldDef(id=CREATED_AT, slug=CREATED_AT, name="Created", type=REGISTRY[CREATED_AT]),
    UPDATED_AT: FieldDef(id=UPDATED_AT, slug=UPDATED_AT, name="Updated", type=REGISTRY[UPDATED_AT]),
}
_CREATED_AT_FIELD = SYSTEM_FIELDS[CREATED_AT]

# DDL waits at most this long for a lock (a long transaction on the table) before giving up.
DDL_LOCK_TIMEOUT = "5s"

# Row counts per record table, kept by statement-level triggers in the app's own schema, so
# an unfiltered list's total is a sum of a few rows instead of a scan of the whole table;
# beside them, how many writes the table has seen, so a filtered list's total can be
# reused until the next one (services.records.totals).
# Writers add to one of COUNT_SLOTS rows chosen by transaction id, so concurrent writers
# rarely wait on one another and one transaction never locks two slots.
COUNTS_TABLE = "_record_counts"
COUNT_FUNCTION = "_count_records"
COUNT_SLOTS = 16
AUTOVACUUM_SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200,"
    " autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02"
)


# What of each searchable field goes into the search document.
SEARCH_CHARS_PER_FIELD = 20_000
_SEARCH_CHARS: ColumnElement[int] = literal_column(str(SEARCH_CHARS_PER_FIELD))


def _digest(names: Iterable[str]) -> str:
    """A short name part that changes when the set of searchable columns does."""
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:10]


def _driver_sql(statement: Select[Any]) -> str:
    return str(statement.compile(dialect=DRIVER_DIALECT))


# A column a multi-row insert leaves to its server default.
_DEFAULT = text("DEFAULT")


@dataclass(frozen=True, slots=True)
class RecordTable:
    """A schema version's physical table and how its rows become records."""

    schema: SchemaDef
    table: Table
    # Selected in record-key order: id, fields by position, created_at, updated_at, version.
    columns: tuple[ColumnElement[Any], ...]
    keys: tuple[str, ...]
    serializers: tuple[Serializer, ...]
    get_statement: Select[Any]
    # get_statement as PostgreSQL receives it, its one parameter the record id.
    get_sql: str
    counts: Table
    # Sum of the counters; NULL when they do not exist.
    total_statement: Select[Any]
    # Sum of the change counters: moves with every committed write to the table.
    changes_statement: Select[Any]
    # The two sums as the driver takes them, their one parameter the schema id.
    total_sql: str
    changes_sql: str
    # Field id (or system column name) -> the column holding its values.
    column_of: Mapping[str, Column[Any]]
    # The full-text document of a record (its searchable fields), or None without any.
    search_vector: ColumnElement[Any] | None
    # Link field id -> its join table (record_id, target_id, position).
    links: Mapping[str, Table]
    # The single-record insert and update, compiled for the driver per set of columns
    # written (and, for updates, whether a version is expected): see insert_record.
    driver_writes: dict[tuple[Any, ...], DriverStatement] = field(default_factory=dict)

    def to_record(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if fn is None or value is None else fn(value)
            for key, fn, value in zip(self.keys, self.serializers, row, strict=True)
        }

    def field_column(self, f: FieldDef) -> Column[Any]:
        return self.column_of[f.type.system_column or f.id]


def system_columns() -> list[Column[Any]]:
    return [
        Column(ID, Text, primary_key=True),
        Column(VERSION, BigInteger, nullable=False, server_default=text("1")),
        Column(CREATED_AT, DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column(UPDATED_AT, DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column(CREATED_BY, Text, nullable=True),
        Column(UPDATED_BY, Text, nullable=True),
    ]


def field_column(f: FieldDef) -> Column[Any]:
    column_type = f.type.column_type(f.config)
    if f.type.name == "autonumber":
        # Existing rows are numbered when the column is added; new ones as they come.
        return Column(f.id, column_type, Identity(), nullable=False)
    return Column(f.id, column_type, nullable=True)


def build_table(schema: SchemaDef) -> RecordTable:
    metadata = MetaData(schema=schema.app_id)
    system = system_columns()
    by_name = {c.name: c for c in system}
    owned = [f for f in schema.fields if f.has_column]
    field_columns = [field_column(f) for f in owned]
    table = Table(schema.id, metadata, *system[:1], *field_columns, *system[1:])
    id_column = by_name[ID]
    # Indexes built on the table's columns attach themselves to it (table.indexes).
    for f, column in zip(owned, field_columns, strict=True):
        f.type.index(f"ix_{f.id}", column, id_column)
        if f.unique:
            f.type.unique_index(f"uq_{f.id}", column)
    # The default order and the "changed since" order.
    Index(f"ix_{schema.id}_{CREATED_AT}", by_name[CREATED_AT], id_column)
    Index(f"ix_{schema.id}_{UPDATED_AT}", by_name[UPDATED_AT], id_column)
    column_of: dict[str, Column[Any]] = {c.name: c for c in table.columns}
    links = {f.id: _link_table(metadata, f, id_column) for f in schema.fields if f.is_link}
    selected: list[ColumnElement[Any]] = [
        id_column,
        *(
            # Links are read from their own table after the page; a NULL holds their place.
            null().label(f.id) if f.is_link else column_of[f.type.system_column or f.id]
            for f in schema.fields
        ),
        by_name[CREATED_AT],
        by_name[UPDATED_AT],
        by_name[VERSION],
    ]
    counts = Table(
        COUNTS_TABLE,
        metadata,
        Column("schema_id", Text, primary_key=True),
        Column("slot", SmallInteger, primary_key=True),
        Column("n", BigInteger, nullable=False),
        Column("changes", BigInteger, nullable=False, server_default=text("0")),
    )
    searchable = [column_of[f.id] for f in owned if f.type.searchable]
    vector = None
    if searchable:
        # Bounded per field: a tsvector holds at most 1 MB, and any valid value must be
        # storable while the index exists.
        # || of coalesced parts, not concat_ws: an index expression must be immutable.
        parts: list[ColumnElement[Any]] = []
        for c in searchable:
            if parts:
                parts.append(literal_column("' '"))
            parts.append(func.coalesce(func.left(c, _SEARCH_CHARS), literal_column("''")))
        document = parts[0]
        for part in parts[1:]:
            document = document.op("||")(part)
        # Punctuation splits words, so "ada@lovelace.example" is found by "lovelace".
        words = func.regexp_replace(document, literal_column("'[[:punct:]]+'"), " ", "g")
        vector = func.to_tsvector(literal_column("'simple'::regconfig"), words)
        Index(
            f"ix_{schema.id}_search_{_digest(c.name for c in searchable)}",
            vector,
            postgresql_using="gin",
        )
    get_statement = select(*selected).where(id_column == bindparam("record_id"))
    total_statement = select(func.sum(counts.c.n)).where(counts.c.schema_id == schema.id)
    changes_statement = select(func.sum(counts.c.changes)).where(counts.c.schema_id == schema.id)
    return RecordTable(
        schema=schema,
        table=table,
        columns=tuple(selected),
        keys=(ID, *(f.slug for f in schema.fields), CREATED_AT, UPDATED_AT, VERSION),
        serializers=(
            None,
            *(f.type.serializer(f.config) for f in schema.fields),
            rfc3339,
            rfc3339,
            None,
        ),
        get_statement=get_statement,
        get_sql=_driver_sql(get_statement),
        counts=counts,
        total_statement=total_statement,
        changes_statement=changes_statement,
        total_sql=_driver_sql(total_statement),
        changes_sql=_driver_sql(changes_statement),
        column_of=column_of,
        search_vector=vector,
        links=links,
    )


def _link_table(metadata: MetaData, f: FieldDef, id_column: Column[Any]) -> Table:
    """lnk_<field id>: which records a record links to, in order. Removing the record
    removes its links; removing a target is handled by unlink() (the target may live in
    another schema, provisioned on its own)."""
    return Table(
        f"lnk_{f.id}",
        metadata,
        Column(
            "record_id",
            Text,
            ForeignKey(id_column, ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("target_id", Text, primary_key=True),
        Column("position", Integer, nullable=False),
        Index(f"ix_lnk_{f.id}_target", "target_id"),
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
    field: FieldDef
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    field: FieldDef
    op: str
    # In stored form, as FieldType.operand() made it.
    operand: Any


@dataclass(frozen=True, slots=True)
class Group:
    # True: any member may hold (OR); False: all must (AND).
    any: bool
    members: tuple[FilterNode, ...]


FilterNode = Condition | Group


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where the previous page ended: the sort keys' values of its last record and its id."""

    values: tuple[Any, ...]
    record_id: str


@dataclass(frozen=True, slots=True)
class ListQuery:
    sort: tuple[SortSpec, ...]
    filter: FilterNode | None
    limit: int
    offset: int = 0
    after: Keyset | None = None
    count: bool = True
    # A tsquery (prefix terms joined by &); records must match it.
    search: str | None = None
    # The caller's privacy rules: only records it may find count, and per found record
    # which of the rules' branches hold (selected last, for per-record field masks).
    visible: ColumnElement[bool] | None = None
    flags: tuple[ColumnElement[bool], ...] = ()


@dataclass(frozen=True, slots=True)
class RowAccess:
    """One principal's privacy rules on one table, as SQL. A None predicate allows every
    record."""

    find: ColumnElement[bool] | None
    create: ColumnElement[bool] | None
    update: ColumnElement[bool] | None
    delete: ColumnElement[bool] | None
    # Per way of finding a record: whether it holds for a row, and the record keys it
    # shows (None: all). Empty when every found record shows the same keys.
    flags: tuple[ColumnElement[bool], ...]
    branch_keys: tuple[frozenset[str] | None, ...]
    # Record keys that can be shown at all (None: all), and field ids the caller may
    # filter, sort and search on (None: all).
    readable: frozenset[str] | None
    usable: frozenset[str] | None
    # "create", "update", "delete": what the rules allow on no record at all.
    denied: frozenset[str] = frozenset()


UNLIMITED = RowAccess(None, None, None, None, (), (), None, None)
# Keys every found record shows, whatever the rules say of fields.
ALWAYS_SHOWN = frozenset({ID, VERSION, CREATED_AT, UPDATED_AT})


def compile_access(rt: RecordTable, access: SchemaAccess) -> RowAccess:
    if not access.bound:
        return UNLIMITED

    def predicate(condition: bool | Residual) -> ColumnElement[bool] | None:
        if condition is True:
            return None
        if condition is False:
            return false()
        return _residual(rt, condition)

    def keys(field_ids: frozenset[str] | None) -> frozenset[str] | None:
        if field_ids is None:
            return None
        by_id = rt.schema.by_id
        return ALWAYS_SHOWN | {by_id[i].slug for i in field_ids if i in by_id}

    branches = [(predicate(branch.when), keys(branch.fields)) for branch in access.find]
    ways = [when for when, _ in branches if when is not None]
    if len(ways) < len(branches):
        find: ColumnElement[bool] | None = None
    else:
        find = or_(*ways) if ways else false()
    flags: tuple[ColumnElement[bool], ...] = ()
    branch_keys: tuple[frozenset[str] | None, ...] = ()
    if not access.uniform_fields:
        flags = tuple(literal(True) if when is None else when for when, _ in branches)
        branch_keys = tuple(shown for _, shown in branches)
    return RowAccess(
        find=find,
        create=predicate(access.create),
        update=predicate(access.update),
        delete=predicate(access.delete),
        flags=flags,
        branch_keys=branch_keys,
        readable=keys(access.readable),
        usable=access.usable,
        denied=frozenset(
            action
            for action, allowed in (
                ("create", access.create),
                ("update", access.update),
                ("delete", access.delete),
            )
            if allowed is False
        ),
    )


def creation_checks(access: RowAccess) -> list[ColumnElement[Any]]:
    """What a new row returns after its columns: whether the rules let the caller create
    it (True when nothing limits creation), then the flags saying which fields it sees."""
    if access is UNLIMITED:
        return []
    allowed = access.create if access.create is not None else literal(True)
    return [allowed.label("_may_create"), *access.flags]


def _residual(rt: RecordTable, node: Residual, *, negated: bool = False) -> ColumnElement[bool]:
    """A rule's condition about the record. Where a rule must not hold (the default's "no
    rule holds"), an unknown (NULL) counts as not holding; elsewhere a WHERE treats NULL
    as false already, and a bare comparison keeps the field's index usable."""
    if isinstance(node, FieldTest):
        f = rt.schema.by_id.get(node.field_id) or SYSTEM_FIELDS.get(node.field_id)
        if f is None:
            # The field was deleted since the rule was written: the test holds for none.
            return false()
        try:
            operand = f.type.operand(f, node.op, node.value, text=False)
        except ValueError:
            return false()
        test = compile_filter(rt, Condition(field=f, op=node.op, operand=operand))
        return func.coalesce(test, false()) if negated else test
    if isinstance(node, NoneOf):
        return not_(or_(*[_residual(rt, member, negated=True) for member in node.members]))
    members = [_residual(rt, member, negated=negated) for member in node.members]
    return and_(*members) if isinstance(node, AllOf) else or_(*members)


def compile_filter(rt: RecordTable, node: FilterNode) -> ColumnElement[bool]:
    if isinstance(node, Condition):
        if node.field.is_link:
            return _link_condition(rt, node)
        column = rt.field_column(node.field)
        return node.field.type.compile(column, node.op, node.operand)
    parts = [compile_filter(rt, member) for member in node.members]
    if not parts:
        return literal(True) if not node.any else false()
    return or_(*parts) if node.any else and_(*parts)


def _tsquery(query: ListQuery) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'::regconfig"), query.search)


def rank(rt: RecordTable, query: ListQuery) -> ColumnElement[Any] | None:
    """How well a record matches the search, when results are ordered by it."""
    if query.search is None or query.sort or rt.search_vector is None:
        return None
    return func.ts_rank(rt.search_vector, _tsquery(query))


def _link_condition(rt: RecordTable, node: Condition) -> ColumnElement[bool]:
    link = rt.links[node.field.id]
    mine = link.c.record_id == rt.column_of[ID]
    if node.op == "empty":
        return ~exists().where(mine)
    if node.op == "nempty":
        return exists().where(mine)
    among = link.c.target_id.in_(list(node.operand))
    if node.op == "has_any":
        return exists().where(mine, among)
    if node.op == "has_none":
        return ~exists().where(mine, among)
    if node.op == "has_all":
        held = select(func.count()).select_from(link).where(mine, among).scalar_subquery()
        return held == len(set(node.operand))
    raise ValueError(node.op)


def visible(rt: RecordTable, access: RowAccess, tree: FilterNode | None) -> ColumnElement[bool]:
    """Whether a row is one the caller finds and, with a filter, one it matches."""
    conditions = [] if tree is None else [compile_filter(rt, tree)]
    if access.find is not None:
        conditions.append(access.find)
    return and_(*conditions) if conditions else literal(True)


def _where(rt: RecordTable, query: ListQuery) -> list[ColumnElement[bool]]:
    conditions = [] if query.filter is None else [compile_filter(rt, query.filter)]
    if query.visible is not None:
        conditions.append(query.visible)
    if query.search is not None:
        if rt.search_vector is None:
            conditions.append(false())
        else:
            conditions.append(rt.search_vector.op("@@")(_tsquery(query)))
    return conditions


def sort_keys(rt: RecordTable, query: ListQuery) -> list[tuple[ColumnElement[Any], bool]]:
    """(expression, descending) per key, ending with the id. Without a sort, records come
    in creation order. The id breaks ties in the direction of the first key, so that a
    single-key order is one index scan, forwards or backwards."""
    ranked = rank(rt, query)
    if ranked is not None:
        # Best match first.
        return [(ranked, True), (rt.column_of[ID], True)]
    sort = query.sort or (SortSpec(_CREATED_AT_FIELD),)
    keys = [(s.field.type.sort_key(rt.field_column(s.field)), s.descending) for s in sort]
    keys.append((rt.column_of[ID], sort[0].descending))
    return keys


def list_statement(rt: RecordTable, query: ListQuery, *, null_tail: bool = False) -> Select[Any]:
    """One page. With `null_tail`, the records whose (ascending, single) sort key is NULL,
    which come after all others: see list_records()."""
    keys = sort_keys(rt, query)
    order = [key.desc() if descending else key.asc() for key, descending in keys]
    ranked = rank(rt, query)
    # A ranked page also selects the rank, after the columns, for the next cursor; the
    # privacy rules' flags come last.
    selected = [*rt.columns] if ranked is None else [*rt.columns, ranked]
    selected.extend(query.flags)
    statement = select(*selected).where(*_where(rt, query))
    if null_tail:
        statement = statement.where(keys[0][0].is_(None))
    elif query.after is not None:
        statement = statement.where(_after(keys, query.after))
    return statement.order_by(*order).limit(query.limit).offset(query.offset)


def export_statement(rt: RecordTable, query: ListQuery) -> Select[Any]:
    """Every record the query selects, in the list's order, in one statement: no page, no
    keyset (ascending, PostgreSQL puts NULLs last on its own, as the list's tail does)."""
    keys = sort_keys(rt, query)
    order = [key.desc() if descending else key.asc() for key, descending in keys]
    return select(*rt.columns, *query.flags).where(*_where(rt, query)).order_by(*order)


def has_null_tail(rt: RecordTable, query: ListQuery) -> bool:
    """Whether a keyset page sorted by one ascending key from a non-NULL boundary reads
    its NULL records separately. In one statement the `OR key IS NULL` would keep the
    index from jumping to the boundary, and a deep page would cost a scan."""
    if query.after is None or query.after.values[0] is None:
        return False
    keys = sort_keys(rt, query)
    return len(keys) == 2 and not keys[0][1]


def _after(keys: list[tuple[ColumnElement[Any], bool]], after: Keyset) -> ColumnElement[bool]:
    """Records strictly after the keyset in the order `keys` defines. PostgreSQL sorts
    NULL last ascending and first descending."""
    # SQLAlchemy refuses `>` with a bare True/False: those are bound as literals.
    values: list[Any] = [
        literal(raw, type_=key.type) if isinstance(raw, bool) else raw
        for (key, _), raw in zip(keys, [*after.values, after.record_id], strict=True)
    ]
    if len(keys) == 2 and values[0] is not None:
        # One sort key (then the id, same direction) and no NULL at the boundary: a row
        # comparison the index serves, plus the NULL group that (ascending) lies ahead.
        descending = keys[0][1]
        exprs = [key for key, _ in keys]
        boundary = (
            tuple_(*exprs) < tuple_(*values) if descending else tuple_(*exprs) > tuple_(*values)
        )
        # Ascending, the NULL group comes after: list_records() reads it on its own.
        return boundary
    # The general case: some key beyond its value, all earlier keys equal to theirs.
    alternatives = []
    for index, (key, descending) in enumerate(keys):
        value = values[index]
        earlier = [
            k.is_(None) if v is None else k == v
            for (k, _), v in zip(keys[:index], values[:index], strict=True)
        ]
        if value is None:
            beyond: ColumnElement[bool] = key.is_not(None) if descending else false()
        elif descending:
            beyond = key < value
        else:
            beyond = or_(key > value, key.is_(None))
        alternatives.append(and_(*earlier, beyond))
    return or_(*alternatives)


def count_statement(rt: RecordTable, query: ListQuery) -> Select[Any]:
    return select(func.count()).select_from(rt.table).where(*_where(rt, query))


def with_changes(rt: RecordTable, count: Select[Any]) -> Select[Any]:
    """A count and, from the same snapshot, the table's change counter."""
    return count.add_columns(rt.changes_statement.scalar_subquery())


async def _conn(db: Executor) -> AsyncConnection:
    # Core statements on the session's connection skip the ORM's execution machinery.
    return db if isinstance(db, AsyncConnection) else await db.connection()


class UniqueViolation(Exception):
    """A write gave a unique field a value another record holds."""

    def __init__(self, field_id: str) -> None:
        super().__init__(field_id)
        self.field_id = field_id


def _unique_violation(error: IntegrityError) -> UniqueViolation | None:
    if sqlstate(error) != UNIQUE_VIOLATION:
        return None
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str) and name.startswith("uq_"):
            return UniqueViolation(name.removeprefix("uq_"))
    return None


async def _write(conn: AsyncConnection, statement: Any, *, savepoint: bool = False) -> Any:
    """Runs a write; a unique field's duplicate surfaces as UniqueViolation. With
    `savepoint`, the caller's transaction stays usable after one (two more round trips,
    so only where the caller goes on)."""
    try:
        if not savepoint:
            return await conn.execute(statement)
        async with conn.begin_nested():
            return await conn.execute(statement)
    except IntegrityError as error:
        violation = _unique_violation(error)
        if violation is None:
            raise
        raise violation from None


async def insert_record(
    session: AsyncSession,
    rt: RecordTable,
    record_id: str,
    values: Mapping[str, Any],
    *,
    savepoint: bool = False,
    checks: Sequence[ColumnElement[Any]] = (),
) -> Row[Any]:
    """The new record, then `checks` (privacy rules) evaluated on it, then its row's image
    (image_of)."""
    conn = await _conn(session)
    if not savepoint and not checks:
        # The common write, sent to the driver: see DriverStatement.
        row = {ID: record_id, **values}
        key = ("insert", *row)
        compiled = rt.driver_writes.get(key)
        if compiled is None:
            c = rt.table.c
            # Typed like the column, as the engine types a literal value.
            bound = {name: bindparam(name, type_=c[name].type) for name in row}
            compiled = DriverStatement.of(
                insert(rt.table).values(bound).returning(*rt.columns, _row_image(rt))
            )
            rt.driver_writes[key] = compiled
        return await _driver_write(conn, compiled, row)
    statement = (
        insert(rt.table)
        .values({ID: record_id, **values})
        .returning(*rt.columns, *checks, _row_image(rt))
    )
    return (await _write(conn, statement, savepoint=savepoint)).one()


async def _driver_write(
    conn: AsyncConnection, compiled: DriverStatement, values: Mapping[str, Any]
) -> Any:
    try:
        return await (await driver_of(conn)).fetchrow(compiled.sql, *compiled.args(values))
    except asyncpg.UniqueViolationError as error:
        name = error.constraint_name
        if isinstance(name, str) and name.startswith("uq_"):
            raise UniqueViolation(name.removeprefix("uq_")) from None
        raise


async def insert_records(
    session: AsyncSession,
    rt: RecordTable,
    rows: Sequence[Mapping[str, Any]],
    checks: Sequence[ColumnElement[Any]] = (),
) -> Sequence[Row[Any]]:
    """Many records in one statement, returned in the order given (each row carries its
    id), each row as insert_record's. Rows may name different columns: the ones they leave
    out take their default."""
    conn = await _conn(session)
    columns = sorted({key for row in rows for key in row})
    filled = [{key: row.get(key, _DEFAULT) for key in columns} for row in rows]
    statement = insert(rt.table).values(filled).returning(*rt.columns, *checks, _row_image(rt))
    result = (await _write(conn, statement)).all()
    order = {row[ID]: index for index, row in enumerate(rows)}
    return sorted(result, key=lambda r: order[r[0]])


async def holders(
    session: AsyncSession,
    rt: RecordTable,
    field: FieldDef,
    values: Sequence[Any],
    *,
    lock: bool = False,
) -> dict[Any, str]:
    """Which records hold these values of a unique field: value -> record id; `lock`
    keeps them from changing until the transaction ends."""
    conn = await _conn(session)
    column = rt.field_column(field)
    id_column = rt.column_of[ID]
    statement = select(column, id_column).where(column.in_(list(values)))
    if lock:
        statement = statement.with_for_update()
    return {row[0]: row[1] for row in (await conn.execute(statement)).all()}


async def get_record(
    session: Executor, rt: RecordTable, record_id: str, access: RowAccess = UNLIMITED
) -> Row[Any] | None:
    """The record if the caller may find it, with the privacy rules' flags after its
    columns."""
    conn = await _conn(session)
    if access.find is None and not access.flags:
        if is_read_connection(conn):
            row: Row[Any] | None = await (await driver_of(conn)).fetchrow(rt.get_sql, record_id)
            return row
        return (await conn.execute(rt.get_statement, {"record_id": record_id})).first()
    statement = select(*rt.columns, *access.flags).where(rt.column_of[ID] == record_id)
    if access.find is not None:
        statement = statement.where(access.find)
    return (await conn.execute(statement)).first()


async def current_version(session: AsyncSession, rt: RecordTable, record_id: str) -> int | None:
    conn = await _conn(session)
    c = rt.table.c
    return (await conn.execute(select(c[VERSION]).where(c[ID] == record_id))).scalar()


async def find_by_unique(
    session: AsyncSession, rt: RecordTable, field: FieldDef, value: Any
) -> str | None:
    """The id of the record holding `value` in a unique field, locked for update."""
    conn = await _conn(session)
    column = rt.field_column(field)
    condition = field.type.compile(column, "eq", value)
    statement = select(rt.column_of[ID]).where(condition).with_for_update()
    return (await conn.execute(statement)).scalar()


# A row's image: the row as to_jsonb() has it (column name -> value), which the trash keeps
# and record events carry, and from which jsonb_populate_recordset() rebuilds the row
# (judge_images).
Image = dict[str, Any]


def _with_images(
    rt: RecordTable,
    statement: Any,
    record_id: ColumnElement[Any],
    flags: Sequence[ColumnElement[bool]],
) -> Any:
    """An update of one record returning its columns, `flags`, and the row's images after
    and before: the row as it was is read, and locked, by the statement itself."""
    prior = rt.table.alias("prior")
    before = (
        select(func.to_jsonb(literal_column(prior.name)).label("image"))
        .where(prior.c[ID] == record_id)
        .with_for_update()
        .cte("before")
    )
    # Joined (UPDATE ... FROM before), so it is read before the row changes: a reference
    # in RETURNING alone would read it afterwards, when the locked row is this
    # statement's own new version, which it skips.
    return (
        statement.add_cte(before)
        .where(before.c.image.is_not(None))
        .returning(*rt.columns, *flags, _row_image(rt), before.c.image)
    )


def _row_image(rt: RecordTable) -> ColumnElement[Any]:
    """The row's image: in a RETURNING of the table's INSERT or UPDATE, the row written;
    in a SELECT from the table, the row read."""
    return func.to_jsonb(literal_column(DRIVER_DIALECT.identifier_preparer.quote(rt.table.name)))


def image_of(row: Sequence[Any]) -> Image:
    """The image of a row insert_record (or insert_records) wrote."""
    return _image(row[-1])


def images_of(row: Sequence[Any]) -> tuple[Image, Image]:
    """The images after and before an update, from update_record's row."""
    return _image(row[-2]), _image(row[-1])


def _image(value: Any) -> Image:
    # The driver hands jsonb over as text where no codec decodes it.
    return loads_exact(value) if isinstance(value, str | bytes) else dict(value)


async def update_record(
    session: AsyncSession,
    rt: RecordTable,
    record_id: str,
    values: Mapping[str, Any],
    *,
    if_match: int | None = None,
    allowed: ColumnElement[bool] | None = None,
    flags: Sequence[ColumnElement[bool]] = (),
) -> Row[Any] | None:
    """The updated record, then the flags on its new values, then its row's images after
    and before the change (images_of); None when there is no such record (or, with
    if_match, not at that version, or `allowed` does not hold)."""
    conn = await _conn(session)
    c = rt.table.c
    if allowed is None and not flags:
        key = ("update", if_match is None, *values)
        compiled = rt.driver_writes.get(key)
        if compiled is None:
            bound = {name: bindparam(name, type_=c[name].type) for name in values}
            statement = _with_images(
                rt,
                update(rt.table)
                .where(c[ID] == bindparam("record_id"))
                .values({**bound, UPDATED_AT: func.now(), VERSION: c[VERSION] + 1}),
                bindparam("record_id"),
                (),
            )
            if if_match is not None:
                statement = statement.where(c[VERSION] == bindparam("if_match"))
            compiled = DriverStatement.of(statement)
            rt.driver_writes[key] = compiled
        return await _driver_write(
            conn, compiled, {**values, "record_id": record_id, "if_match": if_match}
        )
    statement = _with_images(
        rt,
        update(rt.table)
        .where(c[ID] == record_id)
        .values({**values, UPDATED_AT: func.now(), VERSION: c[VERSION] + 1}),
        literal(record_id),
        flags,
    )
    if allowed is not None:
        statement = statement.where(allowed)
    if if_match is not None:
        statement = statement.where(c[VERSION] == if_match)
    return (await _write(conn, statement)).first()


async def trash_records(
    session: AsyncSession,
    rt: RecordTable,
    record_ids: Sequence[str],
    *,
    tenant_id: str,
    deleted_by: str | None,
    if_match: int | None = None,
    allowed: ColumnElement[bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """Moves the records to the trash: the row as JSON and its links, restorable by
    restore_record() until purged. The records that were there (at that version): id ->
    the image of the row that went."""
    conn = await _conn(session)
    c = rt.table.c
    held: dict[str, dict[str, list[str]]] = {}
    for field_id, link in rt.links.items():
        links = (
            select(link.c.record_id, link.c.target_id)
            .where(link.c.record_id.in_(list(record_ids)))
            .order_by(link.c.record_id, link.c.position)
        )
        for record_id, target_id in (await conn.execute(links)).all():
            held.setdefault(record_id, {}).setdefault(field_id, []).append(target_id)
    # The whole row, by the table's own name, as the trash keeps it.
    row_json = func.to_jsonb(literal_column(conn.dialect.identifier_preparer.quote(rt.table.name)))
    statement = delete(rt.table).where(c[ID].in_(list(record_ids))).returning(c[ID], row_json)
    if allowed is not None:
        statement = statement.where(allowed)
    if if_match is not None:
        statement = statement.where(c[VERSION] == if_match)
    gone = (await conn.execute(statement)).all()
    if gone:
        await conn.execute(
            insert(tables.trashed_records),
            [
                {
                    "id": new_id("trr"),
                    "tenant_id": tenant_id,
                    "app_id": rt.schema.app_id,
                    "schema_id": rt.schema.id,
                    "app_slug": rt.schema.app_slug,
                    "schema_slug": rt.schema.slug,
                    "record_id": record_id,
                    "data": data,
                    "links": held.get(record_id, {}),
                    "deleted_by": deleted_by,
                }
                for record_id, data in gone
            ],
        )
    return {record_id: _image(data) for record_id, data in gone}


async def trashed(
    session: AsyncSession, tenant_id: str, *, limit: int, deleted_by: str | None = None
) -> Sequence[Any]:
    """The tenant's trashed records, newest first; with `deleted_by`, only those."""
    conn = await _conn(session)
    trash = tables.trashed_records
    statement = (
        select(
            trash.c.id,
            trash.c.app_slug,
            trash.c.schema_slug,
            trash.c.record_id,
            trash.c.deleted_at,
            trash.c.deleted_by,
        )
        .where(trash.c.tenant_id == tenant_id)
        .order_by(trash.c.deleted_at.desc(), trash.c.id)
        .limit(limit)
    )
    if deleted_by is not None:
        statement = statement.where(trash.c.deleted_by == deleted_by)
    return (await conn.execute(statement)).all()


async def take_from_trash(
    session: AsyncSession, tenant_id: str, trash_id: str, *, deleted_by: str | None = None
) -> Any:
    """The trash entry, removed (the caller restores it in the same transaction); with
    `deleted_by`, only if that caller deleted it."""
    conn = await _conn(session)
    trash = tables.trashed_records
    statement = (
        delete(trash)
        .where(trash.c.tenant_id == tenant_id, trash.c.id == trash_id)
        .returning(trash.c.schema_id, trash.c.record_id, trash.c.data, trash.c.links)
    )
    if deleted_by is not None:
        statement = statement.where(trash.c.deleted_by == deleted_by)
    return (await conn.execute(statement)).first()


async def restore_record(
    session: AsyncSession, rt: RecordTable, data: Mapping[str, Any]
) -> Row[Any]:
    """Puts a trashed row back as it was; columns added since start empty, values of
    columns converted since are cast by PostgreSQL."""
    conn = await _conn(session)
    quote = conn.dialect.identifier_preparer
    table = quote.format_table(rt.table)
    names = [c.name for c in rt.table.columns if c.name in data]
    listed = ", ".join(quote.quote(n) for n in names)
    await _write(
        conn,
        text(
            f"INSERT INTO {table} ({listed}) SELECT {listed}"  # noqa: S608
            f" FROM jsonb_populate_record(NULL::{table}, CAST(:data AS jsonb))"
        ).bindparams(data=dumps_exact(data).decode()),
    )
    row = (await conn.execute(rt.get_statement, {"record_id": data[ID]})).one()
    return row


async def drop_schema(session: AsyncSession, app_id: str, schema_id: str) -> None:
    """A purged schema: its table, its link tables, the links that point at it, its
    counters and trashed records go."""
    conn = await _conn(session)
    quote = conn.dialect.identifier_preparer
    app = quote.quote_schema(app_id)
    registry = tables.link_tables
    await conn.execute(text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(app_id))))
    own = (
        await conn.execute(
            delete(registry)
            .where(registry.c.source_schema_id == schema_id)
            .returning(registry.c.field_id)
        )
    ).scalars()
    for field_id in list(own):
        await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {app}.{quote.quote(f'lnk_{field_id}')}")
    pointing = (
        await conn.execute(
            delete(registry)
            .where(registry.c.target_schema_id == schema_id)
            .returning(registry.c.app_id, registry.c.field_id)
        )
    ).all()
    for link_app, field_id in pointing:
        link = f"{quote.quote_schema(link_app)}.{quote.quote(f'lnk_{field_id}')}"
        await conn.exec_driver_sql(f"DELETE FROM {link}")  # noqa: S608
    await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {app}.{quote.quote(schema_id)}")
    counts = f"{app}.{quote.quote(COUNTS_TABLE)}"
    if (await conn.execute(text("SELECT to_regclass(:t)"), {"t": counts})).scalar() is not None:
        await conn.execute(
            text(f"DELETE FROM {counts} WHERE schema_id = :s"),  # noqa: S608
            {"s": schema_id},
        )
    provisioned = tables.provisioned_schemas
    await conn.execute(delete(provisioned).where(provisioned.c.schema_id == schema_id))
    trash = tables.trashed_records
    await conn.execute(delete(trash).where(trash.c.schema_id == schema_id))


async def purge_trash(engine: Any, older_than: Any) -> int:
    async with engine.begin() as conn:
        # The purge sweeps every workspace's trash.
        await act_in(conn, ALL_TENANTS)
        trash = tables.trashed_records
        result = await conn.execute(delete(trash).where(trash.c.deleted_at < older_than))
    return int(result.rowcount)


async def links_of(
    session: Executor,
    rt: RecordTable,
    field: FieldDef,
    target: RecordTable | None,
    record_ids: Sequence[str],
) -> dict[str, list[dict[str, Any]]]:
    """record id -> [{"id", "display"}] of one link field, in link order, for a whole page
    in one query; display is the target's primary field (None while the target schema is
    in the trash)."""
    conn = await _conn(session)
    link = rt.links[field.id]
    primary = None
    if target is not None:
        primary = next((f for f in target.schema.fields if f.primary and f.has_column), None)
    serialize = primary.type.serializer(primary.config) if primary is not None else None
    if target is None:
        statement = select(link.c.record_id, link.c.target_id, null())
    else:
        shown = target.field_column(primary) if primary is not None else target.column_of[ID]
        statement = select(link.c.record_id, link.c.target_id, shown).select_from(
            link.outerjoin(target.table, target.column_of[ID] == link.c.target_id)
        )
    statement = statement.where(link.c.record_id.in_(list(record_ids))).order_by(
        link.c.record_id, link.c.position
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for record_id, target_id, value in (await conn.execute(statement)).all():
        display = value if serialize is None or value is None else serialize(value)
        found.setdefault(record_id, []).append({"id": target_id, "display": display})
    return found


async def current_images(
    session: Executor, rt: RecordTable, ids: Sequence[str]
) -> dict[str, Image]:
    """The images of the records' rows as they are now (id -> image), for changes whose
    event carries none."""
    conn = await _conn(session)
    statement = select(rt.column_of[ID], _row_image(rt)).where(rt.column_of[ID].in_(list(ids)))
    return {row[0]: _image(row[1]) for row in (await conn.execute(statement)).all()}


async def judge_images(
    session: Executor,
    rt: RecordTable,
    images: Sequence[Image],
    checks: Sequence[ColumnElement[Any]],
) -> list[Row[Any]]:
    """The rows the images stand for, in order, each as the table's columns and then
    `checks` (privacy rules, filters) evaluated on it by the same SQL a read of the table
    uses: the expressions are pointed at the rebuilt rows instead. Links are the ones
    stored now."""
    conn = await _conn(session)
    quote = conn.dialect.identifier_preparer
    rebuilt = (
        func.jsonb_populate_recordset(
            literal_column(f"NULL::{quote.format_table(rt.table)}"),
            bindparam("images", type_=JSONB),
        )
        .table_valued(*(sql_column(c.name, c.type) for c in rt.table.columns), with_ordinality="n")
        .render_derived(name="rebuilt")
    )

    def repointed(element: Any, **_: Any) -> Any:
        if isinstance(element, Column) and element.table is rt.table:
            return rebuilt.c[element.name]
        return None

    no_options: dict[str, Any] = {}
    selected = [replacement_traverse(e, no_options, repointed) for e in (*rt.columns, *checks)]
    statement = select(*selected).select_from(rebuilt).order_by(rebuilt.c.n)
    rows = await conn.execute(statement, {"images": list(images)})
    return list(rows.all())


async def existing_ids(session: AsyncSession, rt: RecordTable, ids: Sequence[str]) -> set[str]:
    conn = await _conn(session)
    column = rt.column_of[ID]
    statement = select(column).where(column.in_(list(ids)))
    return set((await conn.execute(statement)).scalars())


async def records_by_id(
    session: Executor, rt: RecordTable, ids: Sequence[str], access: RowAccess = UNLIMITED
) -> dict[str, Row[Any]]:
    """The records the caller may find among `ids`, with the rules' flags last."""
    conn = await _conn(session)
    statement = select(*rt.columns, *access.flags).where(rt.column_of[ID].in_(list(ids)))
    if access.find is not None:
        statement = statement.where(access.find)
    return {row[0]: row for row in (await conn.execute(statement)).all()}


async def replace_links(
    session: AsyncSession,
    rt: RecordTable,
    field: FieldDef,
    links: Mapping[str, Sequence[str]],
) -> None:
    """Sets each record's links of the field to the given target ids, in that order."""
    if not links:
        return
    conn = await _conn(session)
    table = rt.links[field.id]
    await conn.execute(delete(table).where(table.c.record_id.in_(list(links))))
    rows = [
        {"record_id": record_id, "target_id": target_id, "position": position}
        for record_id, targets in links.items()
        for position, target_id in enumerate(targets)
    ]
    if rows:
        await conn.execute(insert(table), rows)


async def unlink(session: AsyncSession, schema_id: str, record_ids: Sequence[str]) -> None:
    """Removes deleted records of a schema from every link that points at them."""
    conn = await _conn(session)
    registry = tables.link_tables
    pointing = (
        await conn.execute(
            select(registry.c.app_id, registry.c.field_id).where(
                registry.c.target_schema_id == schema_id
            )
        )
    ).all()
    quote = conn.dialect.identifier_preparer
    for app_id, field_id in pointing:
        link = f"{quote.quote_schema(app_id)}.{quote.quote(f'lnk_{field_id}')}"
        await conn.execute(
            text(f"DELETE FROM {link} WHERE target_id = ANY(:ids)"),  # noqa: S608
            {"ids": list(record_ids)},
        )


async def list_records(
    session: Executor, rt: RecordTable, query: ListQuery, totals: Totals | None = None
) -> tuple[Sequence[Row[Any]], int | None]:
    """One page, and the total when the query asks for it (a filtered one from `totals`
    while the table has not changed since it was counted)."""
    conn = await _conn(session)
    total = None
    if query.count:
        if query.filter is None and query.search is None and query.visible is None:
            total = await _sum(conn, rt.total_statement, rt.total_sql, rt.schema.id)
        if total is None:
            total = await _filtered_total(conn, rt, query, totals)
        if total <= query.offset and query.after is None:
            return [], int(total)
    rows = list((await conn.execute(list_statement(rt, query))).all())
    if len(rows) < query.limit and has_null_tail(rt, query):
        tail = replace(query, limit=query.limit - len(rows))
        rows.extend((await conn.execute(list_statement(rt, tail, null_tail=True))).all())
    return rows, None if total is None else int(total)


async def _sum(
    conn: AsyncConnection, statement: Select[Any], sql: str, schema_id: str
) -> int | None:
    """One of the table's counter sums; straight on the driver on a read connection (a
    session's connection is not one: its statements must go through its transaction)."""
    if is_read_connection(conn):
        value: int | None = await (await driver_of(conn)).fetchval(sql, schema_id)
        return value
    return (await conn.execute(statement)).scalar()


async def _filtered_total(
    conn: AsyncConnection, rt: RecordTable, query: ListQuery, totals: Totals | None
) -> int:
    statement = count_statement(rt, query)
    # Only a read outside any transaction: a session's own uncommitted writes would be
    # counted, and kept at a counter value its rollback undoes.
    if not is_read_connection(conn):
        totals = None
    key = None if totals is None else totals.key(statement)
    if totals is None or key is None or totals.refused(key):
        return int((await conn.execute(statement)).scalar_one())
    changes = await _sum(conn, rt.changes_statement, rt.changes_sql, rt.schema.id)
    total = None if changes is None else totals.total(key, changes)
    if total is not None:
        return total
    if not reads_only(statement, rt.table):
        totals.refuse(key)
        return int((await conn.execute(statement)).scalar_one())
    total, changes = (await conn.execute(with_changes(rt, statement))).one()
    if changes is not None:
        totals.keep(key, changes, total)
    return int(total)


async def stream_records(
    session: AsyncSession, rt: RecordTable, query: ListQuery, *, batch_size: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """Every record the query selects, in its order, batch by batch through one server-side
    cursor: one statement and one snapshot however many records there are, and memory for
    one batch. The query's limit and offset do not apply. (Keyset batches would need an
    index range per batch, which PostgreSQL does not find for nullable or mixed-direction
    sort keys: each batch would scan from the start.)"""
    conn = await _conn(session)
    statement = export_statement(rt, query).execution_options(yield_per=batch_size)
    result = await conn.stream(statement)
    try:
        async for rows in result.partitions(batch_size):
            yield rows
    finally:
        await result.close()


@dataclass(frozen=True, slots=True)
class NewRecords:
    """New records ready to write: each row's values for `names`, the same rows as COPY
    takes them, and as a read returns them (in the order of RecordTable.columns, for
    to_record)."""

    names: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    copied: list[tuple[Any, ...]]
    stored: list[tuple[Any, ...]]


def numbered_columns(rt: RecordTable) -> list[Column[Any]]:
    """The table's columns numbered by a sequence (autonumber fields)."""
    return [c for c in rt.table.columns if c.identity is not None]


def new_records(
    rt: RecordTable,
    columns: Sequence[str],
    ids: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    now: datetime,
    actor: str | None,
    numbers: Sequence[Sequence[int]] = (),
) -> NewRecords:
    """Validated values for `columns` (field ids), one row per id, made whole: the system
    columns and the `numbers` taken for numbered_columns. No I/O."""
    numbered = numbered_columns(rt)
    names = (ID, *columns, *(c.name for c in numbered), VERSION, CREATED_AT, UPDATED_AT)
    names += (CREATED_BY, UPDATED_BY)
    system = (1, now, now, actor, actor)
    full = [
        (record_id, *values, *(n[index] for n in numbers), *system)
        for index, (record_id, values) in enumerate(zip(ids, rows, strict=True))
    ]
    copied = full
    encoded = [isinstance(rt.table.c[name].type, JSON) for name in names]
    if any(encoded):
        copied = [
            tuple(
                json_text(value) if encode and value is not None else value
                for encode, value in zip(encoded, row, strict=True)
            )
            for row in full
        ]
    # Columns the rows do not name stay NULL; (None,) holds their place.
    position = {name: index for index, name in enumerate(names)}
    pick = itemgetter(*(position.get(column.name, len(names)) for column in rt.columns))
    stored = [pick((*row, None)) for row in full]
    return NewRecords(names=names, rows=full, copied=copied, stored=stored)


async def database_now(session: AsyncSession) -> datetime:
    conn = await _conn(session)
    now: datetime = (await conn.execute(select(func.now()))).scalar_one()
    return now


async def next_numbers(session: AsyncSession, rt: RecordTable, count: int) -> list[list[int]]:
    """The next `count` values of each numbered column's sequence (taken for good, whatever
    becomes of the rows)."""
    conn = await _conn(session)
    numbers = []
    table = conn.dialect.identifier_preparer.format_table(rt.table)
    for column in numbered_columns(rt):
        sequence = func.pg_get_serial_sequence(table, column.name)
        statement = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        numbers.append(list((await conn.execute(statement)).scalars()))
    return numbers


async def copy_records(session: AsyncSession, rt: RecordTable, new: NewRecords) -> list[int]:
    """Writes new records with one COPY (an import's way in; insert_records is a batch
    write's); when a unique field refuses some, the batch is written again without them.
    Returns the indexes of the rows refused."""
    conn = await _conn(session)
    if await _copy(conn, rt, new.names, new.copied):
        return []
    inserted = await _insert_skipping_conflicts(conn, rt, new.names, new.rows)
    return [index for index, row in enumerate(new.rows) if row[0] not in inserted]


async def _copy(
    conn: AsyncConnection, rt: RecordTable, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> bool:
    """False when a unique field refused the batch (then nothing of it stays)."""
    if not any(f.unique for f in rt.schema.fields):
        await copy_rows(conn, rt.table, names, rows)
        return True
    try:
        async with conn.begin_nested():
            await copy_rows(conn, rt.table, names, rows)
    except asyncpg.UniqueViolationError:
        return False
    return True


async def _insert_skipping_conflicts(
    conn: AsyncConnection, rt: RecordTable, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> set[str]:
    """The ids of the rows inserted; a row a unique index refuses is left out."""
    statement = pg_insert(rt.table).on_conflict_do_nothing().returning(rt.table.c[ID])
    result = await conn.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])
    return set(result.scalars())


async def load_service_key(sessionmaker: Any, name: str) -> bytes:
    """A secret the migrations made for this service (see tables.service_keys)."""
    keys = tables.service_keys
    async with sessionmaker() as session:
        secret = (
            await session.execute(select(keys.c.secret).where(keys.c.name == name))
        ).scalar_one()
    return bytes(secret)


# --- imports ---------------------------------------------------------------------------


def _imports(tenant_id: str) -> TenantTable:
    return TenantTable(tables.imports, tenant_id)


async def create_import(
    session: AsyncSession,
    tenant_id: str,
    *,
    import_id: str,
    schema_id: str,
    format: str,
    mode: str,
    created_by: str | None,
) -> Row[Any]:
    jobs = _imports(tenant_id)
    statement = jobs.insert(
        id=import_id,
        schema_id=schema_id,
        format=format,
        mode=mode,
        state="running",
        created_by=created_by,
    ).returning(*jobs.table.columns)
    return (await session.execute(statement)).one()


async def update_import(
    session: AsyncSession,
    tenant_id: str,
    import_id: str,
    *,
    rows_done: int,
    rows_rejected: int,
    errors: list[dict[str, Any]],
    state: str = "running",
) -> Row[Any]:
    jobs = _imports(tenant_id)
    values: dict[str, Any] = {
        "rows_done": rows_done,
        "rows_rejected": rows_rejected,
        "errors": errors,
        "state": state,
    }
    if state != "running":
        values["finished_at"] = func.now()
    statement = (
        jobs.update().where(jobs.c.id == import_id).values(values).returning(*jobs.table.columns)
    )
    return (await session.execute(statement)).one()


async def get_import(
    session: AsyncSession, tenant_id: str, schema_id: str, import_id: str
) -> Row[Any] | None:
    jobs = _imports(tenant_id)
    statement = jobs.select().where(jobs.c.id == import_id, jobs.c.schema_id == schema_id)
    return (await session.execute(statement)).first()


# --- provisioning ----------------------------------------------------------------------


def layout_of(schema: SchemaDef) -> dict[str, dict[str, Any]]:
    """What a schema version's table holds per column-owning field: enough to know, at the
    next version, whether a column must be converted and from what."""
    return {
        f.id: {
            "type": f.type.name,
            "options": list(f.options),
            "config": dict(f.config),
            "unique": f.unique,
        }
        for f in schema.fields
        if f.has_column or f.is_link
    }


def _stored_field(field_id: str, stored: Mapping[str, Any]) -> FieldDef:
    return FieldDef(
        id=field_id,
        slug=field_id,
        name=field_id,
        type=REGISTRY[stored["type"]],
        options=tuple(stored.get("options") or ()),
        config_json=dumps_exact(stored.get("config") or {}).decode(),
    )


def needs_conversion(old: FieldDef, new: FieldDef) -> bool:
    if old.type.name != new.type.name:
        return True
    if new.type.takes_choices and not set(old.options) <= new.option_set:
        return True
    return dict(old.config) != dict(new.config)


def conversion_sql(old: FieldDef, new: FieldDef, column: str) -> str:
    """The expression turning `column`, holding `old` values, into `new` ones; NULL where a
    value cannot be kept."""
    if old.type.name == new.type.name == "multi_select":
        # Options taken away leave the others.
        return f"tessera_keep_options({column}, {sql_text_array(new.options)})"
    return new.type.from_text_sql(old.type.to_text_sql(column, old.config), new)


def lost_sql(old: FieldDef, new: FieldDef, column: str) -> str:
    """True for a stored value the conversion would not keep whole."""
    if old.type.name == new.type.name == "multi_select":
        return f"NOT ({column} <@ {sql_text_array(new.options)})"
    return f"{column} IS NOT NULL AND ({conversion_sql(old, new, column)}) IS NULL"


async def lost_in_conversion(
    session: AsyncSession, rt: RecordTable, old: FieldDef, new: FieldDef, *, shown: int
) -> tuple[int, list[str]]:
    """How many records hold a value of `old` that `new` cannot keep, and some of their ids."""
    conn = await _conn(session)
    quote = conn.dialect.identifier_preparer
    table = quote.format_table(rt.table)
    column = quote.quote(old.id)
    await conn.execute(text("SET LOCAL timezone = 'UTC'"))
    lost = lost_sql(old, new, column)
    # Only identifiers rendered by the dialect's preparer and SQL of the field-type
    # catalogue (which quotes every literal it embeds) go in here.
    count = (
        await conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {lost}")  # noqa: S608
    ).scalar()
    ids = (
        await conn.exec_driver_sql(
            f"SELECT id FROM {table} WHERE {lost} ORDER BY id LIMIT {int(shown)}"  # noqa: S608
        )
    ).scalars()
    return int(count or 0), list(ids)


async def duplicates(session: AsyncSession, rt: RecordTable, field: FieldDef) -> int:
    """Values of the field held by more than one record."""
    conn = await _conn(session)
    column = rt.column_of[field.id]
    repeated = (
        select(column).where(column.is_not(None)).group_by(column).having(func.count() > 1)
    ).subquery()
    return int((await conn.execute(select(func.count()).select_from(repeated))).scalar_one())


async def provision(session: AsyncSession, rt: RecordTable, *, tenant_id: str) -> bool:
    """Makes the table what the schema version needs: the app's PostgreSQL schema, the
    table, the system columns; then, against the layout provisioned last, adds new field
    columns, converts changed ones in place (values that cannot be kept become NULL; the
    gateway refuses such a change unless forced) and drops removed ones; then the indexes.
    Serialised per schema by an advisory lock and bounded by a lock timeout. False when
    this version (or a newer one) already was."""
    conn = await _conn(session)
    schema = rt.schema
    await conn.execute(text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
    await conn.execute(text("SET LOCAL timezone = 'UTC'"))
    # The app's lock guards what the app's schemas share (the PostgreSQL schema, the
    # counters, the trigger function); always taken before the schema's, so no deadlock.
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(schema.app_id))))
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(schema.id))))
    provisioned = tables.provisioned_schemas
    current = (
        await conn.execute(
            select(provisioned.c.version, provisioned.c.layout).where(
                provisioned.c.schema_id == schema.id
            )
        )
    ).one_or_none()
    if current is not None and current.version >= schema.version:
        return False
    await conn.execute(CreateSchema(schema.app_id, if_not_exists=True))
    await conn.execute(CreateTable(rt.table, if_not_exists=True))
    quote = conn.dialect.identifier_preparer
    table = quote.format_table(rt.table)
    existing = set(
        (
            await conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
                    " AND attnum > 0 AND NOT attisdropped"
                ),
                {"t": table},
            )
        ).scalars()
    )
    stored: Mapping[str, Any] = (current.layout if current is not None else None) or {}
    await _provision_links(conn, rt, stored, tenant_id=tenant_id)
    wanted = {f.id: f for f in rt.schema.fields if f.has_column}
    stored = {k: v for k, v in stored.items() if v.get("type") != "link"}
    # A trashed field's column stays until the purge, so a restore finds its values.
    kept = set(SYSTEM_COLUMNS) | set(wanted) | set(rt.schema.trashed_field_ids)
    for name in sorted(existing - kept):
        await conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {quote.quote(name)}")
    for column in rt.table.columns:
        if column.name in existing and column.name in stored:
            old = _stored_field(column.name, stored[column.name])
            new = wanted[column.name]
            if needs_conversion(old, new):
                await _convert(conn, rt, old, new)
        elif column.name not in existing:
            await conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD COLUMN {_column_ddl(conn.dialect, column)}"
            )
    app = quote.quote_schema(schema.app_id)
    for f in wanted.values():
        if not f.unique:
            await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {app}.{quote.quote(f'uq_{f.id}')}")
    wanted_indexes = {str(index.name) for index in rt.table.indexes}
    stale_search = (
        await conn.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = :app AND tablename = :table"
                " AND starts_with(indexname, :prefix)"
            ),
            {"app": schema.app_id, "table": schema.id, "prefix": f"ix_{schema.id}_search_"},
        )
    ).scalars()
    for name in stale_search:
        if name not in wanted_indexes:
            await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {app}.{quote.quote(name)}")
    for index in sorted(rt.table.indexes, key=lambda i: str(i.name)):
        await _create_index(conn, index)
    await _provision_counts(conn, rt)
    upsert = pg_insert(provisioned).values(
        schema_id=schema.id,
        tenant_id=tenant_id,
        app_id=schema.app_id,
        version=schema.version,
        layout=layout_of(schema),
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[provisioned.c.schema_id],
            set_={
                "version": func.greatest(provisioned.c.version, upsert.excluded.version),
                "layout": upsert.excluded.layout,
                "provisioned_at": func.now(),
            },
        )
    )
    return True


async def _provision_links(
    conn: AsyncConnection, rt: RecordTable, stored: Mapping[str, Any], *, tenant_id: str
) -> None:
    """Join tables of the schema's link fields: made for new ones, dropped for removed
    ones, and registered by the schema they point at."""
    quote = conn.dialect.identifier_preparer
    app = quote.quote_schema(rt.schema.app_id)
    registry = tables.link_tables
    for field_id, layout in stored.items():
        if layout.get("type") == "link" and field_id not in rt.links:
            await conn.exec_driver_sql(
                f"DROP TABLE IF EXISTS {app}.{quote.quote(f'lnk_{field_id}')}"
            )
            await conn.execute(delete(registry).where(registry.c.field_id == field_id))
    for f in rt.schema.fields:
        if not f.is_link:
            continue
        link = rt.links[f.id]
        await conn.execute(CreateTable(link, if_not_exists=True))
        for index in link.indexes:
            await conn.execute(CreateIndex(index, if_not_exists=True))
        row = pg_insert(registry).values(
            field_id=f.id,
            tenant_id=tenant_id,
            app_id=rt.schema.app_id,
            source_schema_id=rt.schema.id,
            target_schema_id=f.target_id,
        )
        await conn.execute(row.on_conflict_do_nothing())


def _column_ddl(dialect: Dialect, column: Column[Any]) -> str:
    quote = dialect.identifier_preparer
    ddl = f"{quote.format_column(column)} {column.type.compile(dialect=dialect)}"
    if column.identity is not None:
        ddl += " GENERATED BY DEFAULT AS IDENTITY"
    elif column.server_default is not None:
        default = column.server_default.arg  # type: ignore[attr-defined]
        ddl += f" NOT NULL DEFAULT {default.compile(dialect=dialect)}"
    return ddl


async def _convert(conn: AsyncConnection, rt: RecordTable, old: FieldDef, new: FieldDef) -> None:
    """Rewrites the column in place: one statement, so a value is never half-converted.
    The field's indexes go first (their expressions may not fit the new type) and come
    back with the others."""
    quote = conn.dialect.identifier_preparer
    app = quote.quote_schema(rt.schema.app_id)
    for prefix in ("ix", "uq"):
        await conn.exec_driver_sql(
            f"DROP INDEX IF EXISTS {app}.{quote.quote(f'{prefix}_{new.id}')}"
        )
    column = quote.quote(new.id)
    new_type = new.type.column_type(new.config).compile(dialect=conn.dialect)
    using = conversion_sql(old, new, column)
    await conn.exec_driver_sql(
        f"ALTER TABLE {quote.format_table(rt.table)} ALTER COLUMN {column}"
        f" TYPE {new_type} USING {using}"
    )


async def _create_index(conn: AsyncConnection, index: Index) -> None:
    if not index.unique:
        await conn.execute(CreateIndex(index, if_not_exists=True))
        return
    # Values may repeat (a race with a write after the gateway's check): the field stays
    # usable without its index rather than the whole schema failing to provision.
    try:
        async with conn.begin_nested():
            await conn.execute(CreateIndex(index, if_not_exists=True))
    except DBAPIError as error:
        if sqlstate(error) != UNIQUE_VIOLATION:
            raise
        log.error("values repeat; unique index %s not created", index.name)


async def _provision_counts(conn: AsyncConnection, rt: RecordTable) -> None:
    await conn.execute(CreateTable(rt.counts, if_not_exists=True))
    quote = conn.dialect.identifier_preparer
    # Vacuumed after a few hundred changed rows rather than a fifth of the table: a count
    # stays an index-only scan only while the visibility map is fresh.
    await conn.exec_driver_sql(
        f"ALTER TABLE {quote.format_table(rt.table)} SET ({AUTOVACUUM_SETTINGS})"
    )
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
    # A new version may have rewritten the rows (a field converted in place, a column
    # added with a default) without firing the triggers; a total remembered by a replica
    # still on the previous version must not outlive that.
    await conn.execute(
        update(rt.counts)
        .where(rt.counts.c.schema_id == rt.schema.id, rt.counts.c.slot == 0)
        .values(changes=rt.counts.c.changes + 1)
    )


def count_trigger_sql(dialect: Dialect, rt: RecordTable) -> list[str]:
    """The counting function (one per app schema) and the table's four triggers."""
    return _count_sql(dialect, rt.schema.app_id, rt.schema.id)


def _count_sql(dialect: Dialect, app_id: str, schema_id: str) -> list[str]:
    quote = dialect.identifier_preparer
    app = quote.quote_schema(app_id)
    counts = f"{app}.{quote.quote(COUNTS_TABLE)}"
    function = f"{app}.{quote.quote(COUNT_FUNCTION)}"
    table = f"{app}.{quote.quote(schema_id)}"
    # Only identifiers rendered by the dialect's preparer and constants go in here.
    body = f"""
DECLARE
  delta bigint := 0;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE {counts} SET n = 0, changes = changes + 1 WHERE schema_id = TG_TABLE_NAME;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO delta FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT -count(*) INTO delta FROM old_rows;
  END IF;
  UPDATE {counts} SET n = n + delta, changes = changes + 1
    WHERE schema_id = TG_TABLE_NAME AND slot = (txid_current() % {COUNT_SLOTS})::smallint;
  RETURN NULL;
END
"""  # noqa: S608
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql"
        f" AS $count${body}$count$",
        f"CREATE OR REPLACE TRIGGER records_inserted AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        # BEFORE: an update takes its counter row ahead of the records it locks, so two
        # transactions updating the same records take their locks in the same order (after
        # them, a batch's second statement could wait for a record while holding the
        # counter row another transaction waits for, holding that record).
        f"CREATE OR REPLACE TRIGGER records_updated BEFORE UPDATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER records_deleted AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER records_truncated AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


async def upgrade_counters(engine: AsyncEngine) -> int:
    """Gives the record tables provisioned before the change counters existed (no update
    trigger yet) their counters, triggers and autovacuum settings; run at start-up,
    before serving, by the role that owns the apps' schemas. One transaction per table,
    so what was done stays done if a busy table stops a start. How many it upgraded."""
    async with engine.connect() as conn:
        stale = (
            await conn.execute(
                text(
                    "SELECT n.nspname, c.relname FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE t.tgname = 'records_inserted' AND NOT EXISTS ("
                    "   SELECT 1 FROM pg_trigger u"
                    "   WHERE u.tgrelid = t.tgrelid AND u.tgname = 'records_updated')"
                    " ORDER BY 1, 2"
                )
            )
        ).all()
    for app_id, schema_id in stale:
        async with engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
            quote = conn.dialect.identifier_preparer
            app = quote.quote_schema(app_id)
            await conn.exec_driver_sql(
                f"ALTER TABLE {app}.{quote.quote(COUNTS_TABLE)}"
                " ADD COLUMN IF NOT EXISTS changes bigint NOT NULL DEFAULT 0"
            )
            for statement in _count_sql(conn.dialect, app_id, schema_id):
                await conn.exec_driver_sql(statement)
            await conn.exec_driver_sql(
                f"ALTER TABLE {app}.{quote.quote(schema_id)} SET ({AUTOVACUUM_SETTINGS})"
            )
    if stale:
        log.info("gave %d record tables change counters", len(stale))
    return len(stale)


def sqlstate(error: DBAPIError | asyncpg.PostgresError) -> str | None:
    """The PostgreSQL SQLSTATE behind an error of the engine or of the driver itself
    (a DriverStatement's), when there is one."""
    if isinstance(error, asyncpg.PostgresError):
        return error.sqlstate
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


LOCK_NOT_AVAILABLE = "55P03"
UNIQUE_VIOLATION = "23505"
# Concurrent creation of the same catalog object (e.g. two schemas of one app creating the
# app's PostgreSQL schema at once): retrying sees it exist.
CREATION_RACES = frozenset({"23505", "40P01", "42P06", "42P07", "42710"})
