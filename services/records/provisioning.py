"""Provisioning: making sure a schema version's physical table exists before records are
read or written through it.

Each provisioning runs in its own short transaction (DDL must not ride in a request's
transaction, and must commit before the request uses the table). An in-process memo of the
newest version provisioned per schema makes the hot path a dictionary lookup."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import DBAPIError

from services.kit.db import SessionMaker, transaction
from services.kit.errors import ServiceUnavailable
from services.records import repository
from services.records.repository import RecordTable, RecordTables
from services.records.schemas import SchemaDef

log = logging.getLogger(__name__)

ATTEMPTS = 3


class Provisioner:
    def __init__(self, sessionmaker: SessionMaker, tables: RecordTables) -> None:
        self._sessionmaker = sessionmaker
        self._tables = tables
        self._provisioned: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def is_current(self, schema: SchemaDef) -> bool:
        return self._provisioned.get(schema.id, -1) >= schema.version

    async def ensure(self, tenant_id: str, schema: SchemaDef) -> RecordTable:
        """The schema version's table, provisioned first if this process has not seen it
        provisioned yet."""
        if not self.is_current(schema):
            # One provisioning per schema at a time in this process; the others wait and
            # then find the memo up to date.
            lock = self._locks.setdefault(schema.id, asyncio.Lock())
            async with lock:
                if not self.is_current(schema):
                    await self._provision(tenant_id, self._tables.get(schema))
        return self._tables.get(schema)

    async def _provision(self, tenant_id: str, rt: RecordTable) -> None:
        schema = rt.schema
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with transaction(self._sessionmaker, tenant=tenant_id) as session:
                    created = await repository.provision(session, rt, tenant_id=tenant_id)
            except DBAPIError as error:
                state = repository.sqlstate(error)
                if state == repository.LOCK_NOT_AVAILABLE:
                    log.warning("provisioning %s timed out on a lock", schema.id)
                    raise ServiceUnavailable(
                        "The schema's table is busy; try again shortly", retry_after=1
                    ) from error
                if state in repository.CREATION_RACES and attempt < ATTEMPTS:
                    continue
                raise
            else:
                if created:
                    log.info(
                        "provisioned schema %s version %d",
                        schema.id,
                        schema.version,
                        extra={"tenant_id": tenant_id, "app_id": schema.app_id},
                    )
                break
        self._provisioned[schema.id] = max(self._provisioned.get(schema.id, -1), schema.version)


__all__ = ["Provisioner"]
