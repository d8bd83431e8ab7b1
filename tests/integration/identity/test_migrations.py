"""The hand-written migrations build exactly what tables.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from services.devstack.processes import migrate
from services.identity.tables import metadata
from tests.support.infra import Infra


def test_migrations_match_tables_and_rerun_cleanly(infra: Infra) -> None:
    url = infra.new_database("identity_migrations")
    env = {"IDENTITY_DATABASE_URL": url}
    migrate("services.identity", env)
    migrate("services.identity", env)  # a second run is a no-op

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
