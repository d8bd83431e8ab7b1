"""The workflows service's tables (SQLAlchemy Core). migrations/versions must match them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.nats.outbox import outbox_table

metadata = MetaData()

# A workflow of an app, addressed by its name; its definition is its latest version's.
workflows = Table(
    "workflows",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # The app's id: a renamed app keeps its workflows.
    Column("app_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "app_id", "name", name="uq_workflows_tenant_id_app_id_name"),
)

# Every definition a workflow has had: runs name the version they ran.
workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("workflow_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("definition", JSONB, nullable=False),
    # Who stored it: the principal's kind and id.
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workflow_id", "version", name="pk_workflow_versions"),
    ForeignKeyConstraint(
        ["workflow_id"],
        ["workflows.id"],
        name="fk_workflow_versions_workflow_id",
        ondelete="CASCADE",
    ),
)

outbox = outbox_table(metadata)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
