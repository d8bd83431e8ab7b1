"""The transaction helper hands its tenant to PostgreSQL, whose row-level security then
decides what a service's role reads and writes, whatever the statement says."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.devstack.roles import ServiceDatabase
from services.kit.db import (
    ALL_TENANTS,
    TenantScope,
    act_in,
    create_engine,
    create_read_engine,
    create_sessionmaker,
    is_read_connection,
    read,
    transaction,
)
from services.kit.ids import new_id
from services.schema.tables import apps
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


@pytest.fixture(scope="module")
def database(infra: Infra) -> ServiceDatabase:
    """The schema service's database (its apps table has a tenant_id), with two
    workspaces' apps written past the policies by a superuser."""
    database = infra.new_database("kit_db")
    migrate_as_owner("schema", database)
    with psycopg.connect(database.admin_url, autocommit=True) as admin:
        for tenant, count in (("ws_a", 2), ("ws_b", 3)):
            for n in range(count):
                admin.execute(
                    "INSERT INTO apps (id, tenant_id, slug, name, public_id)"
                    " VALUES (%s, %s, %s, 'App', %s)",
                    (new_id("app"), tenant, f"app-{n}", new_id("app")),
                )
    return database


def tenants_seen(url: str, tenant: TenantScope, *, then: TenantScope = None) -> dict[str, int]:
    """Apps per tenant that one transaction acting in `tenant` (and after that, `then`)
    reads with a statement that names no tenant at all."""

    async def read() -> dict[str, int]:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), tenant=tenant) as session:
                if then is not None:
                    await act_in(session, then)
                rows = await session.execute(
                    select(apps.c.tenant_id, func.count()).group_by(apps.c.tenant_id)
                )
                return {row[0]: row[1] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_transaction_reads_the_rows_of_the_tenant_it_acts_in(database: ServiceDatabase) -> None:
    assert tenants_seen(database.runtime_url, "ws_a") == {"ws_a": 2}
    assert tenants_seen(database.runtime_url, "ws_b") == {"ws_b": 3}


def test_a_transaction_in_no_tenant_reads_no_tenants_rows(database: ServiceDatabase) -> None:
    assert tenants_seen(database.runtime_url, None) == {}
    assert tenants_seen(database.runtime_url, "") == {}
    assert tenants_seen(database.runtime_url, "ws_nobody") == {}


def test_all_tenants_is_said_explicitly_and_reads_every_tenant(database: ServiceDatabase) -> None:
    assert tenants_seen(database.runtime_url, ALL_TENANTS) == {"ws_a": 2, "ws_b": 3}


def test_a_workspace_made_in_the_transaction_binds_it_from_then_on(
    database: ServiceDatabase,
) -> None:
    assert tenants_seen(database.runtime_url, None, then="ws_b") == {"ws_b": 3}


def test_the_owner_role_is_bound_as_well(database: ServiceDatabase) -> None:
    assert tenants_seen(database.owner_url, None) == {}
    assert tenants_seen(database.owner_url, "ws_a") == {"ws_a": 2}


def test_a_transaction_cannot_write_a_row_of_another_tenant(database: ServiceDatabase) -> None:
    async def plant() -> None:
        engine = create_engine(database.runtime_url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), tenant="ws_a") as session:
                await session.execute(
                    insert(apps).values(
                        id=new_id("app"),
                        tenant_id="ws_b",
                        slug="planted",
                        name="Planted",
                        public_id=new_id("app"),
                    )
                )
        finally:
            await engine.dispose()

    with pytest.raises(DBAPIError, match="row-level security"):
        asyncio.run(plant())
    assert tenants_seen(database.runtime_url, "ws_b") == {"ws_b": 3}


def test_a_read_connection_acts_in_no_tenant_and_says_what_it_is(
    database: ServiceDatabase,
) -> None:
    """Reads outside a transaction (kit.db.read) see no tenant's rows of a tenant table:
    a read that needs them belongs in a transaction. Only their connections are marked as
    reads, the mark that lets a statement skip the engine for the driver."""

    async def look() -> tuple[int, bool, bool, bool]:
        reads = create_read_engine(database.runtime_url, pool_size=1)
        writes = create_engine(database.runtime_url, pool_size=1)
        try:

            async def count(conn: AsyncConnection) -> int:
                return int(
                    (await conn.execute(select(func.count()).select_from(apps))).scalar_one()
                )

            seen = await read(reads, count)
            async with reads.connect() as conn:
                read_marked = is_read_connection(conn)
            async with writes.connect() as conn:
                write_marked = is_read_connection(conn)
            async with create_sessionmaker(writes)() as session:
                session_marked = is_read_connection(session)
            return seen, read_marked, write_marked, session_marked
        finally:
            await reads.dispose()
            await writes.dispose()

    assert asyncio.run(look()) == (0, True, False, False)
