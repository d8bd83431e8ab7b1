"""Database engines and the transaction boundary.

Servicers open exactly one transaction per call with `transaction(sessionmaker)`; services
and repositories only flush. A DomainError raised inside rolls everything back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.kit.json import dumps_exact, loads_exact

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
    # JSON columns keep numbers exact both ways (PostgreSQL's jsonb numbers are numeric).
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        json_serializer=lambda value: dumps_exact(value).decode(),
        json_deserializer=loads_exact,
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
    the fastest way in for many rows. Values go to the driver as they are: asyncpg takes
    Python values for every type but JSON, which (with the codec SQLAlchemy installs) it
    takes as JSON text, see json_text. None is NULL; columns not named get their
    defaults."""
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy begins the driver's transaction with its first statement; COPY on its
        # own would commit by itself.
        await conn.execute(text("SELECT 1"))
    await driver.copy_records_to_table(
        table.name, schema_name=table.schema, columns=list(columns), records=rows
    )


def json_text(value: Any) -> str:
    """A value of a JSON column as copy_rows takes it, numbers exact as the engine's own
    serializer writes them."""
    return dumps_exact(value).decode()
