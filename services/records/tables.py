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

from services.kit.idempotency import idempotency_keys_table
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

# Idempotency-Key claims of record writes, with the reply each got.
idempotency_keys = idempotency_keys_table(metadata)

# Every link field's join table (lnk_<field id> in the app's schema) and the schema it
# points at: deleting records of a schema removes them from the links that target it.
link_tables = Table(
    "link_tables",
    metadata,
    Column("field_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("source_schema_id", Text, nullable=False),
    Column("target_schema_id", Text, nullable=False),
    Index("ix_link_tables_target_schema_id", "target_schema_id"),
)

# Deleted records: the row as JSON and its links, restorable until purged.
trashed_records = Table(
    "trashed_records",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("app_id", Text, nullable=False),
    Column("schema_id", Text, nullable=False),
    # As they were when the record was deleted, to show in the trash.
    Column("app_slug", Text, nullable=False),
    Column("schema_slug", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    # Link field id -> target ids, in order.
    Column("links", JSONB, nullable=False),
    Column("deleted_by", Text, nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_trashed_records_tenant_id_deleted_at", "tenant_id", "deleted_at"),
    Index("ix_trashed_records_deleted_at", "deleted_at"),
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
