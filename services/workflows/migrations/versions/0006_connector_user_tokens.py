"""The OAuth2 user-agent flow of API connectors: authorizations under way and each user's
tokens. Under row-level security.

Revision ID: 0006_connector_user_tokens
Revises: 0005_connectors
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kit.migrations import disable_row_level_security, enable_row_level_security

revision: str = "0006_connector_user_tokens"
down_revision: str | None = "0005_connectors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("connector_authorizations", "connector_user_tokens")


def upgrade() -> None:
    op.create_table(
        "connector_authorizations",
        sa.Column("state_hash", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("connector_id", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("sealed_verifier", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("browser_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name="fk_connector_authorizations_connector_id",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "connector_user_tokens",
        sa.Column("connector_id", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("sealed_tokens", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("connector_id", "holder", name="pk_connector_user_tokens"),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name="fk_connector_user_tokens_connector_id",
            ondelete="CASCADE",
        ),
    )
    enable_row_level_security(*TENANT_TABLES)


def downgrade() -> None:
    disable_row_level_security(*TENANT_TABLES)
    op.drop_table("connector_user_tokens")
    op.drop_table("connector_authorizations")
