"""Database engines and the transaction boundary.

Servicers open exactly one transaction per call with `transaction(sessionmaker)`; services
and repositories only flush. A DomainError raised inside rolls everything back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import JSON, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionMaker = async_sessionmaker[AsyncSession]


def async_url(url: str) -> str:
    """Accepts postgres://, postgresql:// or postgresql+asyncpg:// URLs."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq form of a URL, for asyncpg.connect and command-line tools."""
    parsed = make_url(async_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session, session.begin():
        yield session


async def copy_rows(
    conn: AsyncConnection | AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """COPY rows into a table through the caller's own connection, inside its transaction:
    the fastest way in for many rows. Values go to the driver as they are (asyncpg takes
    Python values for every type), but for JSON columns, whose values are Python values
    encoded here as the codec SQLAlchemy installs expects; None is NULL. Columns not named
    get their defaults."""
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    encoded = [isinstance(table.c[name].type, JSON) for name in columns]
    if any(encoded):
        rows = [
            tuple(
                _json_text(value) if encode and value is not None else value
                for encode, value in zip(encoded, row, strict=True)
            )
            for row in rows
        ]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy begins the driver's transaction with its first statement; COPY on its
        # own would commit by itself.
        await conn.execute(text("SELECT 1"))
    await driver.copy_records_to_table(
        table.name, schema_name=table.schema, columns=list(columns), records=rows
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()
