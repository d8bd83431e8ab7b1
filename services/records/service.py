"""Record rules: body parsing, validation through the field-type registry, list parameters,
and the events each change emits. Takes the caller's session; never commits, never speaks
gRPC."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.kit.errors import ValidationFailed
from services.kit.fields import ALL_OPERATORS
from services.kit.ids import new_id
from services.kit.json import loads_exact
from services.kit.nats.outbox import OutboxWriter
from services.kit.tenancy import tenant_of
from services.records import events, repository, tables
from services.records.cursors import CursorCodec, binding
from services.records.errors import ImportNotFound, RecordNotFound
from services.records.provisioning import Provisioner
from services.records.repository import (
    CREATED_AT,
    ID,
    SYSTEM_FIELDS,
    UPDATED_AT,
    VERSION,
    Condition,
    FilterNode,
    Group,
    Keyset,
    ListQuery,
    RecordTable,
    SortSpec,
)
from services.records.schemas import FieldDef, SchemaDef, SchemaSource

READ_ONLY_KEYS = frozenset({ID, VERSION, CREATED_AT, UPDATED_AT})

DEFAULT_PAGE = 1
MAX_PAGE = 10_000_000
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
MAX_RECORD_ID_LENGTH = 64
# Records an export reads per query (and per transaction).
EXPORT_BATCH_SIZE = 1000
# A filter tree may not grow without bound: nodes in all, and groups inside groups.
MAX_FILTER_NODES = 200
MAX_FILTER_DEPTH = 8
# Shown in a lossy type change's refusal.
LOST_IDS_SHOWN = 20


class SortLike(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def descending(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[dict[str, Any]]
    total: int | None
    next_cursor: str = ""


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an export reads, checked once: the table, the order, the filter, the keys."""

    rt: RecordTable
    sort: tuple[SortSpec, ...]
    filter: FilterNode | None
    # The keys of every exported record, in order.
    keys: tuple[str, ...]
    # None: every key.
    keep: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class ExportBatch:
    records: list[dict[str, Any]]
    # Where the next batch starts; None after the last.
    after: Keyset | None


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: a JSON object keyed by field slug, numbers kept exact."""
    try:
        body = loads_exact(raw)
    except ValueError:
        raise ValidationFailed("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("Request body must be a JSON object")
    return body


def writable(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without the read-only keys, which clients may echo back and we ignore."""
    return {k: v for k, v in body.items() if k not in READ_ONLY_KEYS}


def unknown_keys(schema: SchemaDef, values: Iterable[str]) -> list[str]:
    return [k for k in values if k not in schema.by_slug]


def validate_values(
    schema: SchemaDef, values: Mapping[str, Any], *, creating: bool
) -> dict[str, Any]:
    """Field slug -> JSON value, to column name -> stored value. On create every required
    field must be present and non-null (a default counts); on update a present required
    field must not be null. Read-only fields may be echoed back unchanged and are
    ignored."""
    for key in values:
        if key not in schema.by_slug:
            raise ValidationFailed(f"Unknown field '{key}'", field=key)
    columns: dict[str, Any] = {}
    for f in schema.fields:
        if f.type.read_only:
            continue
        if f.slug not in values:
            if creating and f.default_json:
                columns[f.id] = f.type.validate(f, f.default)
            elif creating and f.required:
                raise _required(f)
            continue
        value = values[f.slug]
        if value is None:
            if f.required:
                raise _required(f)
            columns[f.id] = None
        else:
            columns[f.id] = f.type.validate(f, value)
    return columns


def _required(f: FieldDef) -> ValidationFailed:
    return ValidationFailed(f"Field '{f.slug}' is required", field=f.slug)


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """(limit, offset) for a page request; 0 means the default."""
    page = page or DEFAULT_PAGE
    per_page = per_page or DEFAULT_PER_PAGE
    if not 1 <= page <= MAX_PAGE:
        raise ValidationFailed(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    return per_page, (page - 1) * per_page


def _lookup(schema: SchemaDef, slug: str) -> FieldDef | None:
    return schema.by_slug.get(slug) or SYSTEM_FIELDS.get(slug)


def sort_specs(schema: SchemaDef, keys: Iterable[SortLike]) -> tuple[SortSpec, ...]:
    specs: list[SortSpec] = []
    seen: set[str] = set()
    for key in keys:
        f = _lookup(schema, key.field)
        if f is None:
            raise ValidationFailed(f"Unknown sort field {_shown(key.field)}", field="sort")
        if not f.type.sortable:
            raise ValidationFailed(f"Field '{key.field}' cannot be sorted", field="sort")
        # A repeated key cannot change the order; the first one wins.
        if f.id not in seen:
            seen.add(f.id)
            specs.append(SortSpec(f, key.descending))
    return tuple(specs)


def _shown(value: str, limit: int = 64) -> str:
    """User input echoed in a message, bounded."""
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


class _TreeBudget:
    def __init__(self) -> None:
        self.nodes = 0


def filter_tree(schema: SchemaDef, node: records_pb2.FilterNode) -> FilterNode | None:
    """The proto filter tree checked against the schema: every field known, every operator
    one its type supports, every operand parsed. None when there is no filter."""
    if not node.HasField("node"):
        return None
    return _node(schema, node, depth=0, budget=_TreeBudget())


def _node(
    schema: SchemaDef, node: records_pb2.FilterNode, *, depth: int, budget: _TreeBudget
) -> FilterNode:
    budget.nodes += 1
    if budget.nodes > MAX_FILTER_NODES:
        raise ValidationFailed(f"A filter has at most {MAX_FILTER_NODES} parts", field="filter")
    kind = node.WhichOneof("node")
    if kind == "condition":
        return _condition(schema, node.condition)
    group = node.all_of if kind == "all_of" else node.any_of
    if depth >= MAX_FILTER_DEPTH:
        raise ValidationFailed(
            f"Filter groups nest at most {MAX_FILTER_DEPTH} deep", field=group.source or "filter"
        )
    members = tuple(_node(schema, n, depth=depth + 1, budget=budget) for n in group.nodes)
    return Group(any=kind == "any_of", members=members)


def _condition(schema: SchemaDef, given: records_pb2.Condition) -> Condition:
    where = given.source or f"filter[{given.field}]"
    f = _lookup(schema, given.field)
    if f is None:
        raise ValidationFailed(f"Unknown filter field {_shown(given.field)}", field=where)
    op = given.op or "eq"
    if op not in ALL_OPERATORS:
        raise ValidationFailed(f"Unknown filter operator {_shown(op)}", field=where)
    if op not in f.type.operators:
        supported = ", ".join(sorted(f.type.operators))
        raise ValidationFailed(
            f"Fields of type {f.type.name} do not support '{op}'; they support {supported}",
            field=where,
        )
    text = given.WhichOneof("operand") != "json"
    try:
        value: Any = given.text if text else loads_exact(given.json)
        operand = f.type.operand(f, op, value, text=text)
    except ValueError:
        raise ValidationFailed(
            f"Filter on '{given.field}' with '{op}' needs {_operand_wording(f, op)}",
            field=where,
        ) from None
    return Condition(field=f, op=op, operand=operand)


def _operand_wording(f: FieldDef, op: str) -> str:
    if op in ("in", "nin", "has_any", "has_all", "has_none"):
        return f"a list of {f.type.expected} values"
    if op == "between":
        return f"two values, each {f.type.expected}"
    if op in ("contains", "ncontains", "icontains", "starts_with", "ends_with"):
        return "a string of at most 1000 characters"
    return f.type.expected


def selected_keys(schema: SchemaDef, fields: Sequence[str]) -> frozenset[str] | None:
    """The record keys `fields=` asks for (id always); None for all."""
    if not fields:
        return None
    keys = {ID}
    for slug in fields:
        if slug not in schema.by_slug and slug not in (ID, VERSION, CREATED_AT, UPDATED_AT):
            raise ValidationFailed(f"Unknown field {_shown(slug)} in 'fields'", field="fields")
        keys.add(slug)
    return frozenset(keys)


def _plausible_id(record_id: str) -> bool:
    # Anything else cannot exist; answering the same 404 without a query is cheaper.
    return 0 < len(record_id) <= MAX_RECORD_ID_LENGTH and "\x00" not in record_id


class RecordsService:
    def __init__(
        self, schemas: SchemaSource, provisioner: Provisioner, *, cursor_key: bytes | None = None
    ) -> None:
        self._schemas = schemas
        self._provisioner = provisioner
        self._outbox = OutboxWriter(tables.outbox)
        # Without a stored key (tests), cursors are good for this process only.
        self._cursors = CursorCodec(cursor_key or secrets.token_bytes(32))

    async def _table(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        fresh: bool = False,
    ) -> tuple[str, RecordTable]:
        tenant = tenant_of(ctx)
        schema = await self._schemas.get(ctx, app_slug, schema_slug, fresh=fresh)
        return tenant, await self._provisioner.ensure(tenant, schema)

    async def _table_for_write(
        self, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str, keys: list[str]
    ) -> tuple[str, RecordTable]:
        """A write naming a field the cached definition does not know asks the schema
        service once more, so a field created a moment ago is accepted."""
        tenant, rt = await self._table(ctx, app_slug, schema_slug)
        if unknown_keys(rt.schema, keys):
            tenant, rt = await self._table(ctx, app_slug, schema_slug, fresh=True)
        return tenant, rt

    async def create_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        body: bytes,
    ) -> dict[str, Any]:
        values = writable(parse_body(body))
        tenant, rt = await self._table_for_write(ctx, app_slug, schema_slug, list(values))
        columns = validate_values(rt.schema, values, creating=True)
        columns.update(_actor(ctx, creating=True))
        row = await repository.insert_record(session, rt, new_id("rec"), columns)
        record = rt.to_record(row)
        await self._outbox.add(session, events.record_created(tenant, rt.schema, record))
        return record

    async def get_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
    ) -> dict[str, Any]:
        _, rt = await self._table(ctx, app_slug, schema_slug)
        if not _plausible_id(record_id):
            raise RecordNotFound()
        row = await repository.get_record(session, rt, record_id)
        if row is None:
            raise RecordNotFound()
        return rt.to_record(row)

    async def update_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
        body: bytes,
    ) -> dict[str, Any]:
        values = writable(parse_body(body))
        tenant, rt = await self._table_for_write(ctx, app_slug, schema_slug, list(values))
        columns = validate_values(rt.schema, values, creating=False)
        if not _plausible_id(record_id):
            raise RecordNotFound()
        if not columns:
            row = await repository.get_record(session, rt, record_id)
            if row is None:
                raise RecordNotFound()
            return rt.to_record(row)
        columns.update(_actor(ctx, creating=False))
        row = await repository.update_record(session, rt, record_id, columns)
        if row is None:
            raise RecordNotFound()
        record = rt.to_record(row)
        changed = [f.slug for f in rt.schema.fields if f.slug in values]
        await self._outbox.add(session, events.record_updated(tenant, rt.schema, record, changed))
        return record

    async def delete_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
    ) -> None:
        tenant, rt = await self._table(ctx, app_slug, schema_slug)
        if not _plausible_id(record_id) or not await repository.delete_record(
            session, rt, record_id
        ):
            raise RecordNotFound()
        await self._outbox.add(session, events.record_deleted(tenant, rt.schema, record_id))

    async def list_records(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        page: int = 0,
        per_page: int = 0,
        sort: Iterable[SortLike] = (),
        filter: records_pb2.FilterNode | None = None,
        cursor: str = "",
        count: bool = True,
        fields: Sequence[str] = (),
    ) -> RecordPage:
        limit, offset = page_bounds(page, per_page)
        if cursor and page:
            raise ValidationFailed("Give either 'page' or 'cursor', not both", field="cursor")
        _, rt = await self._table(ctx, app_slug, schema_slug)
        specs = sort_specs(rt.schema, sort)
        tree = None if filter is None else filter_tree(rt.schema, filter)
        keep = selected_keys(rt.schema, fields)
        bound_to = binding(
            [(s.field.id, s.descending) for s in specs], None if filter is None else filter
        )
        after = None
        if cursor:
            after = self._cursors.decode(cursor, bound_to=bound_to, keys=len(specs) or 1)
            offset = 0
        query = ListQuery(
            sort=specs,
            filter=tree,
            limit=limit + 1,
            offset=offset,
            after=after,
            count=count,
        )
        rows, total = await repository.list_records(session, rt, query)
        more = len(rows) > limit
        rows = rows[:limit]
        to_record = rt.to_record
        records = [to_record(row) for row in rows]
        next_cursor = ""
        if more and rows:
            next_cursor = self._cursors.encode(_keyset(rt, specs, rows[-1]), bound_to=bound_to)
        if keep is not None:
            records = [{k: v for k, v in r.items() if k in keep} for r in records]
        return RecordPage(records=records, total=total, next_cursor=next_cursor)

    async def export_plan(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        sort: Iterable[SortLike] = (),
        filter: records_pb2.FilterNode | None = None,
        fields: Sequence[str] = (),
    ) -> ExportPlan:
        """Every record the list's sort and filter select, with no pages: checked here,
        read batch by batch with export_batch."""
        _, rt = await self._table(ctx, app_slug, schema_slug)
        keep = selected_keys(rt.schema, fields)
        return ExportPlan(
            rt=rt,
            sort=sort_specs(rt.schema, sort),
            filter=None if filter is None else filter_tree(rt.schema, filter),
            keys=rt.keys if keep is None else tuple(k for k in rt.keys if k in keep),
            keep=keep,
        )

    async def export_batch(
        self,
        session: AsyncSession,
        plan: ExportPlan,
        after: Keyset | None,
        *,
        size: int = EXPORT_BATCH_SIZE,
    ) -> ExportBatch:
        """The next `size` records after `after` (a keyset, never an offset: each batch
        is an index range however deep the export is)."""
        rt = plan.rt
        query = ListQuery(sort=plan.sort, filter=plan.filter, limit=size, after=after, count=False)
        rows, _ = await repository.list_records(session, rt, query)
        to_record = rt.to_record
        records = [to_record(row) for row in rows]
        if plan.keep is not None:
            keep = plan.keep
            records = [{k: v for k, v in r.items() if k in keep} for r in records]
        following = _keyset(rt, plan.sort, rows[-1]) if len(rows) == size else None
        return ExportBatch(records=records, after=following)

    async def table_for_import(
        self, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str
    ) -> tuple[str, RecordTable]:
        """The tenant and the schema's table, from a fresh definition: an import's header
        may name a field created a moment ago."""
        return await self._table(ctx, app_slug, schema_slug, fresh=True)

    async def get_import(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        import_id: str,
    ) -> Row[Any]:
        """An import job of the caller's tenant, found only under its own schema."""
        tenant, rt = await self._table(ctx, app_slug, schema_slug)
        if not _plausible_id(import_id):
            raise ImportNotFound()
        row = await repository.get_import(session, tenant, rt.schema.id, import_id)
        if row is None:
            raise ImportNotFound()
        return row

    async def preview_field_change(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        field_slug: str,
        changed: FieldDef,
    ) -> tuple[int, list[str]]:
        """How many stored values of the field a change to `changed` would lose."""
        _, rt = await self._table(ctx, app_slug, schema_slug, fresh=True)
        current = rt.schema.by_slug.get(field_slug)
        if current is None or not current.has_column or not changed.has_column:
            return 0, []
        if not repository.needs_conversion(current, changed):
            return 0, []
        return await repository.lost_in_conversion(
            session, rt, current, changed, shown=LOST_IDS_SHOWN
        )


def _actor(ctx: common_pb2.RequestContext, *, creating: bool) -> dict[str, Any]:
    who = ctx.principal_id or None
    return {"created_by": who, "updated_by": who} if creating else {"updated_by": who}


def _keyset(rt: RecordTable, specs: Sequence[SortSpec], row: Sequence[Any]) -> Keyset:
    position = {column.name: index for index, column in enumerate(rt.columns)}
    values = []
    for spec in specs or (SortSpec(SYSTEM_FIELDS[CREATED_AT]),):
        raw = row[position[rt.field_column(spec.field).name]]
        values.append(spec.field.type.sort_value(raw))
    return Keyset(values=tuple(values), record_id=row[position[ID]])


__all__ = [
    "EXPORT_BATCH_SIZE",
    "ExportBatch",
    "ExportPlan",
    "RecordPage",
    "RecordsService",
    "filter_tree",
    "page_bounds",
    "parse_body",
    "sort_specs",
    "validate_values",
    "writable",
]
