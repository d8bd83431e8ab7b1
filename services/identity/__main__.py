"""Composition root. `python -m services.identity` serves gRPC; `python -m
services.identity migrate` applies the migrations and exits."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import grpc

from services.identity import passwords, service, tables
from services.identity.config import IdentitySettings
from services.identity.policy import POLICY
from services.identity.server import IdentityServicer, register
from services.kit.db import transaction
from services.kit.grpc.server import run_grpc_service
from services.kit.runtime import service_main, service_runtime

log = logging.getLogger("services.identity")


async def serve(settings: IdentitySettings) -> None:
    async with service_runtime("identity", settings, outbox=tables.outbox) as runtime:
        async with transaction(runtime.sessionmaker) as session:
            key = await service.ensure_signing_key(session)
        log.info("signing access tokens with key %s", key.kid)
        await asyncio.to_thread(passwords.warm_up)
        servicer = IdentityServicer(runtime.sessionmaker, settings)

        def add_servicer(server: grpc.aio.Server) -> None:
            register(server, servicer)

        await run_grpc_service(
            name="identity",
            policy=POLICY,
            address=settings.grpc_address,
            register=add_servicer,
            background=[runtime.relay.run],
            grace_seconds=settings.shutdown_grace_seconds,
        )


if __name__ == "__main__":
    sys.exit(
        service_main(
            "identity",
            IdentitySettings,
            migrations=Path(__file__).parent / "migrations",
            serve=serve,
        )
    )
