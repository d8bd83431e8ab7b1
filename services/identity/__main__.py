"""Composition root. `python -m services.identity` serves gRPC; `python -m
services.identity migrate` applies the migrations and exits; `python -m services.identity
rotate-signing-key` makes the next signing key current at once (tokens signed before stay
valid until they expire) and exits."""

from __future__ import annotations

import asyncio
import logging
import sys
from functools import partial
from pathlib import Path

import grpc

from services.identity import audit, passwords, service, tables
from services.identity.config import IdentitySettings
from services.identity.consumers import AuditRecorder, run_audit_recorder
from services.identity.policy import POLICY
from services.identity.server import IdentityServicer, register
from services.kit.db import (
    ALL_TENANTS,
    SessionMaker,
    create_engine,
    create_sessionmaker,
    transaction,
)
from services.kit.grpc.server import run_grpc_service
from services.kit.periodic import run_every
from services.kit.runtime import service_main, service_runtime

log = logging.getLogger("services.identity")


async def serve(settings: IdentitySettings) -> None:
    async with service_runtime("identity", settings, outbox=tables.outbox) as runtime:
        # Signing keys belong to no workspace: the transaction acts in none.
        async with transaction(runtime.sessionmaker) as session:
            key = await service.ensure_signing_key(session)
        log.info("signing access tokens with key %s", key.kid)
        await asyncio.to_thread(passwords.warm_up)
        servicer = IdentityServicer(runtime.sessionmaker, settings)

        def add_servicer(server: grpc.aio.Server) -> None:
            register(server, servicer)

        async def rotate_keys_when_due(stop: asyncio.Event) -> None:
            async def rotate() -> None:
                await _rotate(runtime.sessionmaker, settings, force=False)

            await run_every(
                settings.signing_key_check_seconds, rotate, stop, name="signing key rotation"
            )

        async def prune_audit_log(stop: asyncio.Event) -> None:
            async def prune() -> None:
                # Old entries go from every workspace's log.
                async with transaction(runtime.sessionmaker, tenant=ALL_TENANTS) as session:
                    await audit.prune(session, retention_days=settings.audit_retention_days)

            await run_every(settings.audit_prune_check_seconds, prune, stop, name="audit prune")

        await run_grpc_service(
            name="identity",
            policy=POLICY,
            address=settings.grpc_address,
            trust=settings.trust,
            health_address=settings.grpc_health_address,
            register=add_servicer,
            background=[
                runtime.relay.run,
                rotate_keys_when_due,
                partial(
                    run_audit_recorder,
                    runtime.js,
                    AuditRecorder(runtime.sessionmaker, settings.audit_consumer),
                ),
                prune_audit_log,
            ],
            grace_seconds=settings.shutdown_grace_seconds,
        )


async def rotate_signing_key(settings: IdentitySettings) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await _rotate(create_sessionmaker(engine), settings, force=True)
    finally:
        await engine.dispose()


async def _rotate(sessionmaker: SessionMaker, settings: IdentitySettings, *, force: bool) -> None:
    async with transaction(sessionmaker) as session:
        current = await service.rotate_signing_keys(session, settings=settings, force=force)
    log.info("signing access tokens with key %s", current.kid)


if __name__ == "__main__":
    sys.exit(
        service_main(
            "identity",
            IdentitySettings,
            migrations=Path(__file__).parent / "migrations",
            serve=serve,
            commands={"rotate-signing-key": rotate_signing_key},
        )
    )
