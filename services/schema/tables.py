"""The schema service's tables (SQLAlchemy Core). migrations/versions must match them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.outbox import outbox_table

metadata = MetaData()


def trash_columns() -> list[Column[object]]:
    """A deleted app, schema or field stays, restorable, until the purge: deleted_at is
    set, and its slug moves to trashed_slug (the slug becomes its id), so a new one may
    take the slug meanwhile."""
    return [
        Column("deleted_at", DateTime(timezone=True), nullable=True),
        Column("trashed_slug", Text, nullable=True),
    ]


apps = Table(
    "apps",
    metadata,
    # new_id("app"): the records service also uses it as the app's PostgreSQL schema name.
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    *trash_columns(),
    # new_id("app") too, but unrelated to id: the app's global address for callers without
    # a workspace (app end users, anonymous callers); accepted wherever a slug is.
    Column("public_id", Text, nullable=False),
    # Per-app API settings ({"default_app_role": ...}); absent keys take their defaults.
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    UniqueConstraint("tenant_id", "slug", name="uq_apps_tenant_id_slug"),
    UniqueConstraint("public_id", name="uq_apps_public_id"),
)

schemas = Table(
    "schemas",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column(
        "app_id",
        Text,
        ForeignKey("apps.id", name="fk_schemas_app_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    # Bumped on every change to the schema or its fields; the records service's cache
    # compares it.
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    *trash_columns(),
    # Ordered rules and the default, with field ids; NULL when the schema has none.
    Column("privacy_rules", JSONB, nullable=True),
    UniqueConstraint("app_id", "slug", name="uq_schemas_app_id_slug"),
)

fields = Table(
    "fields",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column(
        "schema_id",
        Text,
        ForeignKey("schemas.id", name="fk_fields_schema_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    # A name from the field-type catalogue (services/kit/fields).
    Column("type", Text, nullable=False),
    Column("required", Boolean, nullable=False, server_default=text("false")),
    Column("options", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("position", Integer, nullable=False),
    Column("unique", Boolean, nullable=False, server_default=text("false")),
    Column("is_primary", Boolean, nullable=False, server_default=text("false")),
    # {"value": <JSON>}; SQL NULL is no default.
    Column("default_value", JSONB(none_as_null=True), nullable=True),
    # The type's own settings (decimal_places, max, ...), checked by the catalogue.
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    *trash_columns(),
    UniqueConstraint("schema_id", "slug", name="uq_fields_schema_id_slug"),
)

# The primary field is the schema's display value: one at most.
Index(
    "uq_fields_one_primary", fields.c.schema_id, unique=True, postgresql_where=fields.c.is_primary
)

outbox = outbox_table(metadata)

# The relay scans only unpublished rows.
Index(
    "ix_outbox_unpublished",
    outbox.c.seq,
    postgresql_where=outbox.c.published_at.is_(None),
)

for _table in (apps, schemas, fields):
    # The purge looks for old deletions only.
    Index(
        f"ix_{_table.name}_deleted_at",
        _table.c.deleted_at,
        postgresql_where=_table.c.deleted_at.is_not(None),
    )
