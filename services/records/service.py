"""Record rules: body parsing, validation through the field-type registry, list parameters,
and the events each change emits. Takes the caller's session; never commits, never speaks
gRPC."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.errors import ValidationFailed
from services.kit.ids import new_id
from services.kit.nats.outbox import OutboxWriter
from services.kit.tenancy import tenant_of
from services.records import events, repository, tables
from services.records.errors import RecordNotFound
from services.records.fields import REGISTRY
from services.records.provisioning import Provisioner
from services.records.repository import (
    CREATED_AT,
    ID,
    UPDATED_AT,
    FilterSpec,
    ListQuery,
    RecordTable,
    SortSpec,
)
from services.records.schemas import FieldDef, SchemaDef, SchemaSource

READ_ONLY_KEYS = frozenset({ID, CREATED_AT, UPDATED_AT})

DEFAULT_PAGE = 1
MAX_PAGE = 10_000_000
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
MAX_RECORD_ID_LENGTH = 64

# The built-in columns seen as fields, so sorting and filtering on them goes through the
# same registry as user fields. Their id is the column name.
SYSTEM_FIELDS: Mapping[str, FieldDef] = {
    ID: FieldDef(id=ID, slug=ID, name="Id", type=REGISTRY["text"]),
    CREATED_AT: FieldDef(id=CREATED_AT, slug=CREATED_AT, name="Created", type=REGISTRY["datetime"]),
    UPDATED_AT: FieldDef(id=UPDATED_AT, slug=UPDATED_AT, name="Updated", type=REGISTRY["datetime"]),
}


class SortLike(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def descending(self) -> bool: ...


class FilterLike(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def op(self) -> str: ...

    @property
    def value(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[dict[str, Any]]
    total: int


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: a JSON object keyed by field slug."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
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
    field must be present and non-null; on update a present required field must not be
    null."""
    for key in values:
        if key not in schema.by_slug:
            raise ValidationFailed(f"Unknown field '{key}'", field=key)
    columns: dict[str, Any] = {}
    for f in schema.fields:
        if f.slug not in values:
            if creating and f.required:
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
    return SYSTEM_FIELDS.get(slug) or schema.by_slug.get(slug)


def sort_specs(schema: SchemaDef, keys: Iterable[SortLike]) -> tuple[SortSpec, ...]:
    specs: list[SortSpec] = []
    seen: set[str] = set()
    for key in keys:
        f = _lookup(schema, key.field)
        if f is None:
            raise ValidationFailed(f"Unknown sort field '{key.field}'", field="sort")
        if not f.type.sortable:
            raise ValidationFailed(f"Field '{key.field}' cannot be sorted", field="sort")
        # A repeated key cannot change the order; the first one wins.
        if f.id not in seen:
            seen.add(f.id)
            specs.append(SortSpec(f.id, key.descending))
    return tuple(specs)


def filter_specs(schema: SchemaDef, filters: Iterable[FilterLike]) -> tuple[FilterSpec, ...]:
    specs: list[FilterSpec] = []
    for item in filters:
        param = f"filter[{item.field}]"
        f = _lookup(schema, item.field)
        if f is None:
            raise ValidationFailed(f"Unknown filter field '{item.field}'", field=param)
        # proto3's empty string is the default operator.
        op = item.op or "eq"
        if op != "eq":
            raise ValidationFailed(
                f"Unsupported filter operator '{op}' on '{item.field}'", field=param
            )
        specs.append(FilterSpec(f.id, f.type, f.type.parse_filter(f, item.value, param=param)))
    return tuple(specs)


def _plausible_id(record_id: str) -> bool:
    # Anything else cannot exist; answering the same 404 without a query is cheaper.
    return 0 < len(record_id) <= MAX_RECORD_ID_LENGTH and "\x00" not in record_id


class RecordsService:
    def __init__(self, schemas: SchemaSource, provisioner: Provisioner) -> None:
        self._schemas = schemas
        self._provisioner = provisioner
        self._outbox = OutboxWriter(tables.outbox)

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
        filters: Iterable[FilterLike] = (),
    ) -> RecordPage:
        limit, offset = page_bounds(page, per_page)
        _, rt = await self._table(ctx, app_slug, schema_slug)
        query = ListQuery(
            sort=sort_specs(rt.schema, sort),
            filters=filter_specs(rt.schema, filters),
            limit=limit,
            offset=offset,
        )
        rows, total = await repository.list_records(session, rt, query)
        to_record = rt.to_record
        return RecordPage(records=[to_record(row) for row in rows], total=total)


__all__ = [
    "RecordPage",
    "RecordsService",
    "filter_specs",
    "page_bounds",
    "parse_body",
    "sort_specs",
    "validate_values",
]
