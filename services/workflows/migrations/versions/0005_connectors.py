"""API connectors and saved queries. Under row-level security.

Revision ID: 0005_connectors
Revises: 0004_webhooks
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kit.migrations import disable_row_level_security, enable_row_level_security

revision: str = "0005_connectors"
down_revision: str | None = "0004_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("connectors", "saved_queries")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("shapes", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("created_by", sa.Text(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.UniqueConstraint(
            "tenant_id", "app_id", "name", name="uq_connectors_tenant_id_app_id_name"
        ),
    )
    op.create_table(
        "saved_queries",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("connector_id", sa.Text(), nullable=False),
        sa.Column("call", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("parameters", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("app_role", sa.Text(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.UniqueConstraint(
            "tenant_id", "app_id", "name", name="uq_saved_queries_tenant_id_app_id_name"
        ),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name="fk_saved_queries_connector_id",
            ondelete="CASCADE",
        ),
    )
    enable_row_level_security(*TENANT_TABLES)


def downgrade() -> None:
    disable_row_level_security(*TENANT_TABLES)
    op.drop_table("saved_queries")
    op.drop_table("connectors")
