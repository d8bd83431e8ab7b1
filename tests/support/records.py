"""Looks into the records service's real tables, found through the schema service's
catalogue, to check what a request wrote or did not write."""

from __future__ import annotations

from dataclasses import dataclass

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.tables import Table
from tests.support.db import count_rows, scalar


@dataclass(frozen=True)
class Column:
    """Where a field's values physically live in the records database."""

    app_id: str
    schema_id: str
    field_id: str


def column_of(stack: Stack, table: Table, slug: str) -> Column:
    row = scalar(
        stack.databases["schema"].admin_url,
        "SELECT json_build_array(a.id, s.id, f.id) FROM apps a"
        " JOIN schemas s ON s.app_id = a.id JOIN fields f ON f.schema_id = s.id"
        " WHERE a.tenant_id = %s AND a.slug = %s AND s.slug = %s AND f.slug = %s",
        table.tenant.workspace_id,
        table.app_slug,
        table.slug,
        slug,
    )
    return Column(*row)


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
