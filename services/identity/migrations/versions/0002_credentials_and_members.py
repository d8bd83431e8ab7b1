"""API tokens, admin tokens and per-user API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _tenant_id() -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Text(),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    )


def _account(name: str, *, unique: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.Text(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        unique=unique,
    )


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        _tenant_id(),
        sa.Column("id", sa.Text(), primary_key=True),
        _account("account_id"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("permissions", postgresql.JSONB(), nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_tokens_tenant_id_account_id", "api_tokens", ["tenant_id", "account_id"])
    op.create_table(
        "admin_tokens",
        _tenant_id(),
        sa.Column("id", sa.Text(), primary_key=True),
        _account("created_by"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("bypass_privacy_rules", sa.Boolean(), nullable=False),
        _created_at(),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_admin_tokens_tenant_id", "admin_tokens", ["tenant_id"])
    op.create_table(
        "user_keys",
        sa.Column("id", sa.Text(), primary_key=True),
        _account("account_id", unique=True),
        sa.Column("secret_hash", sa.Text(), nullable=False, unique=True),
        _created_at(),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("user_keys")
    op.drop_table("admin_tokens")
    op.drop_table("api_tokens")
