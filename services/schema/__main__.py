"""Composition root. `python -m services.schema` serves gRPC until SIGTERM;
`python -m services.schema migrate` applies the migrations and exits."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
import uvloop
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.db import create_engine, create_sessionmaker
from services.kit.grpc.server import run_grpc_service
from services.kit.logging import configure_logging
from services.kit.migrations import upgrade
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.outbox import OutboxRelay
from services.schema import tables
from services.schema.config import SchemaSettings
from services.schema.server import SchemaServicer

MIGRATIONS = Path(__file__).parent / "migrations"
STREAM = "SCHEMA"
SUBJECTS = ["schema.>"]


async def serve(settings: SchemaSettings) -> None:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        nc = await connect(settings.nats_url, name="schema")
    except BaseException:
        await engine.dispose()
        raise
    js = nc.jetstream()
    relay = OutboxRelay(engine, tables.outbox, js, poll_seconds=settings.outbox_poll_seconds)
    servicer = SchemaServicer(create_sessionmaker(engine))

    def register(server: grpc.aio.Server) -> None:
        schema_pb2_grpc.add_SchemaServiceServicer_to_server(servicer, server)

    async def on_stop() -> None:
        await nc.drain()
        await engine.dispose()

    try:
        await ensure_stream(js, name=STREAM, subjects=SUBJECTS)
    except BaseException:
        await on_stop()
        raise
    await run_grpc_service(
        name="schema",
        address=settings.grpc_address,
        register=register,
        background=[relay.run],
        on_stop=on_stop,
        grace_seconds=settings.shutdown_grace_seconds,
    )


def main(argv: list[str]) -> int:
    settings = SchemaSettings()  # type: ignore[call-arg]  # database_url comes from the env
    if argv == ["migrate"]:
        upgrade(MIGRATIONS, settings.database_url)
        return 0
    if argv:
        print(f"usage: python -m services.schema [migrate]; got {argv}", file=sys.stderr)
        return 2
    configure_logging("schema", settings.log_level)
    uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
