"""Composition root. `python -m services.schema` serves gRPC until SIGTERM;
`python -m services.schema migrate` applies the migrations and exits."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.grpc.server import run_grpc_service
from services.kit.runtime import service_main, service_runtime
from services.schema import tables
from services.schema.config import SchemaSettings
from services.schema.server import SchemaServicer


async def serve(settings: SchemaSettings) -> None:
    async with service_runtime("schema", settings, outbox=tables.outbox) as runtime:
        servicer = SchemaServicer(runtime.sessionmaker)

        def register(server: grpc.aio.Server) -> None:
            schema_pb2_grpc.add_SchemaServiceServicer_to_server(servicer, server)

        await run_grpc_service(
            name="schema",
            address=settings.grpc_address,
            register=register,
            background=[runtime.relay.run],
            grace_seconds=settings.shutdown_grace_seconds,
        )


if __name__ == "__main__":
    sys.exit(
        service_main(
            "schema", SchemaSettings, migrations=Path(__file__).parent / "migrations", serve=serve
        )
    )
