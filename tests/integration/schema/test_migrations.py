"""The hand-written migration builds exactly what tables.py describes."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import services.schema
from services.kit.migrations import upgrade
from services.schema.tables import metadata
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


def test_migrations_match_tables_and_rerun_cleanly(infra: Infra) -> None:
    database = infra.new_database("schema_migrations")
    migrate_as_owner("schema", database)
    migrate_as_owner("schema", database)  # a second run is a no-op

    engine = create_engine(make_url(database.runtime_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
            indexes = {
                row[0]: row[1]
                for row in conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox'"
                )
            }
            identity = conn.exec_driver_sql(
                "SELECT is_identity, identity_generation FROM information_schema.columns "
                "WHERE table_name = 'outbox' AND column_name = 'seq'"
            ).one()
    finally:
        engine.dispose()
    assert "WHERE (published_at IS NULL)" in indexes["ix_outbox_unpublished"]
    assert tuple(identity) == ("YES", "BY DEFAULT")


def test_apps_made_before_public_ids_get_distinct_ones(infra: Infra) -> None:
    database = infra.new_database("schema_public_ids")
    migrations = Path(services.schema.__file__).parent / "migrations"
    upgrade(migrations, database.owner_url, "0004")
    with psycopg.connect(database.admin_url, autocommit=True) as connection:
        for n in range(3):
            connection.execute(
                "INSERT INTO apps (id, tenant_id, slug, name) VALUES (%s, 'ws_1', %s, 'App')",
                (f"app_{n}", f"app-{n}"),
            )

    upgrade(migrations, database.owner_url)

    with psycopg.connect(database.admin_url, autocommit=True) as connection:
        rows = connection.execute("SELECT public_id, settings FROM apps").fetchall()
    public_ids = [row[0] for row in rows]
    assert len(set(public_ids)) == 3
    assert all(re.fullmatch(r"app_[a-z2-7]{26}", public_id) for public_id in public_ids)
    assert [row[1] for row in rows] == [{}, {}, {}]
