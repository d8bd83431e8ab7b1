"""Schedule triggers and when each is next due; incoming-webhook triggers and their sealed
signing secrets; the apps in the trash, whose triggers wait. All under row-level security.

Revision ID: 0003_triggers
Revises: 0002_runs
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kit.migrations import disable_row_level_security, enable_row_level_security

revision: str = "0003_triggers"
down_revision: str | None = "0002_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("schedules", "hooks", "trashed_apps")


def _workflow_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workflow_id"], ["workflows.id"], name=f"fk_{table}_workflow_id", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("app_ref", sa.Text(), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("workflow_id", "trigger_index", name="pk_schedules"),
        _workflow_key("schedules"),
    )
    op.create_index("ix_schedules_next_at", "schedules", ["next_at"])
    op.create_table(
        "hooks",
        sa.Column("workflow_id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("app_ref", sa.Text(), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=True),
        sa.Column("replay_window_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "secret_set_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("previous_sealed_secret", sa.Text(), nullable=True),
        sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True),
        _workflow_key("hooks"),
    )
    op.create_index("ix_hooks_app_ref", "hooks", ["app_ref"])
    op.create_table(
        "trashed_apps",
        sa.Column("app_id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column(
            "trashed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
    )
    enable_row_level_security(*TENANT_TABLES)


def downgrade() -> None:
    disable_row_level_security(*TENANT_TABLES)
    op.drop_table("trashed_apps")
    op.drop_index("ix_hooks_app_ref", table_name="hooks")
    op.drop_table("hooks")
    op.drop_index("ix_schedules_next_at", table_name="schedules")
    op.drop_table("schedules")
