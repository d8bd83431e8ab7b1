"""The hand-written migrations build exactly what tables.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from services.identity.tables import metadata
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


def test_migrations_match_tables_and_rerun_cleanly(infra: Infra) -> None:
    database = infra.new_database("identity_migrations")
    migrate_as_owner("identity", database)
    migrate_as_owner("identity", database)  # a second run is a no-op

    engine = create_engine(make_url(database.runtime_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
