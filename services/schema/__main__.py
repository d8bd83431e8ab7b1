"""Composition root. `python -m services.schema` serves gRPC until SIGTERM;
`python -m services.schema migrate` applies the migrations and exits."""

from __future__ import annotations

import asyncio
import sys
from functools import partial
from pathlib import Path

from tessera.schema.v1 import schema_pb2_grpc

from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.grpc.server import HandlerRegistry, run_grpc_service
from services.kit.periodic import run_every
from services.kit.runtime import service_main, service_runtime
from services.schema import service, tables
from services.schema.config import SchemaSettings
from services.schema.policy import POLICY
from services.schema.server import SchemaServicer

# How often the purge looks for trash entries past their 72 hours.
TRASH_PURGE_INTERVAL_SECONDS = 600.0


async def run_trash_purge(sessionmaker: SessionMaker, stop: asyncio.Event) -> None:
    async def purge() -> None:
        # The purge sweeps every workspace's trash.
        async with transaction(sessionmaker, tenant=ALL_TENANTS) as session:
            await service.purge_trash(session, utcnow() - service.TRASH_RETENTION)

    await run_every(TRASH_PURGE_INTERVAL_SECONDS, purge, stop, name="trash purge")


async def serve(settings: SchemaSettings) -> None:
    async with service_runtime("schema", settings, outbox=tables.outbox) as runtime:
        servicer = SchemaServicer(runtime.sessionmaker)

        def register(server: HandlerRegistry) -> None:
            schema_pb2_grpc.add_SchemaServiceServicer_to_server(servicer, server)

        await run_grpc_service(
            name="schema",
            policy=POLICY,
            address=settings.grpc_address,
            trust=settings.trust,
            health_address=settings.grpc_health_address,
            register=register,
            background=[runtime.relay.run, partial(run_trash_purge, runtime.sessionmaker)],
            grace_seconds=settings.shutdown_grace_seconds,
        )


if __name__ == "__main__":
    sys.exit(
        service_main(
            "schema", SchemaSettings, migrations=Path(__file__).parent / "migrations", serve=serve
        )
    )
