"""Deleted records, kept restorable for a while.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:00:04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trashed_records",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("schema_id", sa.Text(), nullable=False),
        sa.Column("app_slug", sa.Text(), nullable=False),
        sa.Column("schema_slug", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("links", postgresql.JSONB(), nullable=False),
        sa.Column("deleted_by", sa.Text(), nullable=True),
        sa.Column(
            "deleted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index(
        "ix_trashed_records_tenant_id_deleted_at", "trashed_records", ["tenant_id", "deleted_at"]
    )
    op.create_index("ix_trashed_records_deleted_at", "trashed_records", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_trashed_records_deleted_at", table_name="trashed_records")
    op.drop_index("ix_trashed_records_tenant_id_deleted_at", table_name="trashed_records")
    op.drop_table("trashed_records")
