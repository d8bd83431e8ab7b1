"""Refresh-token families and rotation, signing keys published ahead and retired after,
app end users and their sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("family_id", sa.Text(), nullable=True))
    # A token issued before families existed is a family of its own.
    op.execute("UPDATE refresh_tokens SET family_id = token_hash")
    op.alter_column("refresh_tokens", "family_id", nullable=False)
    op.add_column(
        "refresh_tokens", sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("refresh_tokens", sa.Column("successor_hash", sa.Text(), nullable=True))
    op.add_column("refresh_tokens", sa.Column("sealed_successor", sa.LargeBinary(), nullable=True))
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])

    op.add_column(
        "signing_keys", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "signing_keys", sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Every key so far has signed tokens.
    op.execute("UPDATE signing_keys SET activated_at = created_at")

    op.create_table(
        "app_users",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("app_role", sa.Text(), nullable=False),
        _created_at(),
        sa.UniqueConstraint("app_id", "email", name="uq_app_users_app_id_email"),
    )
    op.create_index(
        "ix_app_users_tenant_id_app_id", "app_users", ["tenant_id", "app_id", "created_at"]
    )
    op.create_table(
        "app_sessions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column(
            "app_user_id",
            sa.Text(),
            sa.ForeignKey("app_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("secret_hash", sa.Text(), nullable=False, unique=True),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_app_sessions_app_user_id", "app_sessions", ["app_user_id"])


def downgrade() -> None:
    op.drop_table("app_sessions")
    op.drop_table("app_users")
    op.drop_column("signing_keys", "superseded_at")
    op.drop_column("signing_keys", "activated_at")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    for column in ("sealed_successor", "successor_hash", "rotated_at", "family_id"):
        op.drop_column("refresh_tokens", column)
