"""Apps: AppBuilder's shapes, slugs unique per workspace, tenancy."""

from __future__ import annotations

import re

import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app
from tests.support.db import scalar

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def apps_of(stack: Stack, tenant: Tenant) -> int:
    return int(
        scalar(
            database_url(stack, "schema"),
            "SELECT count(*) FROM apps WHERE tenant_id = %s",
            tenant.workspace_id,
        )
    )


def test_create_and_list_apps(tenant: Tenant) -> None:
    created = tenant.post(
        "/api/apps", json={"name": "My CRM", "description": "Customer relationship management"}
    )
    assert created.status_code == 201
    app = created.json()
    assert set(app) == {"slug", "public_id", "name", "description", "created_at", "settings"}
    assert app["slug"] == "my-crm"
    assert re.fullmatch(r"app_[a-z2-7]{26}", app["public_id"])
    assert app["settings"] == {"default_app_role": "basic"}
    assert app["description"] == "Customer relationship management"
    assert RFC3339.match(app["created_at"])
    listed = tenant.get("/api/apps")
    assert listed.status_code == 200
    assert listed.json() == {"apps": [app]}


def test_derived_slugs_stay_unique_and_explicit_duplicates_conflict(
    stack: Stack, tenant: Tenant
) -> None:
    first = create_app(tenant, name="Sales")
    second = create_app(tenant, name="Sales")
    assert first["slug"] == "sales"
    assert second["slug"] != "sales"
    assert second["slug"].startswith("sales")
    before = apps_of(stack, tenant)
    clash = tenant.post("/api/apps", json={"name": "Another", "slug": "sales"})
    assert clash.status_code == 409
    assert clash.json()["error"] == {
        "code": "conflict",
        "message": clash.json()["error"]["message"],
        "field": "slug",
    }
    assert apps_of(stack, tenant) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Ok", "slug": "Not A Slug!"}, "slug"),
        ({"name": "Ok", "colour": "red"}, "colour"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_invalid_app_input_is_400_and_writes_nothing(
    stack: Stack, tenant: Tenant, body: dict[str, object], field: str
) -> None:
    response = tenant.post("/api/apps", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["field"] == field
    assert apps_of(stack, tenant) == 0


def test_other_workspaces_apps_are_invisible(tenant: Tenant, other_tenant: Tenant) -> None:
    create_app(tenant, name="Secret", slug="secret")
    assert other_tenant.get("/api/apps").json() == {"apps": []}
    assert other_tenant.get("/api/apps/secret").status_code == 404
    assert other_tenant.get("/api/apps/secret/schemas").status_code == 404
    missing = other_tenant.get("/api/apps/never-existed/schemas")
    hidden = other_tenant.get("/api/apps/secret/schemas")
    assert missing.json() == hidden.json()
    # The same slug is free in another workspace.
    assert create_app(other_tenant, name="Secret", slug="secret")["slug"] == "secret"


def test_x_workspace_must_name_one_of_the_callers_workspaces(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    by_id = tenant.get("/api/apps", headers={"X-Workspace": tenant.workspace_id})
    by_slug = tenant.get("/api/apps", headers={"X-Workspace": tenant.workspace_slug})
    assert by_id.status_code == by_slug.status_code == 200
    foreign = tenant.get("/api/apps", headers={"X-Workspace": other_tenant.workspace_id})
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"


def test_a_member_of_several_workspaces_picks_one_with_x_workspace(tenant: Tenant) -> None:
    created = tenant.post("/api/workspaces/", json={"name": "Side project"})
    assert created.status_code == 200, created.text
    second = created.json()
    assert second["role"] == "owner"
    workspaces = tenant.get("/api/workspaces/").json()
    assert [w["id"] for w in workspaces] == [tenant.workspace_id, second["id"]]

    create_app(tenant, name="Main app")
    side = tenant.post(
        "/api/apps", json={"name": "Side app"}, headers={"X-Workspace": second["slug"]}
    )
    assert side.status_code == 201
    assert [a["name"] for a in tenant.get("/api/apps").json()["apps"]] == ["Main app"]
    in_side = tenant.get("/api/apps", headers={"X-Workspace": second["id"]}).json()["apps"]
    assert [a["name"] for a in in_side] == ["Side app"]
