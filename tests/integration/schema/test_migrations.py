"""The hand-written migration builds exactly what tables.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from services.devstack.processes import migrate
from services.schema.tables import metadata
from tests.support.infra import Infra


def test_migrations_match_tables_and_rerun_cleanly(infra: Infra) -> None:
    url = infra.new_database("schema_migrations")
    env = {"SCHEMA_DATABASE_URL": url}
    migrate("services.schema", env)
    migrate("services.schema", env)  # a second run is a no-op

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
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
