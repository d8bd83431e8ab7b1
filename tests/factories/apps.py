"""Factories for apps and schemas, created through the gateway."""

from __future__ import annotations

import secrets
from typing import Any

from tests.factories.accounts import Tenant

CONTACT_FIELDS: list[dict[str, Any]] = [
    {"slug": "name", "name": "Name", "type": "text", "required": True},
    {"slug": "email", "type": "email"},
    {"slug": "score", "type": "number"},
    {"slug": "active", "type": "boolean"},
    {"slug": "born", "type": "date"},
    {"slug": "seen_at", "type": "datetime"},
    {"slug": "site", "type": "url"},
    {"slug": "notes", "type": "long_text"},
    {"slug": "status", "type": "select", "options": ["lead", "customer"]},
    {"slug": "tags", "type": "multi_select", "options": ["red", "green", "blue"]},
]


def create_app(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    body = {"name": f"App {secrets.token_hex(3)}", **overrides}
    response = tenant.post("/api/apps", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_schema(tenant: Tenant, app_slug: str, **overrides: Any) -> dict[str, Any]:
    body = {"name": "Contacts", "slug": "contacts", "fields": CONTACT_FIELDS, **overrides}
    response = tenant.post(f"/api/apps/{app_slug}/schemas", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def records_path(app_slug: str, schema_slug: str = "contacts") -> str:
    return f"/api/apps/{app_slug}/schemas/{schema_slug}/records"
