"""Deleted records go to the trash, restorable with their links for 72 hours."""

from __future__ import annotations

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.records import stored_rows
from tests.support.wait import eventually


def test_a_deleted_record_is_restored_as_it_was(stack: Stack, tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app, name="Tags", slug="tags", fields=[{"slug": "label", "type": "text"}])
    create_schema(
        tenant,
        app,
        name="Notes",
        slug="notes",
        fields=[
            {"slug": "title", "type": "text"},
            {"slug": "code", "type": "text", "unique": True},
            {"slug": "n", "type": "autonumber"},
            {"slug": "tags", "type": "link", "target": "tags"},
        ],
    )
    tags, notes = records_path(app, "tags"), records_path(app, "notes")
    red = tenant.post(tags, json={"label": "red"}).json()["id"]
    blue = tenant.post(tags, json={"label": "blue"}).json()["id"]
    note = tenant.post(notes, json={"title": "Hello", "code": "A1", "tags": [red, blue]}).json()

    assert tenant.delete(f"{notes}/{note['id']}").status_code == 204
    assert tenant.get(f"{notes}/{note['id']}").status_code == 404
    entries = tenant.get("/api/trash").json()["trash"]
    entry = next(e for e in entries if e["record_id"] == note["id"])
    assert (entry["type"], entry["app"], entry["schema"]) == ("record", app, "notes")
    assert entry["expires_at"] > entry["deleted_at"]

    # A target deleted meanwhile is not linked again.
    assert tenant.delete(f"{tags}/{blue}").status_code == 204
    restored = tenant.post(f"/api/trash/{entry['id']}/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["record"]["id"] == note["id"]
    assert (body["record"]["title"], body["record"]["code"], body["record"]["n"]) == (
        "Hello",
        "A1",
        note["n"],
    )
    assert body["record"]["tags"] == [{"id": red, "display": "red"}]
    assert tenant.get(f"{notes}/{note['id']}").json()["created_at"] == note["created_at"]
    assert stored_rows(stack, tenant, app, "notes") == 1
    assert tenant.post(f"/api/trash/{entry['id']}/restore").status_code == 404


def test_restoring_a_duplicate_unique_value_is_409(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(
        tenant, app, name="C", slug="c", fields=[{"slug": "code", "type": "text", "unique": True}]
    )
    path = records_path(app, "c")
    first = tenant.post(path, json={"code": "X"}).json()
    tenant.delete(f"{path}/{first['id']}")
    assert tenant.post(path, json={"code": "X"}).status_code == 201
    entry = tenant.get("/api/trash").json()["trash"][0]
    refused = tenant.post(f"/api/trash/{entry['id']}/restore")
    assert refused.status_code == 409
    assert refused.json()["error"]["field"] == "code"
    assert tenant.get("/api/trash").json()["trash"][0]["id"] == entry["id"]


def test_another_workspaces_trash_is_invisible(tenant: Tenant, other_tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app)
    path = records_path(app)
    record = tenant.post(path, json={"name": "Secret"}).json()
    tenant.delete(f"{path}/{record['id']}")
    entry = tenant.get("/api/trash").json()["trash"][0]
    assert other_tenant.get("/api/trash").json()["trash"] == []
    assert other_tenant.post(f"/api/trash/{entry['id']}/restore").status_code == 404
    assert tenant.post("/api/trash/trr_nope/restore").status_code == 404
    assert tenant.post("/api/trash/whatever/restore").status_code == 404


def test_a_deleted_field_comes_back_with_its_values(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app)
    path = records_path(app)
    record = tenant.post(path, json={"name": "Ada", "email": "ada@example.com"}).json()
    fields = f"/api/apps/{app}/schemas/contacts/fields"
    assert tenant.delete(f"{fields}/email").status_code == 200
    # The records service learns of the change from the schema service's event.
    eventually(lambda: "email" not in tenant.get(f"{path}/{record['id']}").json())
    # The slug is free meanwhile.
    again = tenant.post(fields, json={"slug": "email", "type": "text"})
    assert again.status_code == 201
    entry = next(e for e in tenant.get("/api/trash").json()["trash"] if e["type"] == "field")
    assert (entry["app"], entry["schema"], entry["field"]) == (app, "contacts", "email")
    taken = tenant.post(f"/api/trash/{entry['id']}/restore")
    assert taken.status_code == 409
    assert tenant.delete(f"{fields}/email").status_code == 200
    restored = tenant.post(f"/api/trash/{entry['id']}/restore")
    assert restored.status_code == 200, restored.text
    eventually(
        lambda: tenant.get(f"{path}/{record['id']}").json().get("email") == "ada@example.com"
    )


def test_deleted_schemas_and_apps_hide_and_come_back(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app)
    path = records_path(app)
    record = tenant.post(path, json={"name": "Ada"}).json()

    gone = tenant.delete(f"/api/apps/{app}/schemas/contacts")
    assert gone.status_code == 200, gone.text
    schema_entry = gone.json()["trash"]
    assert (schema_entry["type"], schema_entry["schema"]) == ("schema", "contacts")
    assert tenant.get(f"/api/apps/{app}/schemas/contacts").status_code == 404
    eventually(lambda: tenant.get(path).status_code == 404)
    assert tenant.get(f"/api/apps/{app}/schemas").json() == {"schemas": []}
    assert tenant.post(f"/api/trash/{schema_entry['id']}/restore").status_code == 200
    assert tenant.get(f"{path}/{record['id']}").json()["name"] == "Ada"

    app_gone = tenant.delete(f"/api/apps/{app}")
    assert app_gone.status_code == 200
    assert tenant.get(f"/api/apps/{app}").status_code == 404
    assert app not in [a["slug"] for a in tenant.get("/api/apps").json()["apps"]]
    # A new app may take the slug; restoring the old one then is a conflict.
    assert tenant.post("/api/apps", json={"name": "X", "slug": app}).status_code == 201
    app_entry = app_gone.json()["trash"]
    assert tenant.post(f"/api/trash/{app_entry['id']}/restore").status_code == 409
    assert tenant.delete(f"/api/apps/{app}").status_code == 200
    assert tenant.post(f"/api/trash/{app_entry['id']}/restore").status_code == 200
    assert tenant.get(f"{path}/{record['id']}").json()["name"] == "Ada"


def test_links_to_a_trashed_schema_show_ids_alone(tenant: Tenant) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app, name="T", slug="t", fields=[{"slug": "label", "type": "text"}])
    create_schema(
        tenant,
        app,
        name="S",
        slug="s",
        fields=[{"slug": "name", "type": "text"}, {"slug": "to", "type": "link", "target": "t"}],
    )
    target = tenant.post(records_path(app, "t"), json={"label": "x"}).json()["id"]
    source = tenant.post(records_path(app, "s"), json={"name": "a", "to": [target]}).json()
    assert tenant.delete(f"/api/apps/{app}/schemas/t").status_code == 200
    eventually(
        lambda: (
            tenant.get(f"{records_path(app, 's')}/{source['id']}").json()["to"]
            == [{"id": target, "display": None}]
        )
    )
