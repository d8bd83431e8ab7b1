"""Row-level security on the tenant-owned tables: a transaction sees and writes only the
rows of the tenant it acts in (services.kit.db.transaction), or every row where it says it
spans tenants; one that names no tenant sees none.

Revision ID: 0009_row_level_security
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from services.kit.migrations import disable_row_level_security, enable_row_level_security

revision: str = "0009_row_level_security"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "provisioned_schemas",
    "link_tables",
    "trashed_records",
    "imports",
    "idempotency_keys",
)


def upgrade() -> None:
    enable_row_level_security(*TENANT_TABLES)


def downgrade() -> None:
    disable_row_level_security(*TENANT_TABLES)
