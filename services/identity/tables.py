"""The identity database. Migrations in migrations/versions mirror these tables exactly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.consumer import dead_letters_table, processed_events_table
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
    # A whole second: access JWTs issued (iat) before it, and refresh tokens and sessions
    # created before it, are refused. Set by a password change; NULL: no cutoff.
    Column("tokens_valid_after", DateTime(timezone=True)),
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
    # A single sign-on session opens this one workspace only (NULL: a password session,
    # which opens every workspace of the account), and is ended by its provider's
    # back-channel logout of its subject or session id.
    Column("workspace_id", Text),
    Column("sso_subject", Text),
    Column("sso_sid", Text),
    Index("ix_sessions_account_id", "account_id"),
    Index("ix_sessions_workspace_id_sso_subject", "workspace_id", "sso_subject"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    # Every token descended from one login shares the family; reuse revokes all of it.
    Column("family_id", Text, nullable=False),
    # Set when the token was exchanged for its successor.
    Column("rotated_at", DateTime(timezone=True)),
    Column("successor_hash", Text),
    # The successor's secret, encrypted with a key derived from this token's own secret
    # (never stored), so only a client presenting this token again can read it back.
    Column("sealed_successor", LargeBinary),
    # As sessions': a single sign-on login's tokens open its workspace only.
    Column("workspace_id", Text),
    Column("sso_subject", Text),
    Column("sso_sid", Text),
    Index("ix_refresh_tokens_account_id", "account_id"),
    Index("ix_refresh_tokens_workspace_id_sso_subject", "workspace_id", "sso_subject"),
    Index("ix_refresh_tokens_family_id", "family_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("algorithm", Text, nullable=False),
    # The PKCS#8 PEM sealed with the key-encryption key (services.kit.secrets), bound to
    # the kid; never stored in the clear.
    Column("sealed_private_key", Text, nullable=False),
    Column("public_key_pem", Text, nullable=False),
    _created_at(),
    Column("retired_at", DateTime(timezone=True)),
    # NULL: the next key, published ahead so gateways know it before it signs anything.
    Column("activated_at", DateTime(timezone=True)),
    # When a newer key took over; published until tokens signed before then expire.
    Column("superseded_at", DateTime(timezone=True)),
)

# Tenant-owned: an app's end users (not workspace members); app_id is the schema
# service's app id.
app_users = Table(
    "app_users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    # Trimmed and lowercased, so the unique constraint is case-blind.
    Column("email", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("app_role", Text, nullable=False),
    _created_at(),
    UniqueConstraint("app_id", "email", name="uq_app_users_app_id_email"),
    Index("ix_app_users_tenant_id_app_id", "tenant_id", "app_id", "created_at"),
)

app_sessions = Table(
    "app_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_user_id", Text, ForeignKey("app_users.id", ondelete="CASCADE"), nullable=False),
    # sha256 hex of the tsr_apu_ secret.
    Column("secret_hash", Text, nullable=False, unique=True),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_app_sessions_app_user_id", "app_user_id"),
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

# Tenant-owned: security events, who did what from where (services/identity/audit.py).
# Newest first, through each filter the API offers; occurred_at alone for the prune.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("principal_kind", Text, nullable=False),
    Column("principal_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("credential_id", Text, nullable=False),
    Column("target_type", Text, nullable=False),
    Column("target_id", Text, nullable=False),
    Column("details", JSONB, nullable=False),
    Column("client_ip", Text, nullable=False),
    Column("user_agent", Text, nullable=False),
    Index("ix_audit_log_tenant_id_occurred_at", "tenant_id", "occurred_at", "id"),
    Index("ix_audit_log_tenant_id_action", "tenant_id", "action", "occurred_at", "id"),
    Index("ix_audit_log_tenant_id_account_id", "tenant_id", "account_id", "occurred_at", "id"),
    Index("ix_audit_log_tenant_id_target_id", "tenant_id", "target_id", "occurred_at", "id"),
    Index("ix_audit_log_occurred_at", "occurred_at"),
)

# Tenant-owned: the workspace's single sign-on provider, at most one.
sso_configs = Table(
    "sso_configs",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("protocol", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("keycloak_server_url", Text),
    Column("keycloak_realm", Text),
    Column("client_id", Text, nullable=False),
    # Sealed with the key-encryption key (services.kit.secrets), bound to the workspace;
    # NULL for SAML, which has none.
    Column("sealed_client_secret", Text),
    Column("group_roles", JSONB, nullable=False),
    Column("groups_claim", Text, nullable=False),
    Column("default_role", Text, nullable=False),
    Column("enforce", Boolean, nullable=False),
    Column("break_glass_account_id", Text, ForeignKey("accounts.id", ondelete="SET NULL")),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # SAML: the identity provider's metadata, and the attribute the email comes in.
    Column("idp_metadata_xml", Text),
    Column("email_attribute", Text, nullable=False, server_default=""),
)

# Tenant-owned: the email domains a workspace's provider signs in. A domain belongs to one
# workspace, so that discovery by email has one answer.
sso_domains = Table(
    "sso_domains",
    metadata,
    Column("domain", Text, primary_key=True),
    Column(
        "tenant_id", Text, ForeignKey("sso_configs.tenant_id", ondelete="CASCADE"), nullable=False
    ),
    Index("ix_sso_domains_tenant_id", "tenant_id"),
)

# Tenant-owned: a login between its start and its callback. The state is stored hashed;
# claimed once.
sso_logins = Table(
    "sso_logins",
    metadata,
    Column("state_hash", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # sha256 hex of the browser's binding cookie.
    Column("binding_hash", Text, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("sealed_code_verifier", Text, nullable=False),
    Column("response", Text, nullable=False),
    Column("return_to", Text, nullable=False),
    # The signed-in account that asked to link the provider's identity to itself.
    Column("link_account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE")),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Index("ix_sso_logins_expires_at", "expires_at"),
)

# Tenant-owned: who a provider's subject is here. Linked once, by the provider's stable
# subject, never again by email.
sso_identities = Table(
    "sso_identities",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    _created_at(),
    Column("last_login_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "issuer", "subject"),
    Index("ix_sso_identities_account_id", "account_id"),
)

# Tenant-owned: back-channel logout tokens already acted on (their jti), until they expire.
sso_spent_tokens = Table(
    "sso_spent_tokens",
    metadata,
    Column("tenant_id", Text, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("token_id", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "token_id"),
)

# Bookkeeping of the durable consumers (the schema service's audit events).
processed_events = processed_events_table(metadata)
dead_letters = dead_letters_table(metadata)

# Failed password checks per login and address, per login and per address (see
# throttling.py), shared by every replica. A row is named by a hash of what it counts, so
# neither emails nor addresses are stored in the clear.
login_throttles = Table(
    "login_throttles",
    metadata,
    Column("key_hash", Text, primary_key=True),
    Column("scope", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True)),
    # Attempts are refused until then.
    Column("blocked_until", DateTime(timezone=True)),
    # A login and address that succeeded lately: the login-wide throttle lets it in.
    Column("last_success_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_login_throttles_updated_at", "updated_at"),
)

outbox = outbox_table(metadata)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
