"""Alembic plumbing shared by every service: each service's migrations/env.py calls
`run_env()`, `upgrade()` applies a service's migrations to a database URL,
`enable_row_level_security()` puts a migration's tenant-owned tables behind the tenant
policy, and `announce_outbox_inserts()` has the outbox wake its relays itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.db import ALL_TENANTS_SETTING, TENANT_SETTING, async_url
from services.kit.nats.outbox import NOTIFY_CHANNEL

URL_ATTRIBUTE = "database_url"
TENANT_POLICY = "tenant_isolation"
# What the policy lets a transaction see and write: the rows of the tenant it acts in, or
# every row when it acts in all tenants (see services.kit.db.transaction). Unset, both
# settings read NULL or '', which matches no row: a forgotten tenant fails closed.
TENANT_PREDICATE = (
    f"tenant_id = current_setting('{TENANT_SETTING}', true)"
    f" OR current_setting('{ALL_TENANTS_SETTING}', true) = 'on'"
)


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes[URL_ATTRIBUTE] = url
    return config


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, url), revision)


def run_env() -> None:
    """Body of every env.py: online migrations over asyncpg, in one transaction."""
    url = context.config.attributes[URL_ATTRIBUTE]
    if context.is_offline_mode():
        context.configure(url=async_url(url), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url))


async def _run_online(url: str) -> None:
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate)
    await engine.dispose()


def _migrate(connection: Connection) -> None:
    # Migrations act on every tenant's rows (backfills), and the policies bind the tables'
    # owner too (FORCE).
    connection.exec_driver_sql(f"SELECT set_config('{ALL_TENANTS_SETTING}', 'on', false)")
    # For the session; alembic would take the transaction this began for one of its own.
    connection.commit()
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def enable_row_level_security(*tables: str) -> None:
    """In a migration: each table (with a tenant_id column) shows and takes only the rows
    of the tenant a transaction acts in. FORCE binds the tables' owner as well, so the wall
    also holds for a service that an operator connects as the owner."""
    for table in tables:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(
            f'CREATE POLICY {TENANT_POLICY} ON "{table}"'
            f" USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        )


def disable_row_level_security(*tables: str) -> None:
    """The downgrade of enable_row_level_security."""
    for table in tables:
        op.execute(f'DROP POLICY IF EXISTS {TENANT_POLICY} ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


_ANNOUNCE_FUNCTION = "announce_outbox_insert"
_ANNOUNCE_TRIGGER = "outbox_announced"


def announce_outbox_inserts() -> None:
    """In a migration: every statement that adds outbox rows notifies the relays' channel
    (delivered on commit, like the NOTIFY the writer used to send itself: one round trip
    less per write)."""
    op.execute(
        f"CREATE OR REPLACE FUNCTION {_ANNOUNCE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql"
        f" AS $$BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END$$"
    )
    op.execute(
        f"CREATE TRIGGER {_ANNOUNCE_TRIGGER} AFTER INSERT ON outbox"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {_ANNOUNCE_FUNCTION}()"
    )


def stop_announcing_outbox_inserts() -> None:
    """The downgrade of announce_outbox_inserts."""
    op.execute(f"DROP TRIGGER IF EXISTS {_ANNOUNCE_TRIGGER} ON outbox")
    op.execute(f"DROP FUNCTION IF EXISTS {_ANNOUNCE_FUNCTION}()")
