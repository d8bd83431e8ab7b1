"""The provisioned layout of each schema, and the safe casts that type changes use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:00:01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Casts that answer NULL instead of failing, so one ALTER … USING converts a whole column
# and the values that cannot be converted are counted (and, when forced, emptied).
FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION tessera_try_date(value text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value !~ '^\\s*\\d{4}-\\d{2}-\\d{2}' THEN RETURN NULL; END IF;
  RETURN left(btrim(value), 10)::date;
EXCEPTION WHEN others THEN RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE FUNCTION tessera_try_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF value !~ '^\\s*\\d{4}-\\d{2}-\\d{2}' THEN RETURN NULL; END IF;
  RETURN btrim(value)::timestamptz;
EXCEPTION WHEN others THEN RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE FUNCTION tessera_to_options(value text, options text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  chosen text[];
BEGIN
  IF value IS NULL THEN RETURN NULL; END IF;
  SELECT coalesce(array_agg(DISTINCT part), '{}') INTO chosen
    FROM (SELECT btrim(p) AS part FROM unnest(string_to_array(value, ',')) AS p) AS parts
    WHERE part <> '';
  IF NOT chosen <@ options THEN RETURN NULL; END IF;
  RETURN chosen;
END $$
""",
]


def upgrade() -> None:
    op.add_column("provisioned_schemas", sa.Column("layout", postgresql.JSONB(), nullable=True))
    op.create_table(
        "service_keys",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
    )
    # 244 random bits from the server's strong random source (gen_random_uuid).
    op.execute(
        "INSERT INTO service_keys (name, secret) VALUES ('cursor', decode("
        "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''),"
        " 'hex'))"
    )
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tessera_to_options(text, text[])")
    op.execute("DROP FUNCTION IF EXISTS tessera_try_timestamptz(text)")
    op.execute("DROP FUNCTION IF EXISTS tessera_try_date(text)")
    op.drop_table("service_keys")
    op.drop_column("provisioned_schemas", "layout")
