"""Schemas with typed fields, in AppBuilder's shape."""

from __future__ import annotations

import httpx
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant
from tests.factories.apps import CONTACT_FIELDS, create_app, create_schema
from tests.support.db import scalar


def schemas_of(stack: Stack, tenant: Tenant) -> int:
    return int(
        scalar(
            database_url(stack, "schema"),
            "SELECT count(*) FROM schemas WHERE tenant_id = %s",
            tenant.workspace_id,
        )
    )


def test_create_schema_with_every_field_type(tenant: Tenant) -> None:
    app = create_app(tenant, name="My CRM")
    schema = create_schema(tenant, app["slug"])
    assert schema["slug"] == "contacts"
    assert schema["name"] == "Contacts"
    fields = {f["slug"]: f for f in schema["fields"]}
    assert [f["slug"] for f in schema["fields"]] == [f["slug"] for f in CONTACT_FIELDS]
    assert fields["name"] == {
        "slug": "name",
        "name": "Name",
        "type": "text",
        "required": True,
        "unique": False,
        # The first field that can be one is the display value unless another is named.
        "primary": True,
    }
    # name defaults to the slug
    assert fields["email"] == {
        "slug": "email",
        "name": "email",
        "type": "email",
        "required": False,
        "unique": False,
        "primary": False,
    }
    assert fields["status"]["options"] == ["lead", "customer"]
    assert fields["tags"]["type"] == "multi_select"
    listed = tenant.get(f"/api/apps/{app['slug']}/schemas")
    assert listed.status_code == 200
    assert listed.json() == {"schemas": [schema]}


def test_slugs_derive_from_names(tenant: Tenant) -> None:
    app = create_app(tenant)
    response = tenant.post(
        f"/api/apps/{app['slug']}/schemas",
        json={"name": "Sales Leads", "fields": [{"name": "Full Name", "type": "text"}]},
    )
    assert response.status_code == 201
    assert response.json()["slug"] in ("sales-leads", "sales_leads")
    assert response.json()["fields"] == [
        {
            "slug": "full_name",
            "name": "Full Name",
            "type": "text",
            "required": False,
            "unique": False,
            "primary": True,
        }
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ([{"slug": "a", "type": "colour"}], "a"),
        ([{"slug": "s", "type": "select"}], "s"),
        ([{"slug": "s", "type": "select", "options": []}], "s"),
        ([{"slug": "t", "type": "text", "options": ["x"]}], "t"),
        ([{"slug": "d", "type": "text"}, {"slug": "d", "type": "number"}], "d"),
        ([{"slug": "id", "type": "text"}], "id"),
        ([{"slug": "x", "type": "text", "nullable": True}], "fields.0.nullable"),
        ([{"slug": "x", "type": 3}], "fields.0.type"),
    ],
)
def test_invalid_field_definitions_are_400_and_write_nothing(
    stack: Stack, tenant: Tenant, fields: list[dict[str, object]], field: str
) -> None:
    app = create_app(tenant)
    response = tenant.post(
        f"/api/apps/{app['slug']}/schemas", json={"name": "Bad", "fields": fields}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["field"] == field
    assert schemas_of(stack, tenant) == 0


def test_duplicate_schema_slug_conflicts(tenant: Tenant) -> None:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    again = tenant.post(
        f"/api/apps/{app['slug']}/schemas", json={"name": "Again", "slug": "contacts"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "slug"


def test_schemas_of_unknown_or_foreign_apps_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    for who, slug in ((tenant, "no-such-app"), (other_tenant, app["slug"])):
        assert who.get(f"/api/apps/{slug}/schemas").status_code == 404
        posted = who.post(f"/api/apps/{slug}/schemas", json={"name": "X"})
        assert posted.status_code == 404
        assert posted.json()["error"]["code"] == "not_found"


def test_schema_requires_auth(client: httpx.Client) -> None:
    assert client.get("/api/apps/x/schemas").status_code == 401
