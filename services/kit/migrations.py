"""Alembic plumbing shared by every service: each service's migrations/env.py calls
`run_env()`, and `upgrade()` applies a service's migrations to a database URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.db import async_url

URL_ATTRIBUTE = "database_url"


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
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
