"""Field settings: unique, primary, default and the type's own settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "fields", sa.Column("unique", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.add_column(
        "fields",
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.add_column("fields", sa.Column("default_value", postgresql.JSONB(), nullable=True))
    op.add_column(
        "fields",
        sa.Column(
            "config", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    )
    op.create_index(
        "uq_fields_one_primary",
        "fields",
        ["schema_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )


def downgrade() -> None:
    op.drop_index("uq_fields_one_primary", table_name="fields")
    for column in ("config", "default_value", "is_primary", "unique"):
        op.drop_column("fields", column)
