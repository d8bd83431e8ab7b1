"""Which link tables point at which schema, so deleting a record unlinks it everywhere.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:00:03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_tables",
        sa.Column("field_id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("source_schema_id", sa.Text(), nullable=False),
        sa.Column("target_schema_id", sa.Text(), nullable=False),
    )
    op.create_index("ix_link_tables_target_schema_id", "link_tables", ["target_schema_id"])


def downgrade() -> None:
    op.drop_index("ix_link_tables_target_schema_id", table_name="link_tables")
    op.drop_table("link_tables")
