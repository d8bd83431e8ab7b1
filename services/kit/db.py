"""Database engines and the transaction boundary.

Servicers open exactly one transaction per call with `transaction(sessionmaker, tenant=...)`;
services and repositories only flush. A DomainError raised inside rolls everything back.

The tenant a transaction acts in is also handed to PostgreSQL (a transaction-local
setting), where row-level security on every table with a tenant_id shows it that tenant's
rows only: a second wall behind the repositories' own scoping. A transaction that names no
tenant sees no tenant's rows; the few paths that legitimately span tenants say so with
ALL_TENANTS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeGuard, TypeVar

from sqlalchemy import Table, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from services.kit.json import dumps_exact, loads_exact

SessionMaker = async_sessionmaker[AsyncSession]
T = TypeVar("T")
# Where repository functions run their statements: a session inside a transaction, or a
# read connection (see create_read_engine).
Executor = AsyncSession | AsyncConnection

# The settings the row-level security policies read (see services.kit.migrations).
TENANT_SETTING = "tessera.tenant_id"
ALL_TENANTS_SETTING = "tessera.all_tenants"
# The execution option that marks create_read_engine's connections.
_READ_CONNECTION = "tessera_read_connection"


class _AllTenants(Enum):
    ALL_TENANTS = "all tenants"


ALL_TENANTS: Final = _AllTenants.ALL_TENANTS
"""For the paths that span tenants by design: purges and other periodic jobs, resolving a
credential by its hash or an app by its public id, an account's memberships across its
workspaces. (The outboxes and consumers' bookkeeping hold no tenant_id, so their relays
and consumers need no scope.)"""

# A tenant id; ALL_TENANTS; or None (or ""), which sees no tenant's rows.
TenantScope = str | _AllTenants | None

_ACT_IN_TENANT = text(f"SELECT set_config('{TENANT_SETTING}', :tenant, true)")
_ACT_IN_ALL_TENANTS = text(f"SELECT set_config('{ALL_TENANTS_SETTING}', 'on', true)")


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


def create_read_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Connections for reads of one statement at a time, each its own implicit
    transaction: under READ COMMITTED a statement sees its own snapshot either way, so an
    explicit transaction around a read only adds BEGIN and COMMIT (two round trips and
    most of the driver layer's time on a get). A connection returns to the pool as it is:
    there is no transaction to roll back.

    These connections act in no tenant, so row-level security shows them no row of a
    tenant table: a read that needs one belongs in a transaction. The records' own tables
    carry no tenant column; a tenant reaches them only through its own apps."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        pool_reset_on_return=None,
        isolation_level="AUTOCOMMIT",
        execution_options={_READ_CONNECTION: True},
        json_serializer=lambda value: dumps_exact(value).decode(),
        json_deserializer=loads_exact,
    )


async def read(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work` on a read connection from create_read_engine's pool.

    asyncpg keeps each connection's statements prepared, and a statement prepared before
    DDL changed its table (a field's type, from this process's other engine or another
    replica) fails once with a stale plan; the dialect then forgets what it had prepared.
    A read has done nothing yet, so it simply runs again."""
    for attempt in range(2):
        async with engine.connect() as conn:
            try:
                return await work(conn)
            except DBAPIError as error:
                if attempt or not _stale_statement(engine, error):
                    raise
    raise AssertionError("unreachable")


def is_read_connection(db: Executor) -> TypeGuard[AsyncConnection]:
    """Whether `db` is one of create_read_engine's connections: no transaction around it,
    so a statement may go to the driver itself (a session's must go through it)."""
    if not isinstance(db, AsyncConnection) or db.sync_connection is None:
        return False
    return bool(db.sync_connection.get_execution_options().get(_READ_CONNECTION))


def _stale_statement(engine: AsyncEngine, error: DBAPIError) -> bool:
    dbapi = engine.dialect.loaded_dbapi
    return isinstance(error.orig, dbapi.InvalidCachedStatementError) or (
        isinstance(error.orig, dbapi.InternalServerError)
        and "cache lookup failed" in str(error.orig)
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessionmaker: SessionMaker, *, tenant: TenantScope = None
) -> AsyncIterator[AsyncSession]:
    """One transaction, acting in `tenant` (see act_in)."""
    async with sessionmaker() as session, session.begin():
        await act_in(session, tenant)
        yield session


async def act_in(conn: AsyncConnection | AsyncSession, tenant: TenantScope) -> None:
    """Binds the current transaction to `tenant` for row-level security, until it ends: one
    statement, none for no tenant. Called again, it narrows to the tenant named last (a
    workspace made in the same transaction); ALL_TENANTS, once set, stays."""
    if not tenant:
        return
    # Core on the session's connection: the ORM's execution layers cost more than this.
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    if tenant is ALL_TENANTS:
        await conn.execute(_ACT_IN_ALL_TENANTS)
    else:
        await conn.execute(_ACT_IN_TENANT, {"tenant": tenant})


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


# What the engines compile for (postgresql+asyncpg), for the statements sent to the
# driver itself.
DRIVER_DIALECT = asyncpg_dialect()


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled once for asyncpg: its SQL and, in placeholder order, the
    names of its parameters with the engine's conversions of their values. Sent to the
    driver itself (driver_of), it skips the engine's execution layers, which cost a
    short statement more than PostgreSQL does. Values given when it was built stay
    fixed; the rest come with each execution."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: ClauseElement) -> DriverStatement:
        compiled = statement.compile(dialect=DRIVER_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        processors = {}
        for name in names:
            bind_type = compiled.binds[name].type.dialect_impl(DRIVER_DIALECT)
            processor = bind_type.bind_processor(DRIVER_DIALECT)
            if processor is not None:
                processors[name] = processor
        return cls(str(compiled), names, dict(compiled.params), processors)

    def args(self, values: Mapping[str, Any] | None = None) -> list[Any]:
        given = values or {}
        out = []
        for name in self.names:
            value = given[name] if name in given else self.fixed[name]
            processor = self.processors.get(name)
            out.append(value if processor is None or value is None else processor(value))
        return out


async def driver_of(conn: AsyncConnection | AsyncSession) -> Any:
    """The driver's own connection under `conn`, in the same transaction: for the
    DriverStatements. A session's transaction must have begun (act_in's statement
    begins it)."""
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver
