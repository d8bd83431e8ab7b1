"""Single sign-on: a provider per workspace, its domains, logins in flight, linked
identities, spent logout tokens; sessions and refresh tokens scoped to a workspace.

Revision ID: 0011_single_sign_on
Revises: 0010_outbox_announces_itself
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.migrations import disable_row_level_security, enable_row_level_security

revision: str = "0011_single_sign_on"
down_revision: str | None = "0010_outbox_announces_itself"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("sso_configs", "sso_domains", "sso_logins", "sso_identities", "sso_spent_tokens")
SCOPED_LOGINS = ("sessions", "refresh_tokens")


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    for table in SCOPED_LOGINS:
        op.add_column(table, sa.Column("workspace_id", sa.Text()))
        op.add_column(table, sa.Column("sso_subject", sa.Text()))
        op.add_column(table, sa.Column("sso_sid", sa.Text()))
    op.create_index(
        "ix_sessions_workspace_id_sso_subject", "sessions", ["workspace_id", "sso_subject"]
    )
    op.create_table(
        "sso_configs",
        sa.Column(
            "tenant_id",
            sa.Text(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("keycloak_server_url", sa.Text()),
        sa.Column("keycloak_realm", sa.Text()),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("sealed_client_secret", sa.Text(), nullable=False),
        sa.Column("group_roles", JSONB(), nullable=False),
        sa.Column("groups_claim", sa.Text(), nullable=False),
        sa.Column("default_role", sa.Text(), nullable=False),
        sa.Column("enforce", sa.Boolean(), nullable=False),
        sa.Column(
            "break_glass_account_id",
            sa.Text(),
            sa.ForeignKey("accounts.id", ondelete="SET NULL"),
        ),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sso_domains",
        sa.Column("domain", sa.Text(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Text(),
            sa.ForeignKey("sso_configs.tenant_id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_sso_domains_tenant_id", "sso_domains", ["tenant_id"])
    op.create_table(
        "sso_logins",
        sa.Column("state_hash", sa.Text(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Text(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("binding_hash", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("sealed_code_verifier", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("return_to", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_sso_logins_expires_at", "sso_logins", ["expires_at"])
    op.create_table(
        "sso_identities",
        sa.Column(
            "tenant_id",
            sa.Text(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column(
            "account_id",
            sa.Text(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _created_at(),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "issuer", "subject"),
    )
    op.create_index("ix_sso_identities_account_id", "sso_identities", ["account_id"])
    op.create_table(
        "sso_spent_tokens",
        sa.Column(
            "tenant_id",
            sa.Text(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_id", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "token_id"),
    )
    enable_row_level_security(*TENANT_TABLES)


def downgrade() -> None:
    disable_row_level_security(*TENANT_TABLES)
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
    op.drop_index("ix_sessions_workspace_id_sso_subject", "sessions")
    for table in SCOPED_LOGINS:
        for column in ("sso_sid", "sso_subject", "workspace_id"):
            op.drop_column(table, column)
