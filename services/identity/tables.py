"""The identity database. Migrations in migrations/versions mirror these tables exactly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.outbox import outbox_table

metadata = MetaData()


def _created_at() -> Column[datetime]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    # Trimmed and lowercased before it is stored, so the unique constraint is case-blind.
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    _created_at(),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    _created_at(),
)

# Tenant-owned: tenant_id is the workspace.
memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, nullable=False),
    _created_at(),
    PrimaryKeyConstraint("tenant_id", "account_id"),
    Index("ix_memberships_account_id", "account_id"),
)

sessions = Table(
    "sessions",
    metadata,
    # sha256 hex of the secret session id; the secret itself is never stored.
    Column("id_hash", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_sessions_account_id", "account_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_refresh_tokens_account_id", "account_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("algorithm", Text, nullable=False),
    Column("private_key_pem", Text, nullable=False),
    Column("public_key_pem", Text, nullable=False),
    _created_at(),
    Column("retired_at", DateTime(timezone=True)),
)

# Tenant-owned. Made by a member (account_id), acting with at most that member's current
# role in the workspace; permissions hold ids ({"read": true, "create": [["app", id],
# ["schema", app id, schema id]], ...}) so renaming an app or schema changes nothing.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("id", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    # sha256 hex of the secret; the secret is shown once and never stored.
    Column("secret_hash", Text, nullable=False, unique=True),
    Column("permissions", JSONB, nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Index("ix_api_tokens_tenant_id_account_id", "tenant_id", "account_id"),
)

# Tenant-owned. Full access to the workspace's apps while its creator is an owner or admin.
admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("id", Text, primary_key=True),
    Column("created_by", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("secret_hash", Text, nullable=False, unique=True),
    Column("bypass_privacy_rules", Boolean, nullable=False),
    _created_at(),
    Column("last_used_at", DateTime(timezone=True)),
    Index("ix_admin_tokens_tenant_id", "tenant_id"),
)

# One per account at most: creating another replaces it.
user_keys = Table(
    "user_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column(
        "account_id",
        Text,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("secret_hash", Text, nullable=False, unique=True),
    _created_at(),
    Column("last_used_at", DateTime(timezone=True)),
)

outbox = outbox_table(metadata)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
