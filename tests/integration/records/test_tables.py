"""The hand-written migration builds exactly what tables.py declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from services.kit.db import plain_url
from services.records import tables


def test_migrations_match_tables(records_db: str) -> None:
    engine = create_engine(plain_url(records_db).replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff: list[Any] = compare_metadata(context, tables.metadata)
    finally:
        engine.dispose()
    # The per-schema record tables live in the apps' own PostgreSQL schemas, not here;
    # alembic's own version table is not part of tables.py.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == []
