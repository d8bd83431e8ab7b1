"""The records service's own bookkeeping tables. The records themselves live in one
table per schema, built at run time from the schema's definition (see repository.py)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.consumer import dead_letters_table, processed_events_table
from services.kit.nats.outbox import outbox_table

metadata = MetaData()

outbox = outbox_table(metadata)
# The relay only ever reads unpublished rows in order.
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))

processed_events = processed_events_table(metadata)
# Events a consumer gave up on, kept for an operator to inspect.
dead_letters = dead_letters_table(metadata)

# The newest schema version whose physical table, columns and indexes exist.
provisioned_schemas = Table(
    "provisioned_schemas",
    metadata,
    Column("schema_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("provisioned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What the table holds per field id ({"type", "options", "config", "unique"}), so the
    # next version's provisioning knows what to convert; NULL for tables built before it.
    Column("layout", JSONB, nullable=True),
)

# Secrets this service keeps for itself, made by the migrations: "cursor" signs the
# keyset cursors handed to clients.
service_keys = Table(
    "service_keys",
    metadata,
    Column("name", Text, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
)

# Imports of CSV or NDJSON into a schema, and how far each got. Tenant-owned: every
# statement goes through a TenantTable.
imports = Table(
    "imports",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # The schema imported into; a job is only found under its own schema.
    Column("schema_id", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("rows_done", BigInteger, nullable=False, server_default=text("0")),
    Column("rows_rejected", BigInteger, nullable=False, server_default=text("0")),
    # The first rejected rows: [{"line", "field"?, "message"}].
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_by", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('running', 'done', 'failed')", name="ck_imports_state"),
)
