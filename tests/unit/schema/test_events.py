from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.schema import events
from services.schema.models import App, Field, Schema

MOMENT = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)


def make_schema() -> Schema:
    return Schema(
        id="sch_1",
        app_id="app_1",
        app_slug="crm",
        slug="contacts",
        name="Contacts",
        version=1,
        created_at=MOMENT,
        fields=(
            Field("fld_1", "name", "Name", "text", True, (), 0),
            Field("fld_2", "status", "Status", "select", False, ("lead", "customer"), 1),
        ),
    )


def test_app_created_event() -> None:
    app = App("app_1", "crm", "CRM", "Customers", MOMENT, public_id="app_2")
    event = events.app_created("ws_1", app)
    assert event.subject == "schema.ws_1.app.created"
    assert event.type == "schema.app.created"
    assert event.data == {
        "app": {
            "id": "app_1",
            "slug": "crm",
            "name": "CRM",
            "description": "Customers",
            "created_at": "2025-01-15T10:30:00Z",
            "public_id": "app_2",
            "settings": {"default_app_role": "basic"},
        }
    }


def test_schema_created_event_has_the_exact_shape() -> None:
    event = events.schema_created("ws_1", make_schema())
    assert event.subject == "schema.ws_1.schema.created"
    body = orjson.loads(event.to_json())
    assert body["tenant"] == "ws_1"
    assert body["id"] == event.id
    assert body["data"] == {
        "schema": {
            "id": "sch_1",
            "app_id": "app_1",
            "app_slug": "crm",
            "slug": "contacts",
            "name": "Contacts",
            "version": 1,
            "created_at": "2025-01-15T10:30:00Z",
            "fields": [
                {
                    "id": "fld_1",
                    "slug": "name",
                    "name": "Name",
                    "type": "text",
                    "required": True,
                    "options": [],
                    "position": 0,
                    "unique": False,
                    "primary": False,
                    "config": {},
                },
                {
                    "id": "fld_2",
                    "slug": "status",
                    "name": "Status",
                    "type": "select",
                    "required": False,
                    "options": ["lead", "customer"],
                    "position": 1,
                    "unique": False,
                    "primary": False,
                    "config": {},
                },
            ],
            "trashed_field_ids": [],
            "privacy_rules": None,
        }
    }
