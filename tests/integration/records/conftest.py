"""The records service in-process against a real PostgreSQL built by its own migrations,
with the SchemaSource seam filled by an in-memory fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.kit.db import (
    ALL_TENANTS,
    SessionMaker,
    act_in,
    create_engine,
    create_sessionmaker,
    transaction,
)
from services.records.provisioning import Provisioner
from services.records.repository import RecordTables
from services.records.schemas import SchemaDef
from services.records.service import RecordPage, RecordsService
from tests.factories.records import FakeSchemaSource, context
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


def migrated_database(infra: Infra, purpose: str) -> str:
    """A records database migrated by its owner; answers its runtime role's URL, which the
    service in the harness connects as."""
    database = infra.new_database(purpose, creates_schemas=True)
    migrate_as_owner("records", database)
    return database.runtime_url


@pytest.fixture(scope="session")
def records_db(infra: Infra) -> str:
    return migrated_database(infra, "records")


@dataclass
class Harness:
    engine: AsyncEngine
    sessionmaker: SessionMaker
    schemas: FakeSchemaSource
    provisioner: Provisioner
    service: RecordsService

    async def create(self, tenant: str, schema: SchemaDef, body: bytes) -> dict[str, Any]:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            return await self.service.create_record(
                session, context(tenant), schema.app_slug, schema.slug, body
            )

    async def get(self, tenant: str, schema: SchemaDef, record_id: str) -> dict[str, Any]:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            return await self.service.get_record(
                session, context(tenant), schema.app_slug, schema.slug, record_id
            )

    async def update(
        self, tenant: str, schema: SchemaDef, record_id: str, body: bytes
    ) -> dict[str, Any]:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            return await self.service.update_record(
                session, context(tenant), schema.app_slug, schema.slug, record_id, body
            )

    async def delete(self, tenant: str, schema: SchemaDef, record_id: str) -> None:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            await self.service.delete_record(
                session, context(tenant), schema.app_slug, schema.slug, record_id
            )

    async def page(self, tenant: str, schema: SchemaDef, **params: Any) -> RecordPage:
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            return await self.service.list_records(
                session, context(tenant), schema.app_slug, schema.slug, **params
            )

    # The tests' own looks into the database see every tenant's rows.

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.begin() as conn:
            await act_in(conn, ALL_TENANTS)
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.begin() as conn:
            await act_in(conn, ALL_TENANTS)
            return list((await conn.execute(text(sql), params)).all())

    async def count_records(self, schema: SchemaDef) -> int:
        return int(await self.scalar(f'SELECT count(*) FROM "{schema.app_id}"."{schema.id}"'))

    async def count_outbox(self) -> int:
        return int(await self.scalar("SELECT count(*) FROM outbox"))


@asynccontextmanager
async def harness(url: str) -> AsyncIterator[Harness]:
    engine = create_engine(url, pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    schemas = FakeSchemaSource()
    provisioner = Provisioner(sessionmaker, RecordTables())
    try:
        yield Harness(
            engine, sessionmaker, schemas, provisioner, RecordsService(schemas, provisioner)
        )
    finally:
        await engine.dispose()
