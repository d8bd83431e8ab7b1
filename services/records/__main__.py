"""Composition root: `python -m services.records` serves; `... migrate` applies migrations."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import uvloop
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.db import create_engine, create_sessionmaker
from services.kit.grpc.client import create_channel
from services.kit.grpc.server import run_grpc_service
from services.kit.logging import configure_logging
from services.kit.migrations import upgrade
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.outbox import OutboxRelay
from services.records import tables
from services.records.config import RecordsSettings
from services.records.consumers import (
    INVALIDATION_SUBJECT,
    SchemaProvisioningHandler,
    invalidation_callback,
    run_schema_provisioner,
)
from services.records.provisioning import Provisioner
from services.records.repository import RecordTables
from services.records.schemas import CachedSchemaSource
from services.records.server import RecordsServicer, register
from services.records.service import RecordsService

MIGRATIONS = Path(__file__).parent / "migrations"


async def main(settings: RecordsSettings) -> None:
    configure_logging("records", settings.log_level)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)

    nc = await connect(settings.nats_url, name="records")
    js = nc.jetstream()
    await ensure_stream(js, name="RECORDS", subjects=["records.>"])

    channel = create_channel(settings.schema_addr)
    schemas = CachedSchemaSource(
        schema_pb2_grpc.SchemaServiceStub(channel),
        ttl_seconds=settings.schema_cache_ttl_seconds,
    )
    provisioner = Provisioner(sessionmaker, RecordTables())
    service = RecordsService(schemas, provisioner)
    servicer = RecordsServicer(sessionmaker, service)

    relay = OutboxRelay(engine, tables.outbox, js, poll_seconds=settings.outbox_poll_seconds)
    await nc.subscribe(INVALIDATION_SUBJECT, cb=invalidation_callback(schemas))
    provisioning = SchemaProvisioningHandler(sessionmaker, provisioner)

    async def on_stop() -> None:
        await nc.drain()
        await channel.close()
        await engine.dispose()

    await run_grpc_service(
        name="records",
        address=settings.grpc_address,
        register=partial(register, servicer=servicer),
        background=[relay.run, partial(run_schema_provisioner, js, provisioning)],
        on_stop=on_stop,
        grace_seconds=settings.shutdown_grace_seconds,
    )


def run(argv: list[str]) -> int:
    settings = RecordsSettings()  # type: ignore[call-arg]  # database_url comes from env
    if argv[1:2] == ["migrate"]:
        upgrade(MIGRATIONS, settings.database_url)
        return 0
    if argv[1:]:
        print(f"usage: python -m services.records [migrate]; got {argv[1:]}", file=sys.stderr)
        return 2
    if not settings.schema_addr:
        print("RECORDS_SCHEMA_ADDR (host:port of the schema service) is required", file=sys.stderr)
        return 2
    uvloop.run(main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv))
