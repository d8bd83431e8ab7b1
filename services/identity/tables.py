"""The identity database. Migrations in migrations/versions mirror these tables exactly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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

outbox = outbox_table(metadata)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
