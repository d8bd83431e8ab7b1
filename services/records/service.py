"""Record rules: body parsing, validation through the field-type registry, list parameters,
and the events each change emits. Takes the caller's session; never commits, never speaks
gRPC."""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NoReturn, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2

from services.kit.access import APP_KINDS, Op, Principal
from services.kit.clock import rfc3339
from services.kit.db import Executor
from services.kit.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ServiceUnavailable,
    ValidationFailed,
)
from services.kit.fields import ALL_OPERATORS
from services.kit.ids import new_id
from services.kit.json import NestedTooDeeply, dumps_exact, loads_exact
from services.kit.nats.outbox import OutboxWriter
from services.kit.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE
from services.kit.privacy import CLOSED, schema_access
from services.kit.tenancy import tenant_of
from services.records import events, repository, tables
from services.records.cursors import CursorCodec, binding
from services.records.errors import ImportNotFound, RecordNotFound, TrashNotFound
from services.records.provisioning import Provisioner
from services.records.repository import (
    CREATED_AT,
    ID,
    SYSTEM_FIELDS,
    UNLIMITED,
    UPDATED_AT,
    VERSION,
    Condition,
    FilterNode,
    Group,
    Keyset,
    ListQuery,
    RecordTable,
    RowAccess,
    SortSpec,
    compile_access,
)
from services.records.schemas import FieldDef, SchemaDef, SchemaSource
from services.records.totals import Totals

READ_ONLY_KEYS = frozenset({ID, VERSION, CREATED_AT, UPDATED_AT})

DEFAULT_PAGE = 1
MAX_PAGE = 10_000_000
MAX_RECORD_ID_LENGTH = 64
# Records an export reads from its cursor at a time.
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
    # As a list's: a tsquery, and the link fields shown as the linked records.
    search: str | None = None
    expand: frozenset[str] = frozenset()
    access: RowAccess = UNLIMITED


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: a JSON object keyed by field slug, numbers kept exact."""
    try:
        body = loads_exact(raw)
    except NestedTooDeeply:
        raise ValidationFailed("Request body nests too deeply") from None
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


# Words of a search, at most; each matches as a prefix.
MAX_SEARCH_WORDS = 16
_WORD = re.compile(r"\w+")


def search_terms(search: str) -> str:
    """A search as a tsquery: every word must match the start of a word in the record."""
    words = _WORD.findall(search.lower())[:MAX_SEARCH_WORDS]
    if not words:
        raise ValidationFailed("'search' needs at least one word", field="search")
    return " & ".join(f"{word}:*" for word in words)


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
        self._totals = Totals()

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

    async def _table_for(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        op: Op,
        *,
        keys: Sequence[str] = (),
    ) -> tuple[str, RecordTable, RowAccess]:
        """The table, once the caller may perform `op` on it, with what its privacy rules
        let it see and do there. A write naming a field the cached definition does not
        know asks the schema service once more, so a field created a moment ago is
        accepted."""
        tenant, rt = await self._table(ctx, app_slug, schema_slug)
        if keys and unknown_keys(rt.schema, keys):
            tenant, rt = await self._table(ctx, app_slug, schema_slug, fresh=True)
        return tenant, rt, access_to(ctx, rt, op)

    async def create_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        body: bytes,
    ) -> dict[str, Any]:
        values = writable(parse_body(body))
        tenant, rt, access = await self._table_for(
            ctx, app_slug, schema_slug, Op.RECORDS_CREATE, keys=list(values)
        )
        _refuse_hidden(access, values)
        columns = validate_values(rt.schema, values, creating=True)
        links = _take_links(rt, columns)
        columns.update(_actor(ctx, creating=True))
        with _unique_conflicts(rt):
            row = await repository.insert_record(
                session, rt, new_id("rec"), columns, checks=repository.creation_checks(access)
            )
        _check_created(access, rt, [row])
        record = rt.to_record(row[: len(rt.columns)])
        await self._save_links(session, ctx, rt, {record[ID]: links})
        await self._show_links(session, ctx, rt, [record])
        _mask(access, [record], [row], len(rt.columns) + 1)
        await self._outbox.add(
            session, events.record_created(tenant, rt.schema, record, repository.image_of(row))
        )
        return record

    async def get_record(
        self,
        session: Executor,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
        *,
        expand: Sequence[str] = (),
    ) -> dict[str, Any]:
        _, rt, access = await self._table_for(ctx, app_slug, schema_slug, Op.RECORDS_READ)
        expanded = _expanded(rt.schema, expand)
        _refuse_hidden(access, expanded, where="expand")
        if not _plausible_id(record_id):
            raise RecordNotFound()
        row = await repository.get_record(session, rt, record_id, access)
        if row is None:
            raise RecordNotFound()
        record = rt.to_record(row[: len(rt.columns)])
        await self._show_links(session, ctx, rt, [record], expand=expanded)
        _mask(access, [record], [row], len(rt.columns))
        return record

    async def update_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
        body: bytes,
        *,
        if_match: int | None = None,
    ) -> dict[str, Any]:
        values = writable(parse_body(body))
        tenant, rt, access = await self._table_for(
            ctx, app_slug, schema_slug, Op.RECORDS_UPDATE, keys=list(values)
        )
        _refuse_hidden(access, values)
        columns = validate_values(rt.schema, values, creating=False)
        links = _take_links(rt, columns)
        if not _plausible_id(record_id):
            raise RecordNotFound()
        if not columns and not links:
            row = await repository.get_record(session, rt, record_id, access)
            if row is None:
                raise RecordNotFound()
            record = rt.to_record(row[: len(rt.columns)])
            _check_version(record_id, record[VERSION], if_match)
            await self._show_links(session, ctx, rt, [record])
            _mask(access, [record], [row], len(rt.columns))
            return record
        columns.update(_actor(ctx, creating=False))
        with _unique_conflicts(rt):
            row = await repository.update_record(
                session,
                rt,
                record_id,
                columns,
                if_match=if_match,
                allowed=access.update,
                flags=access.flags,
            )
        if row is None:
            await self._refused(session, rt, access, record_id, if_match)
        record = rt.to_record(row[: len(rt.columns)])
        await self._save_links(session, ctx, rt, {record_id: links})
        await self._show_links(session, ctx, rt, [record])
        _mask(access, [record], [row], len(rt.columns))
        changed = [f.slug for f in rt.schema.fields if f.slug in values]
        await self._outbox.add(
            session,
            events.record_updated(tenant, rt.schema, record, changed, repository.images_of(row)),
        )
        return record

    async def delete_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_id: str,
        *,
        if_match: int | None = None,
    ) -> None:
        tenant, rt, access = await self._table_for(ctx, app_slug, schema_slug, Op.RECORDS_DELETE)
        if not _plausible_id(record_id):
            raise RecordNotFound()
        trashed = await repository.trash_records(
            session,
            rt,
            [record_id],
            tenant_id=tenant,
            deleted_by=Principal.of(ctx).current_user,
            if_match=if_match,
            allowed=access.delete,
        )
        if not trashed:
            await self._refused(session, rt, access, record_id, if_match)
        await repository.unlink(session, rt.schema.id, [record_id])
        await self._outbox.add(
            session, events.record_deleted(tenant, rt.schema, record_id, trashed[record_id])
        )

    async def list_trash(
        self, session: AsyncSession, ctx: common_pb2.RequestContext
    ) -> list[dict[str, Any]]:
        """The workspace's deleted records that can still be restored, newest first."""
        rows = await repository.trashed(
            session, tenant_of(ctx), limit=MAX_TRASH_LISTED, deleted_by=_own_trash_only(ctx)
        )
        return [
            {
                "id": row.id,
                "type": "record",
                "app": row.app_slug,
                "schema": row.schema_slug,
                "record_id": row.record_id,
                "deleted_at": rfc3339(row.deleted_at),
                "deleted_by": row.deleted_by,
                "expires_at": rfc3339(row.deleted_at + TRASH_RETENTION),
            }
            for row in rows
        ]

    async def restore(
        self, session: AsyncSession, ctx: common_pb2.RequestContext, trash_id: str
    ) -> tuple[SchemaDef, dict[str, Any]]:
        """Puts a trashed record back, with the links whose targets still exist."""
        tenant = tenant_of(ctx)
        if not 0 < len(trash_id) <= MAX_RECORD_ID_LENGTH:
            raise TrashNotFound()
        entry = await repository.take_from_trash(
            session, tenant, trash_id, deleted_by=_own_trash_only(ctx)
        )
        if entry is None:
            raise TrashNotFound()
        try:
            schema = await self._schemas.by_id(ctx, entry.schema_id)
        except NotFound:
            raise Conflict(
                "The record's schema is gone; restore the schema first", field="schema"
            ) from None
        rt = await self._provisioner.ensure(tenant, schema)
        with _unique_conflicts(rt):
            row = await repository.restore_record(session, rt, entry.data)
        record = rt.to_record(row)
        targets = await self._targets(ctx, rt)
        kept: dict[str, list[str]] = {}
        for f in rt.schema.fields:
            ids = entry.links.get(f.id)
            target_table = targets.get(f.id)
            if f.is_link and ids and target_table is not None:
                alive = await repository.existing_ids(session, target_table, ids)
                kept[f.id] = [i for i in ids if i in alive]
        await self._save_links(session, ctx, rt, {record[ID]: kept})
        await self._show_links(session, ctx, rt, [record])
        await self._outbox.add(session, events.record_created(tenant, rt.schema, record))
        return rt.schema, record

    async def _targets(
        self, ctx: common_pb2.RequestContext, rt: RecordTable
    ) -> dict[str, RecordTable | None]:
        """Link field id -> the (provisioned) table of the schema it links to; None while
        that schema is in the trash."""
        found: dict[str, RecordTable | None] = {}
        for f in rt.schema.fields:
            if not f.is_link:
                continue
            if f.target_id == rt.schema.id:
                found[f.id] = rt
                continue
            try:
                target = await self._schemas.get(ctx, rt.schema.app_slug, f.target)
            except NotFound:
                found[f.id] = None
                continue
            found[f.id] = await self._provisioner.ensure(tenant_of(ctx), target)
        return found

    async def _save_links(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        rt: RecordTable,
        written: Mapping[str, Mapping[str, list[str]]],
    ) -> None:
        """Stores the links each written record was given (record id -> field id -> target
        ids); every target must be a record of the linked schema."""
        if not any(written.values()):
            return
        targets = await self._targets(ctx, rt)
        for f in rt.schema.fields:
            if not f.is_link:
                continue
            given = {rid: held[f.id] for rid, held in written.items() if f.id in held}
            if not given:
                continue
            wanted = {target for ids in given.values() for target in ids}
            target_table = targets[f.id]
            if target_table is None:
                if wanted:
                    raise ValidationFailed(
                        f"Field '{f.slug}' links to a schema that is in the trash", field=f.slug
                    )
                await repository.replace_links(session, rt, f, given)
                continue
            found = await repository.existing_ids(session, target_table, sorted(wanted))
            missing = sorted(wanted - found)
            if missing:
                raise ValidationFailed(
                    f"Field '{f.slug}' links to {_shown(missing[0])}, which is not a record"
                    f" of '{f.target}'",
                    field=f.slug,
                    details=[{"field": f.slug, "record_id": m} for m in missing[:100]],
                )
            await repository.replace_links(session, rt, f, given)

    async def _show_links(
        self,
        session: Executor,
        ctx: common_pb2.RequestContext,
        rt: RecordTable,
        records: list[dict[str, Any]],
        *,
        expand: frozenset[str] = frozenset(),
        keep: frozenset[str] | None = None,
    ) -> None:
        """Fills the records' link fields: [{"id", "display"}], or the linked records
        themselves for the fields in `expand`; one query per link field for all records."""
        shown = [f for f in rt.schema.fields if f.is_link and (keep is None or f.slug in keep)]
        if not shown or not records:
            return
        targets = await self._targets(ctx, rt)
        ids = [r[ID] for r in records]
        for f in shown:
            links = await repository.links_of(session, rt, f, targets[f.id], ids)
            target = targets[f.id]
            seen = UNLIMITED if target is None else _target_access(ctx, target)
            full: dict[str, dict[str, Any]] = {}
            if target is not None and (f.slug in expand or seen is not UNLIMITED):
                wanted = sorted({link["id"] for held in links.values() for link in held})
                rows = await repository.records_by_id(session, target, wanted, seen)
                width = len(target.columns)
                full = {rid: target.to_record(row[:width]) for rid, row in rows.items()}
                _mask(seen, list(full.values()), list(rows.values()), width)
            if seen is not UNLIMITED:
                # A linked record the caller may not find is left out, and its display
                # (the target's primary field) shows only where the caller reads it.
                primary = _primary_slug(target)
                links = {
                    record_id: [
                        {"id": link["id"], "display": full[link["id"]].get(primary)}
                        for link in held
                        if link["id"] in full
                    ]
                    for record_id, held in links.items()
                }
            for record in records:
                record[f.slug] = links.get(record[ID], [])
            if f.slug in expand and target is not None:
                for record in records:
                    record[f.slug] = [
                        full[link["id"]] for link in record[f.slug] if link["id"] in full
                    ]

    async def _refused(
        self,
        session: AsyncSession,
        rt: RecordTable,
        access: RowAccess,
        record_id: str,
        if_match: int | None,
    ) -> NoReturn:
        """Raises why a write the privacy rules narrowed matched no row: a record the
        caller cannot find does not exist for it; one it finds but may not change is
        forbidden; otherwise the version moved."""
        if access is not UNLIMITED:
            row = await repository.get_record(session, rt, record_id, access)
            if row is None:
                raise RecordNotFound()
            if if_match is None or rt.to_record(row[: len(rt.columns)])[VERSION] == if_match:
                raise PermissionDenied("Privacy rules do not let you change this record")
        await self._missing_or_moved(session, rt, record_id, if_match)
        # At the version asked for after all: it changed between the write and this look.
        raise RecordNotFound()

    async def _refused_item(
        self,
        session: AsyncSession,
        rt: RecordTable,
        access: RowAccess,
        record_id: str,
        where: str,
    ) -> NoReturn:
        """_refused for one item of a batch, which names the item and writes nothing."""
        try:
            await self._refused(session, rt, access, record_id, None)
        except (RecordNotFound, PermissionDenied) as error:
            raise type(error)(
                f"{error.message} ({where}: {record_id}); nothing was written",
                field=where,
                details=[{"field": where, "message": error.message}],
            ) from None

    async def _missing_or_moved(
        self, session: AsyncSession, rt: RecordTable, record_id: str, if_match: int | None
    ) -> None:
        """Raises why a write matched no row: no such record, or not at that version."""
        current = (
            None if if_match is None else await repository.current_version(session, rt, record_id)
        )
        if current is None:
            raise RecordNotFound()
        _check_version(record_id, current, if_match)

    async def create_records(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        body: bytes,
        *,
        upsert_on: str = "",
    ) -> list[dict[str, Any]]:
        """Up to MAX_BATCH records, all or none. With `upsert_on` (a unique field), an item
        whose value some record holds updates that record instead."""
        items = _batch(parse_json_array(body))
        slugs = {key for item in items for key in item}
        tenant, rt, access = await self._table_for(
            ctx, app_slug, schema_slug, Op.RECORDS_CREATE, keys=sorted(slugs)
        )
        _refuse_hidden(access, slugs)
        schema = rt.schema
        key_field = _upsert_field(schema, upsert_on) if upsert_on else None
        if key_field is not None:
            Principal.of(ctx).require_on(
                Op.RECORDS_UPDATE, app_id=schema.app_id, schema_id=schema.id
            )
        violations: list[dict[str, str]] = []
        rows: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                values = writable(item)
                rows.append(validate_values(schema, values, creating=key_field is None))
            except ValidationFailed as error:
                violations.append(_violation(index, error))
        _refuse(violations)
        updates: dict[int, str] = {}
        if key_field is not None:
            updates = await self._upsert_targets(session, rt, key_field, items, rows)
            for index in range(len(rows)):
                if index not in updates:
                    # A new record: required fields and defaults apply.
                    try:
                        rows[index] = validate_values(schema, writable(items[index]), creating=True)
                    except ValidationFailed as error:
                        violations.append(_violation(index, error))
            _refuse(violations)
        await self._refuse_duplicates(session, rt, rows, skip=set(updates))
        links = [_take_links(rt, row) for row in rows]
        created_by = _actor(ctx, creating=True)
        inserts = [
            {ID: new_id("rec"), **row, **created_by}
            for index, row in enumerate(rows)
            if index not in updates
        ]
        width = len(rt.columns)
        with _unique_conflicts(rt):
            new_rows = (
                await repository.insert_records(
                    session, rt, inserts, checks=repository.creation_checks(access)
                )
                if inserts
                else []
            )
            _check_created(access, rt, new_rows)
            inserted = iter(new_rows)
            updated_by = _actor(ctx, creating=False)
            records = []
            stored: list[Sequence[Any]] = []
            images: dict[int, tuple[repository.Image, repository.Image]] = {}
            for index, row in enumerate(rows):
                if index in updates:
                    changed_row = await repository.update_record(
                        session,
                        rt,
                        updates[index],
                        {**row, **updated_by},
                        allowed=access.update,
                        flags=access.flags,
                    )
                    if changed_row is None:
                        await self._refused_item(
                            session, rt, access, updates[index], f"records[{index}]"
                        )
                    records.append(rt.to_record(changed_row[:width]))
                    images[index] = repository.images_of(changed_row)
                    # As a new row reads: the creation check's place holds nothing.
                    stored.append((*changed_row[:width], True, *changed_row[width:]))
                else:
                    new_row = next(inserted)
                    records.append(rt.to_record(new_row[:width]))
                    stored.append(new_row)
        await self._save_links(
            session, ctx, rt, {r[ID]: held for r, held in zip(records, links, strict=True)}
        )
        await self._show_links(session, ctx, rt, records)
        _mask(access, records, stored, width + 1)
        batch_events = []
        for index, record in enumerate(records):
            if index in updates:
                changed = [f.slug for f in schema.fields if f.slug in items[index]]
                batch_events.append(
                    events.record_updated(tenant, schema, record, changed, images[index])
                )
            else:
                batch_events.append(
                    events.record_created(
                        tenant, schema, record, repository.image_of(stored[index])
                    )
                )
        await self._outbox.add_many(session, batch_events)
        return records

    async def _upsert_targets(
        self,
        session: AsyncSession,
        rt: RecordTable,
        key_field: FieldDef,
        items: Sequence[Mapping[str, Any]],
        rows: Sequence[Mapping[str, Any]],
    ) -> dict[int, str]:
        """Item index -> the id of the record it updates (its key value exists)."""
        violations = []
        keys: dict[Any, int] = {}
        for index, row in enumerate(rows):
            value = row.get(key_field.id)
            if value is None:
                violations.append(
                    {
                        "field": f"records[{index}].{key_field.slug}",
                        "message": f"Upserting on '{key_field.slug}' needs its value",
                    }
                )
            elif value in keys:
                violations.append(
                    {
                        "field": f"records[{index}].{key_field.slug}",
                        "message": f"records[{keys[value]}] has the same '{key_field.slug}'",
                    }
                )
            else:
                keys[value] = index
        _refuse(violations)
        held = await repository.holders(session, rt, key_field, list(keys), lock=True)
        return {keys[value]: record_id for value, record_id in held.items()}

    async def _refuse_duplicates(
        self,
        session: AsyncSession,
        rt: RecordTable,
        rows: Sequence[Mapping[str, Any]],
        *,
        skip: set[int],
    ) -> None:
        """Names each item whose unique value repeats within the batch or is held by a
        record the batch does not update."""
        violations = []
        for f in rt.schema.fields:
            if not f.unique or not f.has_column:
                continue
            first: dict[Any, int] = {}
            for index, row in enumerate(rows):
                value = row.get(f.id)
                if value is None:
                    continue
                if value in first:
                    violations.append(
                        {
                            "field": f"records[{index}].{f.slug}",
                            "message": f"records[{first[value]}] has the same '{f.slug}'",
                        }
                    )
                else:
                    first[value] = index
            held = await repository.holders(session, rt, f, list(first)) if first else {}
            for value, record_id in held.items():
                index = first[value]
                if index in skip:
                    continue
                violations.append(
                    {
                        "field": f"records[{index}].{f.slug}",
                        "message": f"Record {record_id} already has this '{f.slug}'",
                    }
                )
        if violations:
            raise Conflict(
                f"{len(violations)} record(s) repeat a unique value; nothing was written",
                field=violations[0]["field"],
                details=violations,
            )

    async def update_records(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        body: bytes,
    ) -> list[dict[str, Any]]:
        """Up to MAX_BATCH partial updates, each naming its record's "id"; all or none."""
        items = _batch(parse_json_array(body))
        slugs = {key for item in items for key in item}
        tenant, rt, access = await self._table_for(
            ctx, app_slug, schema_slug, Op.RECORDS_UPDATE, keys=sorted(slugs)
        )
        _refuse_hidden(access, slugs - {ID})
        violations = []
        targets: list[tuple[str, dict[str, Any], list[str]]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            record_id = item.get(ID)
            if not isinstance(record_id, str) or not _plausible_id(record_id):
                violations.append(
                    {"field": f"records[{index}].id", "message": "Each record needs its id"}
                )
                continue
            if record_id in seen:
                violations.append(
                    {
                        "field": f"records[{index}].id",
                        "message": f"records[{seen[record_id]}] changes the same record",
                    }
                )
                continue
            seen[record_id] = index
            values = writable(item)
            try:
                columns = validate_values(rt.schema, values, creating=False)
            except ValidationFailed as error:
                violations.append(_violation(index, error))
                continue
            changed = [f.slug for f in rt.schema.fields if f.slug in values]
            targets.append((record_id, columns, changed))
        _refuse(violations)
        updated_by = _actor(ctx, creating=False)
        records = []
        changes = []
        stored = []
        width = len(rt.columns)
        saved: dict[str, dict[str, list[str]]] = {}
        with _unique_conflicts(rt):
            for index, (record_id, columns, changed) in enumerate(targets):
                saved[record_id] = _take_links(rt, columns)
                row = await repository.update_record(
                    session,
                    rt,
                    record_id,
                    {**columns, **updated_by},
                    allowed=access.update,
                    flags=access.flags,
                )
                if row is None:
                    await self._refused_item(session, rt, access, record_id, f"records[{index}].id")
                records.append(rt.to_record(row[:width]))
                stored.append(row)
                changes.append((changed, repository.images_of(row)))
        await self._save_links(session, ctx, rt, saved)
        await self._show_links(session, ctx, rt, records)
        _mask(access, records, stored, width)
        await self._outbox.add_many(
            session,
            [
                events.record_updated(tenant, rt.schema, record, changed, images)
                for record, (changed, images) in zip(records, changes, strict=True)
            ],
        )
        return records

    async def delete_records(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        record_ids: Sequence[str],
    ) -> None:
        """Deletes every record named, or none when one of them does not exist."""
        ids = list(dict.fromkeys(record_ids))
        if not ids or len(ids) > MAX_BATCH:
            raise ValidationFailed(f"Name 1 to {MAX_BATCH} record ids", field="ids")
        tenant, rt, access = await self._table_for(ctx, app_slug, schema_slug, Op.RECORDS_DELETE)
        plausible = [i for i in ids if _plausible_id(i)]
        deleted = await repository.trash_records(
            session,
            rt,
            plausible,
            tenant_id=tenant,
            deleted_by=Principal.of(ctx).current_user,
            allowed=access.delete,
        )
        missing = [i for i in ids if i not in deleted]
        if missing and access is not UNLIMITED:
            found = await repository.records_by_id(session, rt, missing, access)
            if found:
                raise PermissionDenied(
                    f"You may not delete {len(found)} of the records; nothing was deleted",
                    field="ids",
                    details=[{"field": "ids", "record_id": i} for i in sorted(found)[:100]],
                )
        if missing:
            raise RecordNotFound(
                f"{len(missing)} of the records do not exist; nothing was deleted",
                field="ids",
                details=[
                    {"field": "ids", "record_id": i[:MAX_RECORD_ID_LENGTH]} for i in missing[:100]
                ],
            )
        await repository.unlink(session, rt.schema.id, ids)
        await self._outbox.add_many(
            session, [events.record_deleted(tenant, rt.schema, i, deleted[i]) for i in ids]
        )

    async def upsert_record(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        body: bytes,
        upsert_on: str,
    ) -> tuple[dict[str, Any], bool]:
        """(the record, whether it was created): updates the record whose `upsert_on` value
        the body's matches, or creates one."""
        values = writable(parse_body(body))
        tenant, rt, access = await self._table_for(
            ctx, app_slug, schema_slug, Op.RECORDS_CREATE, keys=list(values)
        )
        Principal.of(ctx).require_on(
            Op.RECORDS_UPDATE, app_id=rt.schema.app_id, schema_id=rt.schema.id
        )
        _refuse_hidden(access, values)
        key_field = _upsert_field(rt.schema, upsert_on)
        width = len(rt.columns)
        columns = validate_values(rt.schema, values, creating=False)
        links = _take_links(rt, columns)
        value = columns.get(key_field.id)
        if value is None:
            raise ValidationFailed(
                f"Upserting on '{key_field.slug}' needs its value", field=key_field.slug
            )
        for attempt in range(2):
            existing = await repository.find_by_unique(session, rt, key_field, value)
            if existing is not None:
                with _unique_conflicts(rt):
                    row = await repository.update_record(
                        session,
                        rt,
                        existing,
                        {**columns, **_actor(ctx, creating=False)},
                        allowed=access.update,
                        flags=access.flags,
                    )
                if row is None:
                    if access is not UNLIMITED:
                        await self._refused(session, rt, access, existing, None)
                    continue
                record = rt.to_record(row[:width])
                await self._save_links(session, ctx, rt, {existing: links})
                await self._show_links(session, ctx, rt, [record])
                _mask(access, [record], [row], width)
                changed = [f.slug for f in rt.schema.fields if f.slug in values]
                await self._outbox.add(
                    session,
                    events.record_updated(
                        tenant, rt.schema, record, changed, repository.images_of(row)
                    ),
                )
                return record, False
            created = validate_values(rt.schema, values, creating=True)
            _take_links(rt, created)
            try:
                row = await repository.insert_record(
                    session,
                    rt,
                    new_id("rec"),
                    {**created, **_actor(ctx, creating=True)},
                    savepoint=True,
                    checks=repository.creation_checks(access),
                )
            except repository.UniqueViolation as violation:
                # A concurrent upsert created it first: update that one instead.
                if violation.field_id == key_field.id and attempt == 0:
                    continue
                raise _conflict(rt, violation) from None
            _check_created(access, rt, [row])
            record = rt.to_record(row[:width])
            await self._save_links(session, ctx, rt, {record[ID]: links})
            await self._show_links(session, ctx, rt, [record])
            _mask(access, [record], [row], width + 1)
            await self._outbox.add(
                session,
                events.record_created(tenant, rt.schema, record, repository.image_of(row)),
            )
            return record, True
        raise ServiceUnavailable("The record changed while upserting; try again", retry_after=1)

    async def list_records(
        self,
        session: Executor,
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
        search: str = "",
        expand: Sequence[str] = (),
    ) -> RecordPage:
        limit, offset = page_bounds(page, per_page)
        if cursor and page:
            raise ValidationFailed("Give either 'page' or 'cursor', not both", field="cursor")
        _, rt, access = await self._table_for(ctx, app_slug, schema_slug, Op.RECORDS_READ)
        specs = sort_specs(rt.schema, sort)
        tree = None if filter is None else filter_tree(rt.schema, filter)
        keep = selected_keys(rt.schema, fields)
        expanded = _expanded(rt.schema, expand)
        terms = search_terms(search) if search else None
        _refuse_unusable(access, rt, specs, tree, terms)
        _refuse_hidden(access, keep or (), where="fields")
        _refuse_hidden(access, expanded, where="expand")

        def bound_to() -> str:
            """What a cursor belongs to: this schema, this sort (and the sort fields'
            types, whose values it carries), this filter and this search. Worked out
            only when a cursor is read or made: hashing the filter costs on every list."""
            return binding(
                rt.schema.id,
                [(s.field.id, s.field.type.name, s.descending) for s in specs],
                None if filter is None else filter,
                terms,
            )

        query = ListQuery(
            sort=specs,
            filter=tree,
            limit=limit + 1,
            offset=offset,
            count=count,
            search=terms,
            visible=access.find,
            flags=access.flags,
        )
        ranked = repository.rank(rt, query) is not None
        if cursor:
            after = self._cursors.decode(
                cursor, bound_to=bound_to(), keys=1 if ranked else len(specs) or 1
            )
            query = replace(query, after=after, offset=0)
        rows, total = await repository.list_records(session, rt, query, self._totals)
        more = len(rows) > limit
        rows = rows[:limit]
        width = len(rt.columns)
        to_record = rt.to_record
        records = [to_record(row[:width]) for row in rows]
        next_cursor = ""
        if more and rows:
            last = rows[-1]
            keyset = (
                Keyset(values=(last[width],), record_id=last[0])
                if ranked
                else _keyset(rt, specs, last)
            )
            next_cursor = self._cursors.encode(keyset, bound_to=bound_to())
        await self._show_links(session, ctx, rt, records, expand=expanded, keep=keep)
        _mask(access, records, rows, width + (1 if ranked else 0))
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
        search: str = "",
        expand: Sequence[str] = (),
    ) -> ExportPlan:
        """Every record the list's sort, filter and search select, with no pages: checked
        here, read with export_records."""
        _, rt, access = await self._table_for(ctx, app_slug, schema_slug, Op.RECORDS_EXPORT)
        keep = selected_keys(rt.schema, fields)
        specs = sort_specs(rt.schema, sort)
        tree = None if filter is None else filter_tree(rt.schema, filter)
        terms = search_terms(search) if search else None
        expanded = _expanded(rt.schema, expand)
        _refuse_unusable(access, rt, specs, tree, terms)
        _refuse_hidden(access, keep or (), where="fields")
        _refuse_hidden(access, expanded, where="expand")
        readable = access.readable
        return ExportPlan(
            rt=rt,
            sort=specs,
            filter=tree,
            keys=tuple(
                k
                for k in rt.keys
                if (keep is None or k in keep) and (readable is None or k in readable)
            ),
            keep=keep,
            search=terms,
            expand=expanded,
            access=access,
        )

    async def export_records(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        plan: ExportPlan,
        *,
        batch_size: int = EXPORT_BATCH_SIZE,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The plan's records in order, a batch at a time, read by one query through a
        server-side cursor in the caller's transaction, with their links as a list shows
        them."""
        rt = plan.rt
        # Neither page nor count: the stream reads everything the query selects.
        query = ListQuery(
            sort=plan.sort,
            filter=plan.filter,
            limit=0,
            count=False,
            search=plan.search,
            visible=plan.access.find,
            flags=plan.access.flags,
        )
        to_record = rt.to_record
        keep = plan.keep
        width = len(rt.columns)
        async for rows in repository.stream_records(session, rt, query, batch_size=batch_size):
            records = [to_record(row[:width]) for row in rows]
            await self._show_links(session, ctx, rt, records, expand=plan.expand, keep=keep)
            _mask(plan.access, records, rows, width)
            if keep is not None:
                records = [{k: v for k, v in r.items() if k in keep} for r in records]
            yield records

    async def table_for_import(
        self, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str
    ) -> tuple[str, RecordTable]:
        """The tenant and the schema's table, from a fresh definition: an import's header
        may name a field created a moment ago. Bulk loading skips per-record checks, so a
        caller whose privacy rules limit what it may create or read imports nothing."""
        tenant, rt = await self._table(ctx, app_slug, schema_slug, fresh=True)
        access = access_to(ctx, rt, Op.RECORDS_IMPORT)
        if access.create is not None or access.readable is not None:
            raise PermissionDenied(
                "Privacy rules limit what you may create in this schema: create records"
                " one at a time or in batches instead of importing"
            )
        return tenant, rt

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

    async def view_changes(
        self,
        session: Executor,
        ctx: common_pb2.RequestContext,
        request: records_pb2.ViewChangesRequest,
    ) -> records_pb2.ViewChangesResponse:
        """For realtime: what each viewer sees of each change. A change is judged on the
        row's images before and after it, with the viewer's privacy rules and filter in one
        query for all viewers: seen before and after, "updated"; only after, "created";
        only before, "deleted"."""
        rt = await self._watched_table(ctx, request)
        reply = records_pb2.ViewChangesResponse(app_id=rt.schema.app_id, schema_id=rt.schema.id)
        judged: list[tuple[records_pb2.ViewerSights, common_pb2.RequestContext, RowAccess]] = []
        checks: list[Any] = []
        for viewer in request.viewers:
            sights = reply.viewers.add()
            try:
                if viewer.ctx.tenant_id != ctx.tenant_id:
                    raise PermissionDenied("A viewer of another workspace")
                access = access_to(viewer.ctx, rt, Op.RECORDS_READ)
                tree = filter_tree(rt.schema, viewer.filter) if viewer.HasField("filter") else None
                _refuse_unusable(access, rt, (), tree, None)
            except DomainError as refusal:
                sights.error_code = refusal.code
                sights.error_message = refusal.message
                sights.error_field = refusal.field or ""
                continue
            if access.readable is None:
                sights.all_fields = True
            else:
                sights.readable.extend(sorted(access.readable))
            judged.append((sights, viewer.ctx, access))
            checks.append(repository.visible(rt, access, tree))
            checks.extend(access.flags)
        if not judged or not request.changes:
            return reply
        images, before_at, after_at = await self._change_images(session, rt, request.changes)
        rows = await repository.judge_images(session, rt, images, checks)
        width = len(rt.columns)
        at = width
        for sights, viewer_ctx, access in judged:
            flags = len(access.flags)
            seen: list[tuple[int, str, dict[str, Any], Sequence[Any]]] = []
            for index, change in enumerate(request.changes):
                before = before_at.get(index)
                after = after_at.get(index)
                was = before is not None and bool(rows[before][at])
                is_ = after is not None and bool(rows[after][at])
                if was and not is_:
                    sights.sights.add(
                        change=index,
                        action="deleted",
                        record_json=dumps_exact({ID: change.record_id}),
                    )
                elif is_ and after is not None:
                    row = rows[after]
                    # The record's columns, then its flags where _mask looks for them.
                    shown = (*row[:width], *row[at + 1 : at + 1 + flags])
                    action = "updated" if was else "created"
                    seen.append((index, action, rt.to_record(row[:width]), shown))
            if seen:
                records = [record for _, _, record, _ in seen]
                await self._show_links(session, viewer_ctx, rt, records)
                _mask(access, records, [shown for *_, shown in seen], width)
                for index, action, record, _ in seen:
                    sights.sights.add(change=index, action=action, record_json=dumps_exact(record))
                # Deletions and the rest, in the order of the changes.
                sights.sights.sort(key=lambda sight: sight.change)
            at += 1 + flags
        return reply

    async def _watched_table(
        self, ctx: common_pb2.RequestContext, request: records_pb2.ViewChangesRequest
    ) -> RecordTable:
        """The changed schema's table: by its slugs as the event named them, or, when they
        name another schema by now (a rename), by its id; without an id (a subscription
        being made), by its slugs alone."""
        try:
            _, rt = await self._table(ctx, request.schema.app_slug, request.schema.schema_slug)
            if rt.schema.id == request.schema_id or not request.schema_id:
                return rt
        except NotFound:
            if not request.schema_id:
                raise
        schema = await self._schemas.by_id(ctx, request.schema_id)
        return await self._provisioner.ensure(tenant_of(ctx), schema)

    @staticmethod
    async def _change_images(
        session: Executor, rt: RecordTable, changes: Sequence[records_pb2.RecordChange]
    ) -> tuple[list[repository.Image], dict[int, int], dict[int, int]]:
        """The images to judge, and for each change where its images before and after
        are among them. A change whose event carries no image after (an import, a record
        too large for its event to hold it) is judged on the record's current row, and an
        update without its image before as though the record had been in or out of view
        before as it is after; a record gone since shows nothing."""
        missing = [c.record_id for c in changes if c.action != "deleted" and not c.image_json]
        current = await repository.current_images(session, rt, missing) if missing else {}
        images: list[repository.Image] = []
        before_at: dict[int, int] = {}
        after_at: dict[int, int] = {}
        for index, change in enumerate(changes):
            if change.action in ("updated", "deleted") and change.previous_image_json:
                before_at[index] = len(images)
                images.append(loads_exact(change.previous_image_json))
            if change.action == "deleted":
                continue
            after = (
                loads_exact(change.image_json)
                if change.image_json
                else current.get(change.record_id)
            )
            if after is not None:
                after_at[index] = len(images)
                images.append(after)
                if change.action == "updated" and index not in before_at:
                    before_at[index] = after_at[index]
        return images, before_at, after_at

    async def preview_field_change(
        self,
        session: AsyncSession,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        field_slug: str,
        changed: FieldDef,
    ) -> tuple[int, list[str], int]:
        """What a change of the field to `changed` would cost: how many stored values it
        would lose (and some of their records), and how many values repeat when it makes
        the field unique."""
        _, rt = await self._table(ctx, app_slug, schema_slug, fresh=True)
        current = rt.schema.by_slug.get(field_slug)
        if current is None or not current.has_column or not changed.has_column:
            return 0, [], 0
        lost, ids = 0, list[str]()
        if repository.needs_conversion(current, changed):
            lost, ids = await repository.lost_in_conversion(
                session, rt, current, changed, shown=LOST_IDS_SHOWN
            )
        repeated = 0
        if changed.unique and not current.unique:
            repeated = await repository.duplicates(session, rt, current)
        return lost, ids, repeated


MAX_BATCH = 1000
# Deleted records stay restorable this long; then the purge removes them.
TRASH_RETENTION = timedelta(hours=72)
MAX_TRASH_LISTED = 1000


def parse_json_array(raw: bytes) -> list[Any]:
    try:
        body = loads_exact(raw)
    except ValueError:
        raise ValidationFailed("Request body is not valid JSON") from None
    if not isinstance(body, list):
        raise ValidationFailed("'records' must be a list of objects", field="records")
    return body


def _batch(items: list[Any]) -> list[dict[str, Any]]:
    if not items or len(items) > MAX_BATCH:
        raise ValidationFailed(f"A batch holds 1 to {MAX_BATCH} records", field="records")
    bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if bad:
        raise ValidationFailed(
            f"records[{bad[0]}] is not an object",
            field=f"records[{bad[0]}]",
            details=[{"field": f"records[{i}]", "message": "Not an object"} for i in bad[:100]],
        )
    return items


def _violation(index: int, error: ValidationFailed) -> dict[str, str]:
    where = f"records[{index}]" + (f".{error.field}" if error.field else "")
    return {"field": where, "message": error.message}


def _refuse(violations: list[dict[str, str]]) -> None:
    if violations:
        raise ValidationFailed(
            f"{len(violations)} problem(s) in the batch; nothing was written",
            field=violations[0]["field"],
            details=violations[:MAX_BATCH],
        )


def _upsert_field(schema: SchemaDef, slug: str) -> FieldDef:
    f = schema.by_slug.get(slug)
    if f is None or not f.unique:
        raise ValidationFailed(
            f"'upsert_on' must name a unique field; {_shown(slug)} is not one", field="upsert_on"
        )
    return f


def _check_version(record_id: str, current: int, if_match: int | None) -> None:
    if if_match is not None and current != if_match:
        raise PreconditionFailed(
            f"Record {record_id} is at version {current}, not {if_match}",
            field="If-Match",
            details=[{"record_id": record_id, "current_version": current}],
        )


def _conflict(rt: RecordTable, violation: repository.UniqueViolation) -> Conflict:
    f = next((f for f in rt.schema.fields if f.id == violation.field_id), None)
    slug = f.slug if f is not None else "unknown"
    return Conflict(f"Another record already has this '{slug}'", field=slug)


@contextmanager
def _unique_conflicts(rt: RecordTable) -> Iterator[None]:
    """A duplicate value of a unique field is a 409 naming the field."""
    try:
        yield
    except repository.UniqueViolation as violation:
        raise _conflict(rt, violation) from None


def _take_links(rt: RecordTable, columns: dict[str, Any]) -> dict[str, list[str]]:
    """Moves the link fields' target ids out of a validated row (they live in their own
    tables); a null clears the links."""
    return {
        f.id: columns.pop(f.id) or [] for f in rt.schema.fields if f.is_link and f.id in columns
    }


def _expanded(schema: SchemaDef, expand: Sequence[str]) -> frozenset[str]:
    for slug in expand:
        f = schema.by_slug.get(slug)
        if f is None or not f.is_link:
            raise ValidationFailed(
                f"'expand' names link fields; {_shown(slug)} is not one", field="expand"
            )
    return frozenset(expand)


def _actor(ctx: common_pb2.RequestContext, *, creating: bool) -> dict[str, Any]:
    # The person, not the credential: an API token's records are its creator's.
    who = Principal.of(ctx).current_user
    return {"created_by": who, "updated_by": who} if creating else {"updated_by": who}


def _target_access(ctx: common_pb2.RequestContext, target: RecordTable) -> RowAccess:
    """What the caller sees of a linked schema's records: its own privacy rules, and
    nothing of them when it may not read that schema at all."""
    principal = Principal.of(ctx)
    if not principal.bound_by_privacy_rules:
        return UNLIMITED
    schema = target.schema
    if not principal.may_on(Op.RECORDS_READ, app_id=schema.app_id, schema_id=schema.id):
        return compile_access(target, CLOSED)
    return _compiled_access(target, principal)


def _primary_slug(target: RecordTable | None) -> str:
    if target is None:
        return ""
    return next((f.slug for f in target.schema.fields if f.primary and f.has_column), ID)


def _own_trash_only(ctx: common_pb2.RequestContext) -> str | None:
    """A caller bound by privacy rules sees and restores only what it deleted itself:
    the trash would otherwise show records the rules hide."""
    principal = Principal.of(ctx)
    if not principal.bound_by_privacy_rules:
        return None
    return principal.current_user or ""


def access_to(ctx: common_pb2.RequestContext, rt: RecordTable, op: Op) -> RowAccess:
    """What the caller may do in this table: the role table and an API token's grants
    decide whether `op` is allowed at all (PermissionDenied), the schema's privacy rules
    which records and fields it reaches."""
    principal = Principal.of(ctx)
    principal.require_on(op, app_id=rt.schema.app_id, schema_id=rt.schema.id)
    if not principal.bound_by_privacy_rules:
        return UNLIMITED
    if principal.kind in APP_KINDS and rt.schema.privacy_rules is None:
        raise PermissionDenied(
            "This schema has no privacy rules, so it is closed to app users and visitors"
        )
    access = _compiled_access(rt, principal)
    action = WRITE_ACTIONS.get(op)
    if action in access.denied:
        raise PermissionDenied(f"Privacy rules do not let you {action} records here")
    return access


# Compiled rules per (table, caller as the rules see it): a bound caller's every request
# would otherwise rebuild the same SQL expressions.
ACCESS_CACHE_SIZE = 4096
_access_cache: OrderedDict[tuple[Any, ...], tuple[RecordTable, RowAccess]] = OrderedDict()


def _compiled_access(rt: RecordTable, principal: Principal) -> RowAccess:
    key = (
        rt.schema.id,
        rt.schema.version,
        principal.kind,
        principal.role,
        principal.app_role,
        principal.current_user,
    )
    entry = _access_cache.get(key)
    if entry is not None and entry[0] is rt:
        _access_cache.move_to_end(key)
        return entry[1]
    access = compile_access(rt, schema_access(principal, rt.schema.privacy_rules))
    _access_cache[key] = (rt, access)
    if len(_access_cache) > ACCESS_CACHE_SIZE:
        _access_cache.popitem(last=False)
    return access


WRITE_ACTIONS = {
    Op.RECORDS_CREATE: "create",
    Op.RECORDS_UPDATE: "update",
    Op.RECORDS_DELETE: "delete",
}


def _refuse_hidden(access: RowAccess, keys: Iterable[str], *, where: str = "") -> None:
    """A field the caller may not read does not exist for it: naming one in a body,
    `fields` or `expand` is refused like an unknown field."""
    readable = access.readable
    if readable is None:
        return
    for key in keys:
        if key not in readable:
            raise ValidationFailed(f"Unknown field {_shown(key)}", field=where or key[:64])


def _refuse_unusable(
    access: RowAccess,
    rt: RecordTable,
    specs: Sequence[SortSpec],
    tree: FilterNode | None,
    terms: str | None,
) -> None:
    """Filtering, sorting or searching on a field hidden in any record the caller finds
    would tell its values through what matches: refused."""
    usable = access.usable
    if usable is None:
        return

    def allowed(f: FieldDef) -> bool:
        return f.id in usable or f.id in SYSTEM_FIELDS

    for spec in specs:
        if not allowed(spec.field):
            raise ValidationFailed(f"Unknown sort field {_shown(spec.field.slug)}", field="sort")
    for condition in _conditions(tree):
        if not allowed(condition.field):
            raise ValidationFailed(
                f"Unknown filter field {_shown(condition.field.slug)}", field="filter"
            )
    if terms is not None and not all(
        allowed(f) for f in rt.schema.fields if f.has_column and f.type.searchable
    ):
        raise ValidationFailed(
            "Search is not available here: some fields are hidden from you", field="search"
        )


def _conditions(node: FilterNode | None) -> Iterator[Condition]:
    if node is None:
        return
    if isinstance(node, Condition):
        yield node
        return
    for member in node.members:
        yield from _conditions(member)


def _mask(
    access: RowAccess,
    records: list[dict[str, Any]],
    rows: Sequence[Sequence[Any]],
    flags_at: int,
) -> None:
    """Removes, in place, the fields the caller may not read in each record; `rows` are
    the records' rows with the rules' flags from `flags_at` on."""
    readable = access.readable
    if not access.flags:
        if readable is None:
            return
        for record in records:
            for key in [k for k in record if k not in readable]:
                del record[key]
        return
    count = len(access.flags)
    for record, row in zip(records, rows, strict=True):
        shown: set[str] = set()
        for holds, keys in zip(row[flags_at : flags_at + count], access.branch_keys, strict=True):
            if holds:
                if keys is None:
                    shown = set(record)
                    break
                shown |= keys
        for key in [k for k in record if k not in shown]:
            del record[key]


def _check_created(access: RowAccess, rt: RecordTable, rows: Sequence[Sequence[Any]]) -> None:
    if access is UNLIMITED:
        return
    width = len(rt.columns)
    if not all(row[width] for row in rows):
        raise PermissionDenied("Privacy rules do not let you create this record")


def _keyset(rt: RecordTable, specs: Sequence[SortSpec], row: Sequence[Any]) -> Keyset:
    position = {column.name: index for index, column in enumerate(rt.columns)}
    values = []
    for spec in specs or (SortSpec(SYSTEM_FIELDS[CREATED_AT]),):
        raw = row[position[rt.field_column(spec.field).name]]
        values.append(spec.field.type.sort_value(raw))
    return Keyset(values=tuple(values), record_id=row[position[ID]])


__all__ = [
    "EXPORT_BATCH_SIZE",
    "TRASH_RETENTION",
    "VERSION",
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
