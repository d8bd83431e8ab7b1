"""Privacy rules: a schema's ordered rules and default, stored with field ids.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the schema has no rules (open to members by role, closed to app end users).
    op.add_column("schemas", sa.Column("privacy_rules", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("schemas", "privacy_rules")
