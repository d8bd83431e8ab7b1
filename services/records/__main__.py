"""Composition root: `python -m services.records` serves; `... migrate` applies migrations."""

from __future__ import annotations

import asyncio
import sys
from functools import partial
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.clock import utcnow
from services.kit.grpc.client import create_channel
from services.kit.grpc.server import run_grpc_service
from services.kit.periodic import run_every
from services.kit.runtime import service_main, service_runtime
from services.records import tables
from services.records.config import RecordsSettings
from services.records.consumers import (
    INVALIDATION_SUBJECTS,
    SchemaProvisioningHandler,
    invalidation_callback,
    run_schema_provisioner,
)
from services.records.imports import Importer
from services.records.policy import POLICY
from services.records.provisioning import Provisioner
from services.records.repository import (
    RecordTables,
    load_service_key,
    purge_trash,
    upgrade_counters,
)
from services.records.schemas import CachedSchemaSource
from services.records.server import RecordsServicer, register
from services.records.service import TRASH_RETENTION, RecordsService

TRASH_PURGE_INTERVAL_SECONDS = 600.0


async def run_trash_purge(engine: AsyncEngine, stop: asyncio.Event) -> None:
    """Removes trashed records once they are past restoring."""

    async def purge() -> None:
        await purge_trash(engine, utcnow() - TRASH_RETENTION)

    await run_every(TRASH_PURGE_INTERVAL_SECONDS, purge, stop, name="trash purge")


async def serve(settings: RecordsSettings) -> None:
    if not settings.schema_addr:
        raise SystemExit("RECORDS_SCHEMA_ADDR (host:port of the schema service) is required")
    async with service_runtime("records", settings, outbox=tables.outbox) as runtime:
        channel = create_channel(settings.schema_addr, service="schema", trust=settings.trust)
        schemas = CachedSchemaSource(
            schema_pb2_grpc.SchemaServiceStub(channel),
            ttl_seconds=settings.schema_cache_ttl_seconds,
        )
        await upgrade_counters(runtime.engine)
        provisioner = Provisioner(runtime.sessionmaker, RecordTables())
        cursor_key = await load_service_key(runtime.sessionmaker, "cursor")
        service = RecordsService(schemas, provisioner, cursor_key=cursor_key)
        importer = Importer(runtime.sessionmaker, service)
        servicer = RecordsServicer(runtime.sessionmaker, runtime.read_engine, service, importer)
        for subject in INVALIDATION_SUBJECTS:
            await runtime.nats.subscribe(subject, cb=invalidation_callback(schemas))
        provisioning = SchemaProvisioningHandler(runtime.sessionmaker, provisioner)
        try:
            await run_grpc_service(
                name="records",
                policy=POLICY,
                address=settings.grpc_address,
                trust=settings.trust,
                health_address=settings.grpc_health_address,
                register=partial(register, servicer=servicer),
                background=[
                    runtime.relay.run,
                    partial(run_schema_provisioner, runtime.js, provisioning),
                    partial(servicer.idempotency.run_purge, runtime.engine),
                    partial(run_trash_purge, runtime.engine),
                ],
                grace_seconds=settings.shutdown_grace_seconds,
            )
        finally:
            await channel.close()


if __name__ == "__main__":
    sys.exit(
        service_main(
            "records", RecordsSettings, migrations=Path(__file__).parent / "migrations", serve=serve
        )
    )
