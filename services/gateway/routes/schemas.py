"""Schemas (tables) of an app, with their typed fields, and changes to both."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters, shapes
from services.gateway.bodies import StrictInput, parse, parse_json, read_json
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import json_body, returns
from services.gateway.presenters import exact_json
from services.kit.errors import Conflict, ValidationFailed
from services.kit.fields import REGISTRY
from services.kit.json import dumps_exact

router = APIRouter(prefix="/api/apps/{app_slug}/schemas", tags=["Schemas"])

# Keys of a field body that every type shares; any other key is a setting of the type
# (decimal_places, max, ...), which the schema service checks against the catalogue.
COMMON_FIELD_KEYS = frozenset(
    {"type", "slug", "name", "required", "unique", "primary", "options", "default", "force"}
)
# Lossy-change details name at most this many records.
LOST_IDS_SHOWN = 20


class NewField(StrictInput):
    """A field: the keys every type shares, `default` (a value of the type), and the
    settings of its type beside them (`max_length`, `decimal_places`, ...)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    type: str
    slug: str | None = None
    name: str | None = None
    required: bool = False
    unique: bool = False
    primary: bool = False
    options: list[str] | None = None


class NewSchema(StrictInput):
    name: str
    slug: str | None = None
    fields: list[dict[str, Any]] = []


class SchemaPatch(StrictInput):
    name: str | None = None
    slug: str | None = None


def _settings(raw: dict[str, Any], type_name: str | None, *, where: str) -> dict[str, Any]:
    """The keys of a field body that are settings of its type; a key that is neither
    common nor a setting of the type is refused here, named by its path."""
    settings = {k: v for k, v in raw.items() if k not in COMMON_FIELD_KEYS}
    kind = REGISTRY.get(type_name or "")
    if kind is not None:
        for key in settings:
            if key not in kind.config_model.model_fields:
                raise ValidationFailed(
                    f"Unknown field {key!r}; fields of type {kind.name} take "
                    + (", ".join(sorted(kind.config_model.model_fields)) or "no settings"),
                    field=f"{where}.{key}" if where else key,
                )
    return settings


def _field_input(raw: Any, *, where: str) -> schema_pb2.FieldInput:
    if not isinstance(raw, dict):
        raise ValidationFailed("A field must be a JSON object", field=where)
    try:
        body = parse(NewField, {k: v for k, v in raw.items() if k != "default"})
    except ValidationFailed as error:
        raise ValidationFailed(error.message, field=f"{where}.{error.field}") from None
    settings = _settings(raw, body.type, where=where)
    return schema_pb2.FieldInput(
        slug=body.slug or "",
        name=body.name or "",
        type=body.type,
        required=body.required,
        unique=body.unique,
        primary=body.primary,
        options=body.options or [],
        default_json=dumps_exact(raw["default"]) if raw.get("default") is not None else b"",
        config_json=dumps_exact(settings) if settings else b"",
    )


@router.get("", **returns(shapes.Schemas))
async def list_schemas(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    reply = await backends.call(
        backends.schema.ListSchemas, schema_pb2.ListSchemasRequest(ctx=ctx, app_slug=app_slug)
    )
    return exact_json({"schemas": [presenters.schema(s) for s in reply.schemas]})


@router.post("", **returns(shapes.Schema, status=201), openapi_extra=json_body(NewSchema))
async def create_schema(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    body = await parse_json(request, NewSchema)
    reply = await backends.call(
        backends.schema.CreateSchema,
        schema_pb2.CreateSchemaRequest(
            ctx=ctx,
            app_slug=app_slug,
            name=body.name,
            slug=body.slug or "",
            fields=[_field_input(f, where=f"fields.{i}") for i, f in enumerate(body.fields)],
        ),
    )
    return exact_json(presenters.schema(reply), 201)


@router.get("/{schema_slug}", **returns(shapes.Schema))
async def get_schema(
    app_slug: str, schema_slug: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.schema.GetSchema,
        schema_pb2.GetSchemaRequest(ctx=ctx, app_slug=app_slug, schema_slug=schema_slug),
    )
    return exact_json(presenters.schema(reply))


@router.patch("/{schema_slug}", **returns(shapes.Schema), openapi_extra=json_body(SchemaPatch))
async def update_schema(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    body = await parse_json(request, SchemaPatch)
    request_message = schema_pb2.UpdateSchemaRequest(
        ctx=ctx, app_slug=app_slug, schema_slug=schema_slug
    )
    if body.name is not None:
        request_message.name = body.name
    if body.slug is not None:
        request_message.slug = body.slug
    reply = await backends.call(backends.schema.UpdateSchema, request_message)
    return exact_json(presenters.schema(reply))


@router.delete("/{schema_slug}", **returns(shapes.Trashed))
async def delete_schema(
    app_slug: str, schema_slug: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Moves the schema and its records to the trash (restorable for 72 hours)."""
    reply = await backends.call(
        backends.schema.DeleteSchema,
        schema_pb2.DeleteSchemaRequest(ctx=ctx, app_slug=app_slug, schema_slug=schema_slug),
    )
    return exact_json({"trash": presenters.trash_entry(reply)})


@router.post(
    "/{schema_slug}/fields", **returns(shapes.Schema, status=201), openapi_extra=json_body(NewField)
)
async def add_field(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    raw = await read_json(request)
    reply = await backends.call(
        backends.schema.AddField,
        schema_pb2.AddFieldRequest(
            ctx=ctx,
            app_slug=app_slug,
            schema_slug=schema_slug,
            field=_field_input(raw, where="field"),
        ),
    )
    return exact_json(presenters.schema(reply), 201)


class FieldPatch(StrictInput):
    """What changes in a field, as NewField gives it; `force` accepts a change of type
    that loses values (the 409 without it lists the records that would lose one)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    name: str | None = None
    slug: str | None = None
    type: str | None = None
    required: bool | None = None
    unique: bool | None = None
    primary: bool | None = None
    options: list[str] | None = None
    force: bool = False


@router.patch(
    "/{schema_slug}/fields/{field_slug}",
    **returns(shapes.Schema),
    openapi_extra=json_body(FieldPatch),
)
async def update_field(
    app_slug: str,
    schema_slug: str,
    field_slug: str,
    request: Request,
    ctx: ContextDep,
    backends: BackendsDep,
) -> Response:
    """Changes a field. A new type or new options convert every stored value; when some
    could not be kept the change is refused with 409 naming them, unless `force`."""
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise ValidationFailed("Request body must be a JSON object")
    body = parse(FieldPatch, {k: v for k, v in raw.items() if k != "default"})
    change = schema_pb2.UpdateFieldRequest(
        ctx=ctx, app_slug=app_slug, schema_slug=schema_slug, field_slug=field_slug
    )
    for key in ("name", "slug", "type", "required", "unique", "primary"):
        value = getattr(body, key)
        if value is not None:
            setattr(change, key, value)
    if body.options is not None:
        change.has_options = True
        change.options.extend(body.options)
    if "default" in raw:
        change.default_json = dumps_exact(raw["default"])
    settings = _settings(raw, body.type, where="")
    if settings:
        change.config_json = dumps_exact(settings)
    if body.type is not None or body.options is not None or settings or body.unique:
        await _refuse_lossy_change(backends, ctx, change, force=body.force)
    reply = await backends.call(backends.schema.UpdateField, change)
    return exact_json(presenters.schema(reply))


async def _refuse_lossy_change(
    backends: BackendsDep,
    ctx: ContextDep,
    change: schema_pb2.UpdateFieldRequest,
    *,
    force: bool,
) -> None:
    """Asks the schema service what the field would become and the records service what
    converting the stored values to it would lose."""
    dry_run = schema_pb2.UpdateFieldRequest()
    dry_run.CopyFrom(change)
    dry_run.validate_only = True
    would_be = await backends.call(backends.schema.UpdateField, dry_run)
    new_slug = change.slug if change.HasField("slug") else change.field_slug
    field = next((f for f in would_be.fields if f.slug == new_slug), None)
    if field is None:
        return
    preview = await backends.call(
        backends.records.PreviewFieldChange,
        records_pb2.PreviewFieldChangeRequest(
            ctx=ctx,
            schema=records_pb2.SchemaRef(app_slug=change.app_slug, schema_slug=change.schema_slug),
            field_slug=change.field_slug,
            field=field,
        ),
    )
    if preview.duplicates:
        # Not even force makes repeated values unique.
        raise Conflict(
            f"{preview.duplicates} value(s) of '{change.field_slug}' are held by more than "
            "one record; make them unique first",
            field=change.field_slug,
            details=[{"duplicates": preview.duplicates}],
        )
    if preview.lost and not force:
        raise Conflict(
            f"{preview.lost} record(s) hold values of '{change.field_slug}' that the change "
            'would lose; send "force": true to change it anyway',
            field=change.field_slug,
            details=[{"lost": preview.lost, "record_ids": list(preview.record_ids)}],
        )


@router.delete("/{schema_slug}/fields/{field_slug}", **returns(shapes.Schema))
async def delete_field(
    app_slug: str, schema_slug: str, field_slug: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.schema.DeleteField,
        schema_pb2.DeleteFieldRequest(
            ctx=ctx, app_slug=app_slug, schema_slug=schema_slug, field_slug=field_slug
        ),
    )
    return exact_json(presenters.schema(reply))


@router.get("/{schema_slug}/privacy-rules", **returns(shapes.PrivacyRules))
async def get_privacy_rules(
    app_slug: str, schema_slug: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.schema.GetPrivacyRules,
        schema_pb2.GetPrivacyRulesRequest(ctx=ctx, app_slug=app_slug, schema_slug=schema_slug),
    )
    return Response(reply.rules_json, media_type="application/json")


@router.put(
    "/{schema_slug}/privacy-rules",
    **returns(shapes.PrivacyRules),
    openapi_extra=json_body(shapes.PrivacyRules),
)
async def set_privacy_rules(
    app_slug: str, schema_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Replaces the schema's rules: {"rules": [...], "default": {...}}; {"rules": null}
    removes them."""
    body = await read_json(request)
    reply = await backends.call(
        backends.schema.SetPrivacyRules,
        schema_pb2.SetPrivacyRulesRequest(
            ctx=ctx, app_slug=app_slug, schema_slug=schema_slug, rules_json=dumps_exact(body)
        ),
    )
    return Response(reply.rules_json, media_type="application/json")
