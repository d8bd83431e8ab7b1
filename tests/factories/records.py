"""Typed builders for schema definitions and the in-memory SchemaSource fake shared by the
records unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tessera.common.v1 import common_pb2

from services.kit.errors import NotFound
from services.kit.fields import REGISTRY
from services.kit.ids import new_id
from services.kit.tenancy import tenant_of
from services.records.schemas import FieldDef, SchemaDef, make_schema


def field(
    slug: str,
    type: str = "text",
    *,
    required: bool = False,
    options: Iterable[str] = (),
    position: int = 0,
    id: str | None = None,
) -> FieldDef:
    return FieldDef(
        id=id or new_id("fld"),
        slug=slug,
        name=slug.title(),
        type=REGISTRY[type],
        required=required,
        options=tuple(options),
        position=position,
    )


def schema(
    *fields: FieldDef,
    slug: str = "contacts",
    app_slug: str = "crm",
    version: int = 1,
    id: str | None = None,
    app_id: str | None = None,
) -> SchemaDef:
    positioned = [
        f if f.position else replace(f, position=index + 1) for index, f in enumerate(fields)
    ]
    return make_schema(
        id=id or new_id("sch"),
        app_id=app_id or new_id("app"),
        app_slug=app_slug,
        slug=slug,
        version=version,
        fields=positioned,
    )


def with_fields(base: SchemaDef, *extra: FieldDef) -> SchemaDef:
    """The next version of `base` with `extra` fields appended."""
    start = len(base.fields)
    added = [replace(f, position=start + i + 1) for i, f in enumerate(extra)]
    return replace(base, version=base.version + 1, fields=(*base.fields, *added))


def contacts_schema(
    *, app_slug: str = "crm", slug: str = "contacts", app_id: str | None = None
) -> SchemaDef:
    """A schema holding one field of every type."""
    return schema(
        field("name", "text", required=True),
        field("bio", "long_text"),
        field("age", "number"),
        field("active", "boolean"),
        field("birthday", "date"),
        field("seen_at", "datetime"),
        field("email", "email"),
        field("website", "url"),
        field("status", "select", options=["lead", "customer"]),
        field("tags", "multi_select", options=["a", "b", "c"]),
        app_slug=app_slug,
        slug=slug,
        app_id=app_id,
    )


def context(tenant: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant, principal_id=new_id("acc"), principal_kind="user", role="owner"
    )


class FakeSchemaSource:
    """Definitions per tenant. Like the real cache, a plain get() may answer from a stale
    copy: publish() changes the truth, and only a fresh get() (or the first one) sees it."""

    def __init__(self) -> None:
        self._truth: dict[tuple[str, str, str], SchemaDef] = {}
        self._cached: dict[tuple[str, str, str], SchemaDef] = {}
        self.fresh_calls = 0

    def publish(self, tenant: str, definition: SchemaDef) -> SchemaDef:
        self._truth[(tenant, definition.app_slug, definition.slug)] = definition
        return definition

    def put(self, tenant: str, definition: SchemaDef) -> SchemaDef:
        """Publishes and refreshes the cached copy at once."""
        key = (tenant, definition.app_slug, definition.slug)
        self._truth[key] = self._cached[key] = definition
        return definition

    async def by_id(self, ctx: common_pb2.RequestContext, schema_id: str) -> SchemaDef:
        tenant = tenant_of(ctx)
        for (owner, _, _), definition in self._truth.items():
            if owner == tenant and definition.id == schema_id:
                return definition
        raise NotFound("Schema not found")

    async def get(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        fresh: bool = False,
    ) -> SchemaDef:
        key = (tenant_of(ctx), app_slug, schema_slug)
        if fresh:
            self.fresh_calls += 1
        elif key in self._cached:
            return self._cached[key]
        definition = self._truth.get(key)
        if definition is None:
            raise NotFound("Schema not found")
        self._cached[key] = definition
        return definition
