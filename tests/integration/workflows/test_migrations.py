"""The hand-written migration builds exactly what tables.py describes, and a workspace's
rows are hidden from another's transactions."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from services.workflows.tables import metadata
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


def test_migrations_match_tables_and_rerun_cleanly(infra: Infra) -> None:
    database = infra.new_database("workflows_migrations")
    migrate_as_owner("workflows", database)
    migrate_as_owner("workflows", database)  # a second run is a no-op

    engine = create_engine(make_url(database.runtime_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_a_workspace_sees_only_its_own_workflows(infra: Infra) -> None:
    database = infra.new_database("workflows_rls")
    migrate_as_owner("workflows", database)
    with psycopg.connect(database.admin_url, autocommit=True) as admin:
        for tenant in ("ws_a", "ws_b"):
            admin.execute(
                "INSERT INTO workflows (id, tenant_id, app_id, name, version) "
                "VALUES (%s, %s, 'app_1', 'w', 1)",
                (f"wfl_{tenant}", tenant),
            )
    with psycopg.connect(database.runtime_url) as runtime:
        runtime.execute("SELECT set_config('tessera.tenant_id', 'ws_a', true)")
        seen = runtime.execute("SELECT id FROM workflows").fetchall()
        runtime.rollback()
        unscoped = runtime.execute("SELECT id FROM workflows").fetchall()
    assert seen == [("wfl_ws_a",)]
    assert unscoped == []
