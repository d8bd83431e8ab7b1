from __future__ import annotations

import re
from typing import Any

import grpc
import psycopg
import pytest
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from tests.integration.schema.support import (
    TIMEOUT,
    SchemaService,
    count,
    fails,
    next_event,
    outbox_subjects,
)

Ctx = common_pb2.RequestContext
Stub = schema_pb2_grpc.SchemaServiceStub
FI = schema_pb2.FieldInput

ALL_TYPES = [
    FI(name="Name", type="text", required=True),
    FI(name="Notes", type="long_text"),
    FI(name="Amount", type="number"),
    FI(name="Active?", type="boolean"),
    FI(name="Birthday", type="date"),
    FI(name="Last seen", type="datetime"),
    FI(slug="email", name="E-mail", type="email", required=True),
    FI(slug="website", type="url"),
    FI(name="Status", type="select", options=["lead", "customer"]),
    FI(name="Tags", type="multi_select", options=["vip", "b2b", "new"]),
]
EXPECTED_FIELDS = [
    ("name", "Name", "text", True, []),
    ("notes", "Notes", "long_text", False, []),
    ("amount", "Amount", "number", False, []),
    ("active", "Active?", "boolean", False, []),
    ("birthday", "Birthday", "date", False, []),
    ("last_seen", "Last seen", "datetime", False, []),
    ("email", "E-mail", "email", True, []),
    ("website", "website", "url", False, []),
    ("status", "Status", "select", False, ["lead", "customer"]),
    ("tags", "Tags", "multi_select", False, ["vip", "b2b", "new"]),
]


def create_app(stub: Stub, ctx: Ctx, slug: str = "crm") -> schema_pb2.App:
    reply: schema_pb2.App = stub.CreateApp(
        schema_pb2.CreateAppRequest(ctx=ctx, name="CRM", slug=slug), timeout=TIMEOUT
    )
    return reply


def create_schema(
    stub: Stub, ctx: Ctx, name: str, *, fields: list[FI] | None = None, **kwargs: Any
) -> schema_pb2.Schema:
    request = schema_pb2.CreateSchemaRequest(
        ctx=ctx, app_slug=kwargs.pop("app_slug", "crm"), name=name, fields=fields or [], **kwargs
    )
    reply: schema_pb2.Schema = stub.CreateSchema(request, timeout=TIMEOUT)
    return reply


def test_create_schema_with_every_field_type(
    schema_service: SchemaService, stub: Stub, ctx: Ctx
) -> None:
    app = create_app(stub, ctx)
    schema = create_schema(stub, ctx, "Contacts", fields=ALL_TYPES)

    assert re.fullmatch(r"sch_[a-z2-7]{26}", schema.id)
    assert (schema.app_id, schema.app_slug, schema.slug, schema.name, schema.version) == (
        app.id,
        "crm",
        "contacts",
        "Contacts",
        1,
    )
    got = [(f.slug, f.name, f.type, f.required, list(f.options)) for f in schema.fields]
    assert got == EXPECTED_FIELDS
    assert [f.position for f in schema.fields] == list(range(10))
    assert all(re.fullmatch(r"fld_[a-z2-7]{26}", f.id) for f in schema.fields)

    with psycopg.connect(schema_service.database_url) as conn:
        rows = conn.execute(
            "SELECT slug, name, type, required, options, position, tenant_id FROM fields "
            "WHERE schema_id = %s ORDER BY position",
            (schema.id,),
        ).fetchall()
        version = conn.execute("SELECT version FROM schemas WHERE id = %s", (schema.id,)).fetchone()
    assert [row[:5] for row in rows] == EXPECTED_FIELDS
    assert {row[6] for row in rows} == {ctx.tenant_id}
    assert version == (1,)


def test_get_and_list_schemas(stub: Stub, ctx: Ctx) -> None:
    create_app(stub, ctx)
    contacts = create_schema(stub, ctx, "Contacts", fields=ALL_TYPES)
    deals = create_schema(stub, ctx, "Deals", slug="deal_pipeline")
    empty = create_schema(stub, ctx, "Contacts")  # derived slug made unique
    assert (deals.slug, empty.slug) == ("deal_pipeline", "contacts-2")
    assert list(empty.fields) == []

    got = stub.GetSchema(
        schema_pb2.GetSchemaRequest(ctx=ctx, app_slug="crm", schema_slug="contacts"),
        timeout=TIMEOUT,
    )
    assert got == contacts
    listed = stub.ListSchemas(
        schema_pb2.ListSchemasRequest(ctx=ctx, app_slug="crm"), timeout=TIMEOUT
    )
    assert list(listed.schemas) == [contacts, deals, empty]


def test_schemas_belong_to_their_app(stub: Stub, ctx: Ctx) -> None:
    create_app(stub, ctx, "crm")
    create_app(stub, ctx, "shop")
    create_schema(stub, ctx, "Contacts", app_slug="crm")
    # The same slug is free in another app of the workspace.
    assert create_schema(stub, ctx, "Contacts", app_slug="shop").slug == "contacts"
    listed = stub.ListSchemas(
        schema_pb2.ListSchemasRequest(ctx=ctx, app_slug="shop"), timeout=TIMEOUT
    )
    assert [s.app_slug for s in listed.schemas] == ["shop"]


def test_missing_app_and_schema(stub: Stub, ctx: Ctx) -> None:
    failure = fails(
        stub.CreateSchema, schema_pb2.CreateSchemaRequest(ctx=ctx, app_slug="crm", name="X")
    )
    assert (failure.code, failure.error.message) == (grpc.StatusCode.NOT_FOUND, "App not found")
    failure = fails(stub.ListSchemas, schema_pb2.ListSchemasRequest(ctx=ctx, app_slug="crm"))
    assert (failure.code, failure.error.message) == (grpc.StatusCode.NOT_FOUND, "App not found")
    get = schema_pb2.GetSchemaRequest(ctx=ctx, app_slug="crm", schema_slug="contacts")
    assert fails(stub.GetSchema, get).error.message == "App not found"

    create_app(stub, ctx)
    failure = fails(stub.GetSchema, get)
    assert (failure.code, failure.error.code, failure.error.message) == (
        grpc.StatusCode.NOT_FOUND,
        "not_found",
        "Schema not found",
    )


def test_other_tenant_sees_nothing(stub: Stub, ctx: Ctx, other_ctx: Ctx) -> None:
    create_app(stub, ctx)
    create_schema(stub, ctx, "Contacts")
    get = schema_pb2.GetSchemaRequest(ctx=other_ctx, app_slug="crm", schema_slug="contacts")
    assert fails(stub.GetSchema, get).error.message == "App not found"
    listing = schema_pb2.ListSchemasRequest(ctx=other_ctx, app_slug="crm")
    assert fails(stub.ListSchemas, listing).code == grpc.StatusCode.NOT_FOUND
    create = schema_pb2.CreateSchemaRequest(ctx=other_ctx, app_slug="crm", name="Contacts")
    assert fails(stub.CreateSchema, create).code == grpc.StatusCode.NOT_FOUND


def test_duplicate_explicit_schema_slug_conflicts(
    schema_service: SchemaService, stub: Stub, ctx: Ctx
) -> None:
    create_app(stub, ctx)
    create_schema(stub, ctx, "Contacts", slug="contacts", fields=ALL_TYPES[:1])
    request = schema_pb2.CreateSchemaRequest(
        ctx=ctx, app_slug="crm", name="People", slug="contacts", fields=ALL_TYPES
    )
    failure = fails(stub.CreateSchema, request)
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert (failure.error.code, failure.error.field) == ("conflict", "slug")
    assert count(schema_service.database_url, "schemas", ctx.tenant_id) == 1
    assert count(schema_service.database_url, "fields", ctx.tenant_id) == 1


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"slug": "Bad Slug"}, "slug"),
    ({"slug": "x" * 51}, "slug"),
    ({"fields": [FI(type="text")]}, "fields[0]"),
    (
        {
            "fields": [
                FI(slug="ok", type="text"),
                FI(slug="9lives", type="text"),
            ]
        },
        "fields[1]",
    ),
    ({"fields": [FI(slug="id", type="text")]}, "id"),
    ({"fields": [FI(name="Created at", type="datetime")]}, "created_at"),
    (
        {
            "fields": [
                FI(slug="a", type="text"),
                FI(name="A", type="long_text"),
            ]
        },
        "a",
    ),
    ({"fields": [FI(slug="a")]}, "a"),
    ({"fields": [FI(slug="a", type="hologram")]}, "a"),
    ({"fields": [FI(slug="s", type="select")]}, "s"),
    ({"fields": [FI(slug="s", type="select", options=["a", "a"])]}, "s"),
    ({"fields": [FI(slug="s", type="multi_select", options=[""])]}, "s"),
    ({"fields": [FI(slug="t", type="text", options=["a"])]}, "t"),
    ({"fields": [FI(slug=f"f{i}", type="text") for i in range(201)]}, "fields"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID)
def test_invalid_schema_input_writes_nothing(
    schema_service: SchemaService,
    stub: Stub,
    ctx: Ctx,
    overrides: dict[str, Any],
    field: str,
) -> None:
    create_app(stub, ctx)
    values: dict[str, Any] = {"name": "Contacts", **overrides}
    request = schema_pb2.CreateSchemaRequest(ctx=ctx, app_slug="crm", **values)
    failure = fails(stub.CreateSchema, request)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (failure.error.code, failure.error.field) == ("validation_error", field)
    assert count(schema_service.database_url, "schemas", ctx.tenant_id) == 0
    assert count(schema_service.database_url, "fields", ctx.tenant_id) == 0
    assert outbox_subjects(schema_service.database_url, ctx.tenant_id) == [
        f"schema.{ctx.tenant_id}.app.created"
    ]


def test_no_valid_type_message(stub: Stub, ctx: Ctx) -> None:
    create_app(stub, ctx)
    request = schema_pb2.CreateSchemaRequest(
        ctx=ctx, app_slug="crm", name="Contacts", fields=[FI(name="Due")]
    )
    assert fails(stub.CreateSchema, request).error.message.startswith(
        "Field 'due' has no valid type; expected one of text, long_text, number, "
    )


def test_schema_created_event_on_the_stream(
    schema_service: SchemaService, stub: Stub, ctx: Ctx
) -> None:
    app = create_app(stub, ctx)
    schema = create_schema(stub, ctx, "Contacts", fields=ALL_TYPES)
    subject = f"schema.{ctx.tenant_id}.schema.created"

    event = next_event(schema_service.bus, subject)

    assert event.subject == subject
    assert event.on_subject == 1
    assert event.headers["Nats-Msg-Id"] == event.body["id"]
    assert event.body["type"] == "schema.schema.created"
    assert event.body["tenant"] == ctx.tenant_id
    assert event.body["data"] == {
        "schema": {
            "id": schema.id,
            "app_id": app.id,
            "app_slug": "crm",
            "slug": "contacts",
            "name": "Contacts",
            "version": 1,
            "created_at": schema.created_at,
            "fields": [
                {
                    "id": field.id,
                    "slug": slug,
                    "name": name,
                    "type": type_name,
                    "required": required,
                    "options": options,
                    "position": position,
                    "unique": False,
                    "primary": position == 0,
                    "config": {},
                }
                for position, (field, (slug, name, type_name, required, options)) in enumerate(
                    zip(schema.fields, EXPECTED_FIELDS, strict=True)
                )
            ],
            "trashed_field_ids": [],
            "privacy_rules": None,
        }
    }


def test_app_created_event_on_the_stream(
    schema_service: SchemaService, stub: Stub, ctx: Ctx
) -> None:
    app = create_app(stub, ctx)
    event = next_event(schema_service.bus, f"schema.{ctx.tenant_id}.app.created")
    assert event.body["data"] == {
        "app": {
            "id": app.id,
            "slug": "crm",
            "name": "CRM",
            "description": "",
            "created_at": app.created_at,
            "public_id": app.public_id,
            "settings": {"default_app_role": "basic"},
        }
    }
