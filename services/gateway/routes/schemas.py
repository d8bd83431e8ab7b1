"""Schemas (tables) of an app, with their typed fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.deps import BackendsDep, ContextDep
from services.kit.errors import ValidationFailed
from services.kit.field_types import TYPE_NAMES, type_value

router = APIRouter(prefix="/api/apps/{app_slug}/schemas")


class NewField(StrictInput):
    type: str
    slug: str | None = None
    name: str | None = None
    required: bool = False
    options: list[str] | None = None


class NewSchema(StrictInput):
    name: str
    slug: str | None = None
    fields: list[NewField] = []


def _field_input(position: int, field: NewField) -> schema_pb2.FieldInput:
    kind = type_value(field.type)
    if kind is None:
        raise ValidationFailed(
            f"Unknown field type '{field.type}'; expected one of " + ", ".join(TYPE_NAMES),
            field=field.slug or field.name or f"fields.{position}.type",
        )
    return schema_pb2.FieldInput(
        slug=field.slug or "",
        name=field.name or "",
        type=kind,
        required=field.required,
        options=field.options or [],
    )


@router.get("")
async def list_schemas(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.schema.ListSchemas, schema_pb2.ListSchemasRequest(ctx=ctx, app_slug=app_slug)
    )
    return {"schemas": [presenters.schema(s) for s in reply.schemas]}


@router.post("", status_code=201)
async def create_schema(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> dict[str, Any]:
    body = await parse_json(request, NewSchema)
    reply = await backends.call(
        backends.schema.CreateSchema,
        schema_pb2.CreateSchemaRequest(
            ctx=ctx,
            app_slug=app_slug,
            name=body.name,
            slug=body.slug or "",
            fields=[_field_input(i, f) for i, f in enumerate(body.fields)],
        ),
    )
    return presenters.schema(reply)


@router.get("/{schema_slug}")
async def get_schema(
    app_slug: str, schema_slug: str, ctx: ContextDep, backends: BackendsDep
) -> dict[str, Any]:
    reply = await backends.call(
        backends.schema.GetSchema,
        schema_pb2.GetSchemaRequest(ctx=ctx, app_slug=app_slug, schema_slug=schema_slug),
    )
    return presenters.schema(reply)
