"""Events the schema service publishes on schema.<tenant>.<entity>.<action>, written to the
outbox in the caller's transaction. The records service builds its tables from
schema.created, so the data shapes here are a contract."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import rfc3339
from services.kit.nats.events import Event
from services.kit.nats.outbox import OutboxWriter
from services.schema import tables
from services.schema.models import NO_DEFAULT, App, Field, Schema

SERVICE = "schema"

_outbox = OutboxWriter(tables.outbox)


async def publish(session: AsyncSession, event: Event) -> None:
    await _outbox.add(session, event)


def app_created(tenant_id: str, app: App) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="app",
        action="created",
        data={"app": app_data(app)},
    )


def schema_created(tenant_id: str, schema: Schema) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="schema",
        action="created",
        data={"schema": schema_data(schema)},
    )


def app_updated(tenant_id: str, app: App) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="app",
        action="updated",
        data={"app": app_data(app)},
    )


def schema_updated(tenant_id: str, schema: Schema, *, before: Schema | None = None) -> Event:
    """Any change to a schema or its fields; carries the whole new definition, and, when
    the definition before is known, the ids of the fields created, changed and deleted
    (`field_changes`: realtime tells subscribers field by field)."""
    data: dict[str, Any] = {"schema": schema_data(schema)}
    if before is not None:
        data["field_changes"] = field_changes(before, schema)
    return Event.new(
        service=SERVICE, tenant=tenant_id, entity="schema", action="updated", data=data
    )


def field_changes(before: Schema, after: Schema) -> dict[str, list[str]]:
    old = {f.id: f for f in before.fields}
    new = {f.id: f for f in after.fields}
    return {
        "created": [i for i in new if i not in old],
        "updated": [i for i, f in new.items() if i in old and old[i] != f],
        "deleted": [i for i in old if i not in new],
    }


def app_trashed(tenant_id: str, app: App) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="app",
        action="trashed",
        data={"app": app_data(app)},
    )


def schema_trashed(tenant_id: str, schema: Schema) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="schema",
        action="trashed",
        data={"trashed": {"id": schema.id, "app_id": schema.app_id, "slug": schema.slug}},
    )


def schema_purged(tenant_id: str, app_id: str, schema_id: str) -> Event:
    """A schema's trash time is over: its records go too."""
    return Event.new(
        service=SERVICE,
        tenant=tenant_id,
        entity="schema",
        action="purged",
        data={"purged": {"app_id": app_id, "schema_id": schema_id}},
    )


def app_data(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "slug": app.slug,
        "name": app.name,
        "description": app.description,
        "created_at": rfc3339(app.created_at),
        "public_id": app.public_id,
        "settings": {"default_app_role": app.settings.default_app_role},
    }


def schema_data(schema: Schema) -> dict[str, Any]:
    return {
        "id": schema.id,
        "app_id": schema.app_id,
        "app_slug": schema.app_slug,
        "slug": schema.slug,
        "name": schema.name,
        "version": schema.version,
        "created_at": rfc3339(schema.created_at),
        "fields": [field_data(field) for field in schema.fields],
        "trashed_field_ids": list(schema.trashed_field_ids),
        "privacy_rules": schema.privacy_rules,
    }


def field_data(field: Field) -> dict[str, Any]:
    return {
        "id": field.id,
        "slug": field.slug,
        "name": field.name,
        "type": field.type,
        "required": field.required,
        "options": list(field.options),
        "position": field.position,
        "unique": field.unique,
        "primary": field.primary,
        **({} if field.default is NO_DEFAULT else {"default": field.default}),
        "config": field.config,
    }
