"""Composition root. `python -m services.identity` serves gRPC; `python -m
services.identity migrate` applies the migrations and exits."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import grpc
import uvloop

from services.identity import events, passwords, service, tables
from services.identity.config import IdentitySettings, load_settings
from services.identity.server import IdentityServicer, register
from services.kit.db import create_engine, create_sessionmaker, transaction
from services.kit.grpc.server import run_grpc_service
from services.kit.logging import configure_logging
from services.kit.migrations import upgrade
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.outbox import OutboxRelay

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger("services.identity")


async def serve(settings: IdentitySettings) -> None:
    configure_logging("identity", settings.log_level)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)
    nc = await connect(settings.nats_url, name="identity")
    js = nc.jetstream()
    await ensure_stream(js, name=events.STREAM, subjects=events.STREAM_SUBJECTS)
    async with transaction(sessionmaker) as session:
        key = await service.ensure_signing_key(session)
    log.info("signing access tokens with key %s", key.kid)
    await asyncio.to_thread(passwords.warm_up)
    relay = OutboxRelay(engine, tables.outbox, js, poll_seconds=settings.outbox_poll_seconds)
    servicer = IdentityServicer(sessionmaker, settings)

    def add_servicer(server: grpc.aio.Server) -> None:
        register(server, servicer)

    async def on_stop() -> None:
        await nc.drain()
        await engine.dispose()

    await run_grpc_service(
        name="identity",
        address=settings.grpc_address,
        register=add_servicer,
        background=[relay.run],
        on_stop=on_stop,
        grace_seconds=settings.shutdown_grace_seconds,
    )


def main(argv: list[str]) -> int:
    settings = load_settings()
    if argv == ["migrate"]:
        upgrade(MIGRATIONS, settings.database_url)
        return 0
    if argv:
        print(f"usage: python -m services.identity [migrate]; got {argv}", file=sys.stderr)
        return 2
    uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
