"""Each app's own OpenAPI document: typed from its schemas, cut to what the caller may do,
answered with an ETag and renewed when a schema changes; the Postman collection and the
reference page made from it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import create_token, join, token_auth
from tests.support.openapi import SpecChecker
from tests.support.wait import eventually

FIELDS: list[dict[str, Any]] = [
    {"slug": "name", "type": "text", "required": True},
    {"slug": "email", "type": "email"},
    {"slug": "stage", "type": "select", "options": ["lead", "won", "lost"]},
    {"slug": "tags", "type": "multi_select", "options": ["red", "blue"]},
    {"slug": "score", "type": "integer"},
    {"slug": "amount", "type": "number", "decimal_places": 2},
    {"slug": "active", "type": "boolean"},
    {"slug": "born", "type": "date"},
    {"slug": "seen", "type": "datetime"},
    {"slug": "stars", "type": "rating", "max": 3},
    {"slug": "extra", "type": "json"},
    {"slug": "number", "type": "autonumber"},
]
NOTES_RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "Everyone reads titles",
            "condition": None,
            "find": True,
            "read_fields": ["title"],
        }
    ],
    "default": {"find": False},
}


def document(caller: Tenant | httpx.Client, app: str, **headers: str) -> dict[str, Any]:
    response = caller.get(f"/api/apps/{app}/openapi.json", headers=headers)
    assert response.status_code == 200, response.text
    spec = dict(response.json())
    validate(spec)
    return spec


def operation_ids(spec: dict[str, Any]) -> set[str]:
    return {op["operationId"] for methods in spec["paths"].values() for op in methods.values()}


@pytest.fixture
def app(tenant: Tenant) -> str:
    slug = str(create_app(tenant)["slug"])
    create_schema(tenant, slug, slug="deals", name="Deals", fields=FIELDS)
    create_schema(
        tenant,
        slug,
        slug="notes",
        name="Notes",
        fields=[{"slug": "title", "type": "text"}, {"slug": "secret", "type": "text"}],
    )
    return slug


def test_every_field_is_typed_as_its_type_reads_and_writes_it(tenant: Tenant, app: str) -> None:
    spec = document(tenant, app)
    schemas = spec["components"]["schemas"]
    deal = schemas["Deals"]["properties"]
    assert deal["name"] == {"anyOf": [{"type": "string", "maxLength": 10000}, {"type": "null"}]}
    assert deal["email"]["anyOf"][0]["format"] == "email"
    assert deal["stage"]["anyOf"][0]["enum"] == ["lead", "won", "lost"]
    assert deal["tags"]["anyOf"][0]["items"]["enum"] == ["red", "blue"]
    assert deal["score"]["anyOf"][0]["type"] == "integer"
    assert deal["amount"]["anyOf"][0]["type"] == "number"
    assert deal["active"]["anyOf"][0]["type"] == "boolean"
    assert deal["born"]["anyOf"][0]["format"] == "date"
    assert deal["seen"]["anyOf"][0]["format"] == "date-time"
    assert deal["stars"]["anyOf"][0]["maximum"] == 3
    assert deal["extra"] == {}
    assert deal["number"]["readOnly"] is True
    assert deal["id"]["readOnly"] is True
    new_deal = schemas["DealsInput"]
    assert new_deal["required"] == ["name"]
    assert "number" not in new_deal["properties"]
    assert new_deal["additionalProperties"] is False
    assert new_deal["example"]["stage"] == "lead"
    assert operation_ids(spec) == {
        f"{verb}_{schema}"
        for schema in ("deals", "notes")
        for verb in (
            "list",
            "search",
            "get",
            "create",
            "create_many",
            "update",
            "update_many",
            "delete",
            "delete_many",
        )
    }
    listing = spec["paths"][f"/api/apps/{app}/schemas/deals/records"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"filter", "sort", "cursor", "per_page"}


def test_the_records_api_answers_as_the_apps_document_says(tenant: Tenant, app: str) -> None:
    checker = SpecChecker(document(tenant, app))
    tenant.client.event_hooks["response"] = [checker.check]
    try:
        path = records_path(app, "deals")
        created = tenant.post(
            path,
            json={
                "name": "Ada",
                "email": "ada@example.com",
                "stage": "won",
                "tags": ["red"],
                "score": 7,
                "amount": 12.5,
                "active": True,
                "born": "1815-12-10",
                "seen": "2024-05-01T12:00:00Z",
                "stars": 3,
                "extra": {"any": ["json"]},
            },
        )
        assert created.status_code == 201, created.text
        record = created.json()["id"]
        tenant.get(f"{path}/{record}")
        tenant.get(path, params={"filter[stage]": "won", "sort": "-score"})
        tenant.patch(f"{path}/{record}", json={"score": 8})
        tenant.post(f"{path}/search", json={"filter": {"field": "score", "op": "gte", "value": 1}})
        made = tenant.post(f"{path}/batch", json={"records": [{"name": "Bo"}, {"name": "Cy"}]})
        ids = [r["id"] for r in made.json()["records"]]
        tenant.patch(f"{path}/batch", json={"records": [{"id": ids[0], "score": 1}]})
        tenant.request_delete_json(f"{path}/batch", {"ids": ids})
        tenant.delete(f"{path}/{record}")
        tenant.get(f"{path}/{record}")
        tenant.post(path, json={"score": "high"})
    finally:
        tenant.client.event_hooks["response"] = []
    assert len(checker.seen) == 9


def test_a_token_sees_only_the_schemas_and_operations_it_is_granted(
    tenant: Tenant, app: str
) -> None:
    token = create_token(tenant, permissions={"read": [["schema", app, "notes"]]})
    spec = document(tenant.client, app, **token_auth(token["token"]))
    assert operation_ids(spec) == {"list_notes", "search_notes", "get_notes"}
    assert "Deals" not in spec["components"]["schemas"]
    assert not any("/deals/" in path for path in spec["paths"])


def test_fields_the_privacy_rules_hide_are_absent(
    client: httpx.Client, tenant: Tenant, app: str
) -> None:
    rules = tenant.put(f"/api/apps/{app}/schemas/notes/privacy-rules", json=NOTES_RULES)
    assert rules.status_code == 200, rules.text
    editor = sign_up(client, name="Grace Hopper")
    join(tenant, editor, "editor")
    here = {"X-Workspace": tenant.workspace_id}

    def notes_fields() -> set[str] | None:
        spec = document(editor, app, **here)
        notes = spec["components"]["schemas"].get("Notes")
        return None if notes is None else set(notes["properties"])

    fields = eventually(notes_fields)
    assert "secret" not in fields
    assert "title" in fields
    # The rules let the editor find and nothing else.
    assert operation_ids(document(editor, app, **here)) >= {"list_notes", "get_notes"}
    assert "create_notes" not in operation_ids(document(editor, app, **here))
    assert "secret" in document(tenant, app)["components"]["schemas"]["Notes"]["properties"]


def test_anonymous_callers_use_the_public_id_and_see_the_public_part(
    client: httpx.Client, tenant: Tenant, app: str
) -> None:
    public_id = tenant.get(f"/api/apps/{app}").json()["public_id"]
    # Without privacy rules, no schema is open to visitors.
    closed = client.get(f"/api/apps/{public_id}/openapi.json")
    assert closed.status_code == 403
    assert closed.json()["error"]["code"] == "permission_denied"
    tenant.put(f"/api/apps/{app}/schemas/notes/privacy-rules", json=NOTES_RULES)

    def public_spec() -> dict[str, Any] | None:
        response = client.get(f"/api/apps/{public_id}/openapi.json")
        return dict(response.json()) if response.status_code == 200 else None

    spec = eventually(public_spec)
    validate(spec)
    assert set(spec["paths"]) == {
        f"/api/apps/{public_id}/schemas/notes/records",
        f"/api/apps/{public_id}/schemas/notes/records/search",
        f"/api/apps/{public_id}/schemas/notes/records/{{record_id}}",
    }
    assert set(spec["components"]["schemas"]["Notes"]["properties"]) == {
        "id",
        "title",
        "created_at",
        "updated_at",
        "version",
    }
    operation = spec["paths"][f"/api/apps/{public_id}/schemas/notes/records"]["get"]
    assert operation["security"] == [{}]
    assert client.get(f"/api/apps/{app}/openapi.json").status_code == 401


def test_the_document_has_an_etag_and_follows_the_schemas(tenant: Tenant, app: str) -> None:
    first = tenant.get(f"/api/apps/{app}/openapi.json")
    etag = first.headers["ETag"]
    again = tenant.get(f"/api/apps/{app}/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    added = tenant.post(
        f"/api/apps/{app}/schemas/notes/fields", json={"slug": "due", "type": "date"}
    )
    assert added.status_code == 201, added.text

    def renewed() -> httpx.Response | None:
        response = tenant.get(f"/api/apps/{app}/openapi.json", headers={"If-None-Match": etag})
        return response if response.status_code == 200 else None

    spec = eventually(renewed).json()
    assert "due" in spec["components"]["schemas"]["Notes"]["properties"]


def test_another_workspaces_app_is_not_found(
    client: httpx.Client, tenant: Tenant, app: str
) -> None:
    stranger = sign_up(client, name="Grace Hopper")
    answer = stranger.get(f"/api/apps/{app}/openapi.json")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_postman_collection_holds_every_operation(tenant: Tenant, app: str) -> None:
    response = tenant.get(f"/api/apps/{app}/postman.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    collection = response.json()
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    folders = {folder["name"]: folder["item"] for folder in collection["item"]}
    assert set(folders) == {"Deals", "Notes"}
    requests = [item["request"] for item in folders["Deals"]]
    assert len(requests) == 9
    create = next(
        r for r in requests if r["method"] == "POST" and r["url"]["path"][-1] == "records"
    )
    assert create["url"]["raw"] == f"{{{{baseUrl}}}}/api/apps/{app}/schemas/deals/records"
    assert '"name"' in create["body"]["raw"]
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["baseUrl"].startswith("http://")


def test_the_reference_page_lists_fields_and_example_requests(tenant: Tenant, app: str) -> None:
    page = tenant.get(f"/api/apps/{app}/api-docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for text in ("Deals", "<code>stage</code>", "one of &quot;lead&quot;", "curl -X POST"):
        assert text in page.text
    assert "import httpx" in page.text
    docs = tenant.get(f"/api/apps/{app}/docs")
    assert f"/api/apps/{app}/openapi.json" in docs.text
