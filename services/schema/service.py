"""The schema service's domain logic. Functions take (session, ctx, inputs), flush
through the repository and never commit: the servicer owns the transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.access import APP_ROLES, Op, Principal
from services.kit.clock import utcnow
from services.kit.errors import Conflict, ValidationFailed
from services.kit.fields import COLUMN, REGISTRY
from services.kit.tenancy import tenant_of
from services.schema import audit, events, privacy, rules
from services.schema.errors import (
    AppNotFound,
    FieldNotFound,
    SchemaNotFound,
    SlugTaken,
    TrashEntryNotFound,
)
from services.schema.models import NO_DEFAULT, App, Field, FieldSpec, PublicApp, Schema
from services.schema.repository import SchemaRepository, public_app, purgeable

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
    fields = [await _resolve_link(repo, app.id, spec) for spec in rules.check_fields(data.fields)]
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


async def get_schema_by_id(
    session: AsyncSession, ctx: common_pb2.RequestContext, schema_id: str
) -> Schema:
    schema = await SchemaRepository(session, tenant_of(ctx)).find_schema_by_id(schema_id)
    if schema is None:
        raise SchemaNotFound()
    return schema


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


async def resolve_public_app(session: AsyncSession, public_id: str) -> PublicApp:
    found = await public_app(session, public_id)
    if found is None:
        raise AppNotFound()
    return found


@dataclass(frozen=True)
class AppChange:
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    default_app_role: str | None = None


async def update_app(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str, change: AppChange
) -> App:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    app = await repo.get_app(app_slug)
    if app is None:
        raise AppNotFound()
    values: dict[str, Any] = {}
    if change.name is not None:
        values["name"] = rules.clean_name(change.name)
    if change.slug is not None:
        values["slug"] = rules.check_app_slug(change.slug.strip())
    if change.description is not None:
        values["description"] = rules.clean_description(change.description)
    if change.default_app_role is not None:
        if change.default_app_role not in APP_ROLES:
            raise ValidationFailed(
                f"default_app_role must be one of: {', '.join(APP_ROLES)}",
                field="default_app_role",
            )
        values["settings"] = {"default_app_role": change.default_app_role}
    if not values:
        return app
    updated = await repo.update_app(app, **values)
    if updated is None:
        raise SlugTaken(f"An app with slug '{values['slug']}' already exists", field="slug")
    await events.publish(session, events.app_updated(tenant_id, updated))
    await audit.app_settings_changed(session, ctx, tenant_id, app, updated)
    return updated


@dataclass(frozen=True)
class SchemaChange:
    name: str | None = None
    slug: str | None = None


async def update_schema(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_slug: str,
    schema_slug: str,
    change: SchemaChange,
) -> Schema:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await get_schema(session, ctx, app_slug, schema_slug)
    values: dict[str, str] = {}
    if change.name is not None:
        values["name"] = rules.clean_name(change.name)
    if change.slug is not None:
        values["slug"] = rules.check_schema_slug(change.slug.strip())
    if not values:
        return schema
    if not await repo.update_schema(schema, **values):
        raise SlugTaken(
            f"A schema with slug '{values['slug']}' already exists in this app", field="slug"
        )
    return await _changed(session, repo, tenant_id, schema.app_slug, schema.id)


# A FieldChange key left out keeps the field's current value.
UNCHANGED: Any = object()


@dataclass(frozen=True)
class FieldChange:
    name: str | None = None
    slug: str | None = None
    type: str | None = None
    required: bool | None = None
    unique: bool | None = None
    primary: bool | None = None
    options: Sequence[str] | None = None
    # UNCHANGED, None (remove the default) or a JSON value.
    default: Any = UNCHANGED
    config: dict[str, Any] | None = None


async def add_field(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_slug: str,
    schema_slug: str,
    given: rules.FieldInput,
) -> Schema:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await _locked_schema(session, ctx, repo, app_slug, schema_slug)
    if len(schema.fields) >= rules.FIELDS_MAX:
        raise Conflict(f"A schema can have at most {rules.FIELDS_MAX} fields", field="fields")
    position = max((f.position for f in schema.fields), default=-1) + 1
    spec = await _resolve_link(repo, schema.app_id, rules.check_field(given, position))
    if spec.primary:
        await repo.clear_primary(schema.id)
    if await repo.insert_field(schema.id, spec) is None:
        raise SlugTaken(f"The schema already has a field '{spec.slug}'", field=spec.slug)
    await repo.bump_version(schema.id)
    return await _changed(session, repo, tenant_id, schema.app_slug, schema.id, before=schema)


async def update_field(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_slug: str,
    schema_slug: str,
    field_slug: str,
    change: FieldChange,
    *,
    validate_only: bool = False,
) -> Schema:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await _locked_schema(session, ctx, repo, app_slug, schema_slug)
    current = _field_named(schema, field_slug)
    spec = rules.check_field(_merged(current, change), current.position)
    _check_retype(current, spec)
    if spec.type == LINK:
        spec = await _resolve_link(repo, schema.app_id, spec)
        if spec.config.get("target_id") != current.config.get("target_id"):
            raise ValidationFailed(
                f"A link's target cannot change; add a new field linking to "
                f"'{spec.config.get('target')}'",
                field=field_slug,
            )
    changed = Field(
        id=current.id,
        slug=spec.slug,
        name=spec.name,
        type=spec.type,
        required=spec.required,
        options=spec.options,
        position=spec.position,
        unique=spec.unique,
        primary=spec.primary,
        default=spec.default,
        config=spec.config,
    )
    if changed == current:
        return schema
    if validate_only:
        fields = tuple(changed if f.id == current.id else f for f in schema.fields)
        return replace(schema, version=schema.version + 1, fields=fields)
    if changed.primary and not current.primary:
        await repo.clear_primary(schema.id)
    if not await repo.replace_field(changed):
        raise SlugTaken(f"The schema already has a field '{changed.slug}'", field="slug")
    await repo.bump_version(schema.id)
    return await _changed(session, repo, tenant_id, schema.app_slug, schema.id, before=schema)


async def delete_field(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_slug: str,
    schema_slug: str,
    field_slug: str,
) -> Schema:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await _locked_schema(session, ctx, repo, app_slug, schema_slug)
    field = _field_named(schema, field_slug)
    # To the trash: the records service keeps the field's values until the purge.
    await repo.trash("field", field.id, utcnow())
    await repo.bump_version(schema.id)
    return await _changed(session, repo, tenant_id, schema.app_slug, schema.id, before=schema)


# Deleted apps, schemas and fields stay restorable this long.
TRASH_RETENTION = timedelta(hours=72)


@dataclass(frozen=True)
class TrashEntry:
    id: str
    type: str
    name: str
    deleted_at: datetime
    app: str = ""
    schema: str = ""
    field: str = ""

    @property
    def expires_at(self) -> datetime:
        return self.deleted_at + TRASH_RETENTION


async def delete_app(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str
) -> TrashEntry:
    """Moves the app, with its schemas and records, to the trash."""
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    app = await get_app(session, ctx, app_slug)
    when = utcnow()
    await repo.trash("app", app.id, when)
    await events.publish(session, events.app_trashed(tenant_id, app))
    return TrashEntry(id=app.id, type="app", name=app.name, deleted_at=when, app=app.slug)


async def delete_schema(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str
) -> TrashEntry:
    """Moves the schema, with its records, to the trash. Links to it from other schemas
    stay, and show their ids alone, until it is restored or purged."""
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await _locked_schema(session, ctx, repo, app_slug, schema_slug)
    when = utcnow()
    await repo.trash("schema", schema.id, when)
    await events.publish(session, events.schema_trashed(tenant_id, schema))
    return TrashEntry(
        id=schema.id,
        type="schema",
        name=schema.name,
        deleted_at=when,
        app=schema.app_slug,
        schema=schema.slug,
    )


async def list_trash(session: AsyncSession, ctx: common_pb2.RequestContext) -> list[TrashEntry]:
    """Deleted apps, schemas and fields. Whoever may not change them (an editor, say)
    cannot have deleted one, and sees none, as the records trash shows such callers only
    what they deleted themselves."""
    if not Principal.of(ctx).may(Op.APPS_WRITE):
        return []
    entries = await SchemaRepository(session, tenant_of(ctx)).trash_entries()
    return sorted(
        (TrashEntry(**entry) for entry in entries), key=lambda e: e.deleted_at, reverse=True
    )


async def restore(
    session: AsyncSession, ctx: common_pb2.RequestContext, trash_id: str
) -> TrashEntry:
    """Takes an app, schema or field out of the trash under its old slug; 409 when that
    slug was taken meanwhile."""
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    kind = TRASH_KINDS.get(trash_id.split("_", 1)[0])
    entry = None if kind is None else await repo.trashed_entry(kind, trash_id)
    if kind is None or entry is None:
        raise TrashEntryNotFound()
    listed = {e.id: e for e in await list_trash(session, ctx)}
    shown = listed.get(trash_id)
    if shown is None:
        # Inside a trashed app or schema: restore that first.
        raise Conflict(
            "It belongs to something that is in the trash; restore that first", field="id"
        )
    # A field comes back: its schema as it was, so the announcement names it.
    before = await repo.schema_by_id(shown.app, entry.schema_id) if kind == "field" else None
    if not await repo.untrash(kind, trash_id):
        raise SlugTaken(
            f"Its slug '{entry.trashed_slug}' has been taken since; rename that first",
            field="slug",
        )
    if kind == "field":
        await repo.bump_version(entry.schema_id)
        await _changed(session, repo, tenant_id, shown.app, entry.schema_id, before=before)
    elif kind == "schema":
        await repo.bump_version(trash_id)
        await _changed(session, repo, tenant_id, shown.app, trash_id)
    else:
        app = await get_app(session, ctx, entry.trashed_slug)
        await events.publish(session, events.app_updated(tenant_id, app))
    return shown


TRASH_KINDS = {"app": "app", "sch": "schema", "fld": "field"}


async def purge_trash(session: AsyncSession, older_than: datetime) -> int:
    """Removes what has been in the trash too long, of every tenant, and tells the
    records service (which drops the tables and columns then)."""
    purged = 0
    for tenant_id, kind, entity_id in await purgeable(session, older_than):
        repo = SchemaRepository(session, tenant_id)
        if kind == "field":
            schema_id = await repo.purge_field(entity_id)
            await repo.bump_version(schema_id)
            app_slug = await repo.app_slug_of(schema_id)
            if app_slug is not None:
                await _changed(session, repo, tenant_id, app_slug, schema_id)
        else:
            for app_id, schema_id in await repo.purge(kind, entity_id):
                await events.publish(session, events.schema_purged(tenant_id, app_id, schema_id))
        purged += 1
    return purged


LINK = "link"


async def _resolve_link(repo: SchemaRepository, app_id: str, spec: FieldSpec) -> FieldSpec:
    """A link field's target slug resolved to the id of a schema of the same app."""
    if spec.type != LINK:
        return spec
    target = spec.config.get("target")
    if not target:
        raise ValidationFailed(
            f"Link field '{spec.slug}' needs a target: the slug of a schema of this app",
            field=spec.slug,
        )
    target_id = await repo.schema_id_of(app_id, target)
    if target_id is None:
        raise ValidationFailed(
            f"Link field '{spec.slug}' targets {target!r}, which is not a schema of this app",
            field=spec.slug,
        )
    return replace(spec, config={**spec.config, "target_id": target_id})


def _check_retype(current: Field, spec: FieldSpec) -> None:
    """Values convert between types that own a column; a link's records or a
    system-set value have no such common ground."""
    if current.type == spec.type:
        return
    for kind in (REGISTRY[current.type], REGISTRY[spec.type]):
        if kind.storage != COLUMN or kind.read_only:
            raise ValidationFailed(
                f"A field cannot change from {current.type} to {spec.type}; "
                "add a new field instead",
                field=current.slug,
            )


def _field_named(schema: Schema, slug: str) -> Field:
    for field in schema.fields:
        if field.slug == slug:
            return field
    raise FieldNotFound()


def _merged(current: Field, change: FieldChange) -> rules.FieldInput:
    """The field as it would be after the change. A new type starts from its own
    settings; options and a default carry over only where the new type takes them."""
    kind = change.type if change.type is not None else current.type
    retyped = kind != current.type
    options: Sequence[str] = current.options if change.options is None else change.options
    config = change.config if change.config is not None else ({} if retyped else current.config)
    default = current.default if change.default is UNCHANGED else change.default
    if default is None:
        default = NO_DEFAULT
    kind_type = REGISTRY.get(kind)
    if retyped and kind_type is not None:
        if not kind_type.takes_choices and change.options is None:
            options = ()
        if change.default is UNCHANGED and default is not NO_DEFAULT:
            default = default if rules.default_fits(kind_type, current, default) else NO_DEFAULT
    return rules.FieldInput(
        slug=current.slug if change.slug is None else change.slug,
        name=current.name if change.name is None else change.name,
        type=kind,
        required=current.required if change.required is None else change.required,
        options=options,
        unique=current.unique if change.unique is None else change.unique,
        primary=current.primary if change.primary is None else change.primary,
        default=default,
        config=config,
    )


async def _locked_schema(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    repo: SchemaRepository,
    app_slug: str,
    schema_slug: str,
) -> Schema:
    schema = await get_schema(session, ctx, app_slug, schema_slug)
    await repo.lock_schema(schema.id)
    # Read again under the lock: a concurrent change may have committed in between.
    return await get_schema(session, ctx, app_slug, schema.slug)


async def get_privacy_rules(
    session: AsyncSession, ctx: common_pb2.RequestContext, app_slug: str, schema_slug: str
) -> tuple[Schema, dict[str, Any]]:
    schema = await get_schema(session, ctx, app_slug, schema_slug)
    return schema, privacy.present_rules(schema.privacy_rules, schema)


async def set_privacy_rules(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_slug: str,
    schema_slug: str,
    body: Any,
) -> tuple[Schema, dict[str, Any]]:
    tenant_id = tenant_of(ctx)
    repo = SchemaRepository(session, tenant_id)
    schema = await get_schema(session, ctx, app_slug, schema_slug)
    await repo.lock_schema(schema.id)
    await repo.set_privacy_rules(schema.id, privacy.parse_rules(body, schema))
    changed = await _changed(session, repo, tenant_id, app_slug, schema.id)
    await audit.privacy_rules_changed(session, ctx, tenant_id, changed)
    return changed, privacy.present_rules(changed.privacy_rules, changed)


async def _changed(
    session: AsyncSession,
    repo: SchemaRepository,
    tenant_id: str,
    app_slug: str,
    schema_id: str,
    *,
    before: Schema | None = None,
) -> Schema:
    """The schema as changed, announced; with the schema `before` the change, the
    announcement names the fields it created, changed and deleted."""
    schema = await repo.schema_by_id(app_slug, schema_id)
    await events.publish(session, events.schema_updated(tenant_id, schema, before=before))
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
