"""Public app ids: every app gets a global, unguessable address; and per-app settings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kit.ids import new_id

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("public_id", sa.Text(), nullable=True))
    op.add_column(
        "apps",
        sa.Column(
            "settings",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    connection = op.get_bind()
    app_ids = connection.execute(sa.text("SELECT id FROM apps")).scalars().all()
    for app_id in app_ids:
        # Drawn here, not from the database: the same generator as every new app's.
        connection.execute(
            sa.text("UPDATE apps SET public_id = :public_id WHERE id = :id"),
            {"public_id": new_id("app"), "id": app_id},
        )
    op.alter_column("apps", "public_id", nullable=False)
    op.create_unique_constraint("uq_apps_public_id", "apps", ["public_id"])


def downgrade() -> None:
    op.drop_constraint("uq_apps_public_id", "apps", type_="unique")
    op.drop_column("apps", "settings")
    op.drop_column("apps", "public_id")
