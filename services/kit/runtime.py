"""What every database-owning service starts with, in one place: the command line
(`python -m services.<svc> [migrate]`), the engine, the NATS connection and the service's
stream, and the outbox relay; torn down in reverse order however serving ends."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.kit.config import DatabaseServiceSettings
from services.kit.db import (
    SessionMaker,
    create_engine,
    create_read_engine,
    create_sessionmaker,
)
from services.kit.grpc.trust import ContextVerifier, ServiceTls, TrustNotConfigured
from services.kit.logging import configure_logging
from services.kit.nats.connection import connect, ensure_stream
from services.kit.nats.outbox import OutboxRelay

Settings = TypeVar("Settings", bound=DatabaseServiceSettings)


@dataclass(frozen=True)
class Runtime:
    engine: AsyncEngine
    sessionmaker: SessionMaker
    # Autocommit connections for reads of one statement (see create_read_engine).
    read_engine: AsyncEngine
    nats: Client
    js: JetStreamContext
    relay: OutboxRelay


@asynccontextmanager
async def service_runtime(
    name: str, settings: DatabaseServiceSettings, *, outbox: Table
) -> AsyncIterator[Runtime]:
    """Connects to the database and NATS and declares the stream `NAME` on `name.>`;
    NATS is drained and the engine disposed on the way out, also after a failed start."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    read_engine = create_read_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        nats = await connect(settings.nats_url, name=name, identity=settings.nats_identity(name))
        try:
            js = nats.jetstream()
            await ensure_stream(js, name=name.upper(), subjects=[f"{name}.>"])
            relay = OutboxRelay(engine, outbox, js, poll_seconds=settings.outbox_poll_seconds)
            yield Runtime(engine, create_sessionmaker(engine), read_engine, nats, js, relay)
        finally:
            await nats.drain()
    finally:
        await read_engine.dispose()
        await engine.dispose()


def service_main(
    name: str,
    settings_type: type[Settings],
    *,
    migrations: Path,
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
    commands: Mapping[str, Callable[[Settings], Coroutine[Any, Any, None]]] | None = None,
) -> int:
    """`python -m services.<name>` serves until SIGINT/SIGTERM; `... migrate` applies the
    service's migrations to its database and exits; `... <command>` runs one of the
    service's own operator commands and exits."""
    settings = settings_type()
    configure_logging(name, settings.log_level)
    args = sys.argv[1:]
    commands = commands or {}
    if args == ["migrate"]:
        # Imported here: alembic (and its templates) is several MB a serving process
        # would carry for nothing.
        from services.kit.migrations import upgrade

        upgrade(migrations, settings.migration_database_url or settings.database_url)
        return 0
    if len(args) == 1 and args[0] in commands:
        uvloop.run(commands[args[0]](settings))
        return 0
    if args:
        usage = "|".join(["migrate", *commands])
        print(f"usage: python -m services.{name} [{usage}]; got {args}", file=sys.stderr)
        return 2
    try:
        # Missing key material is a deployment error: say so before connecting anywhere
        # (NATS would otherwise retry a refused connection for ever).
        ServiceTls.load(settings.trust)
        ContextVerifier.load(settings.trust)
        uvloop.run(serve(settings))
    except TrustNotConfigured as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    return 0
