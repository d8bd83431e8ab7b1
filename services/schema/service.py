"""The schema service's domain logic. Functions take (session, ctx, inputs), flush
through the repository and never commit: the servicer owns the transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.errors import Conflict
from services.kit.tenancy import tenant_of
from services.schema import events, rules
from services.schema.errors import AppNotFound, SchemaNotFound, SlugTaken
from services.schema.models import App, Schema
from services.schema.repository import SchemaRepository

# A derived slug is checked against this many numbered candidates per query.
SLUG_BATCH = 50
SLUG_SEARCH_LIMIT = 1000
# A derived slug can lose a race with a concurrent create; pick again this many times.
INSERT_ATTEMPTS = 5


@dataclass(frozen=True)
class AppInput:
    name: str
    slug: str = ""
    description: str = ""


@dataclass(frozen=True)
class SchemaInput:
    app_slug: str
    name: str
    slug: str = ""
    fields: Sequence[rules.FieldInput] = ()


async def create_app(session: AsyncSession, ctx: common_pb2.RequestContext, data: AppInput) -> App:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    name = rules.clean_name(data.name)
    description = rules.clean_description(data.description)
    explicit = data.slug.strip()
    if explicit:
        rules.check_app_slug(explicit)
    base = rules.derive_slug(name, fallback=rules.APP_FALLBACK_SLUG)
    for _ in range(INSERT_ATTEMPTS):
        slug = explicit or await _free_slug(base, repo.taken_app_slugs)
        app = await repo.insert_app(slug=slug, name=name, description=description)
        if app is not None:
            await events.publish(session, events.app_created(tenant_id, app))
            return app
        if explicit:
            raise SlugTaken(f"An app with slug '{slug}' already exists", field="slug")
    raise Conflict("Could not find a free slug for the app; try again", field="slug")


async def list_apps(session: AsyncSession, ctx: common_pb2.RequestContext) -> list[App]:
    return await SchemaRepository(session, tenant_of(ctx)).list_apps()


async def get_app(session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str) -> App:
    app = await SchemaRepository(session, tenant_of(ctx)).get_app(app_slug)
    if app is None:
        raise AppNotFound()
    return app


async def create_schema(
    session: AsyncSession, ctx: common_pb2.RequestContext, data: SchemaInput
) -> Schema:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    app = await repo.get_app(data.app_slug)
    if app is None:
        raise AppNotFound()
    name = rules.clean_name(data.name)
    explicit = data.slug.strip()
    if explicit:
        rules.check_schema_slug(explicit)
    fields = rules.check_fields(data.fields)
    base = rules.derive_slug(name, fallback=rules.SCHEMA_FALLBACK_SLUG)

    async def taken(candidates: Sequence[str]) -> set[str]:
        return await repo.taken_schema_slugs(app.id, candidates)

    for _ in range(INSERT_ATTEMPTS):
        slug = explicit or await _free_slug(base, taken)
        schema = await repo.insert_schema(app=app, slug=slug, name=name, fields=fields)
        if schema is not None:
            await events.publish(session, events.schema_created(tenant_id, schema))
            return schema
        if explicit:
            raise SlugTaken(f"A schema with slug '{slug}' already exists in this app", field="slug")
    raise Conflict("Could not find a free slug for the schema; try again", field="slug")


async def list_schemas(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str
) -> list[Schema]:
    repo = SchemaRepository(session, tenant_of(ctx))
    app = await repo.get_app(app_slug)
    if app is None:
        raise AppNotFound()
    return await repo.list_schemas(app)


async def get_schema(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str
) -> Schema:
    app_exists, schema = await SchemaRepository(session, tenant_of(ctx)).find_schema(
        app_slug, schema_slug
    )
    if not app_exists:
        raise AppNotFound()
    if schema is None:
        raise SchemaNotFound()
    return schema


async def _free_slug(base: str, taken: Callable[[Sequence[str]], Awaitable[set[str]]]) -> str:
    """The first of base, base-2, base-3, ... that `taken` does not report."""
    for first in range(1, SLUG_SEARCH_LIMIT + 1, SLUG_BATCH):
        candidates = rules.slug_candidates(base, first=first, count=SLUG_BATCH)
        used = await taken(candidates)
        for candidate in candidates:
            if candidate not in used:
                return candidate
    raise Conflict(f"Too many slugs start with '{base}'; give a slug", field="slug")
