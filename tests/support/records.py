"""Looks into the records service's real tables, found through the schema service's
catalogue, to check what a request wrote or did not write."""

from __future__ import annotations

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.support.db import count_rows, scalar


def physical_names(
    stack: Stack, tenant: Tenant, app_slug: str, schema_slug: str
) -> tuple[str, str]:
    """(PostgreSQL schema, table) of one of the tenant's schemas."""
    url = stack.databases["schema"].admin_url
    app_id = scalar(
        url, "SELECT id FROM apps WHERE tenant_id = %s AND slug = %s", tenant.workspace_id, app_slug
    )
    schema_id = scalar(
        url, "SELECT id FROM schemas WHERE app_id = %s AND slug = %s", app_id, schema_slug
    )
    return str(app_id), str(schema_id)


def stored_rows(stack: Stack, tenant: Tenant, app_slug: str, schema_slug: str = "contacts") -> int:
    """Rows in the schema's real table."""
    app_id, schema_id = physical_names(stack, tenant, app_slug, schema_slug)
    return count_rows(stack.databases["records"].admin_url, app_id, schema_id)


def outbox_events(stack: Stack, event_type: str) -> int:
    """Events of one type (e.g. "records.record.created") in the records outbox."""
    return int(
        scalar(
            stack.databases["records"].admin_url,
            "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8')::jsonb->>'type' = %s",
            event_type,
        )
    )
