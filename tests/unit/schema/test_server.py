"""Proto <-> domain mapping of the servicer."""

from __future__ import annotations

from datetime import UTC, datetime

from tessera.schema.v1 import schema_pb2

from services.schema import rules, server
from services.schema.models import App, AppSettings, Field, Schema

MOMENT = datetime(2025, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)


def test_schema_input_from_request() -> None:
    request = schema_pb2.CreateSchemaRequest(
        app_slug="crm",
        name="Contacts",
        fields=[
            schema_pb2.FieldInput(name="Name", type="text", required=True),
            schema_pb2.FieldInput(
                slug="status",
                type="multi_select",
                options=["a", "b"],
            ),
        ],
    )
    data = server.schema_input(request)
    assert (data.app_slug, data.name, data.slug) == ("crm", "Contacts", "")
    assert data.fields == [
        rules.FieldInput(slug="", name="Name", type="text", required=True, options=[]),
        rules.FieldInput(slug="status", name="", type="multi_select", options=["a", "b"]),
    ]


def test_app_to_proto() -> None:
    reply = server.app_to_proto(
        App("app_1", "crm", "CRM", "", MOMENT, public_id="app_2", settings=AppSettings("power"))
    )
    assert reply == schema_pb2.App(
        id="app_1",
        slug="crm",
        name="CRM",
        description="",
        created_at="2025-01-15T10:30:00.123000Z",
        public_id="app_2",
        settings=schema_pb2.AppSettings(default_app_role="power"),
    )


def test_schema_to_proto() -> None:
    schema = Schema(
        id="sch_1",
        app_id="app_1",
        app_slug="crm",
        slug="contacts",
        name="Contacts",
        version=3,
        created_at=MOMENT,
        fields=(Field("fld_1", "tags", "Tags", "multi_select", False, ("a", "b"), 0),),
    )
    reply = server.schema_to_proto(schema)
    assert (reply.id, reply.app_id, reply.app_slug, reply.slug, reply.version) == (
        "sch_1",
        "app_1",
        "crm",
        "contacts",
        3,
    )
    assert reply.created_at == "2025-01-15T10:30:00.123000Z"
    assert list(reply.fields) == [
        schema_pb2.Field(
            id="fld_1",
            slug="tags",
            name="Tags",
            type="multi_select",
            required=False,
            options=["a", "b"],
            position=0,
        )
    ]
