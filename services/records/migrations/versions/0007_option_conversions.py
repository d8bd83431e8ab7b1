"""Option conversions keep what they can: taking options away leaves the others, and text
turned into options keeps their order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:00:06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION tessera_keep_options(value text[], options text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN value IS NULL THEN NULL ELSE coalesce(
    (SELECT array_agg(kept ORDER BY position)
       FROM unnest(value) WITH ORDINALITY AS item(kept, position)
      WHERE kept = ANY(options)),
    '{}') END
$$
""",
    """
CREATE OR REPLACE FUNCTION tessera_to_options(value text, options text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  chosen text[];
BEGIN
  IF value IS NULL THEN RETURN NULL; END IF;
  SELECT coalesce(array_agg(part ORDER BY first), '{}') INTO chosen
    FROM (SELECT btrim(p) AS part, min(position) AS first
            FROM unnest(string_to_array(value, ',')) WITH ORDINALITY AS parts(p, position)
           WHERE btrim(p) <> ''
           GROUP BY btrim(p)) AS distinct_parts;
  IF NOT chosen <@ options THEN RETURN NULL; END IF;
  RETURN chosen;
END $$
""",
]


def upgrade() -> None:
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tessera_keep_options(text[], text[])")
