"""Composition root. `python -m services.identity` serves gRPC; `python -m
services.identity migrate` applies the migrations and exits; `python -m services.identity
rotate-signing-key` makes the next signing key current at once (tokens signed before stay
valid until they expire) and exits; `python -m services.identity rotate-secret-key`
reseals every stored secret with the first key of TESSERA_SECRET_KEY and exits."""

from __future__ import annotations

import asyncio
import logging
import sys
from functools import partial
from pathlib import Path

import grpc

from services.identity import audit, passwords, service, sso, tables, throttling
from services.identity.config import IdentitySettings
from services.identity.consumers import AuditRecorder, run_audit_recorder
from services.identity.errors import StoredSecretsUnreadable
from services.identity.policy import POLICY
from services.identity.secrets_at_rest import check_stored_secrets, reseal_stored_secrets
from services.identity.server import IdentityServicer, register
from services.identity.throttling import ThrottlePolicy
from services.kit.clock import utcnow
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
from services.kit.secrets import SecretBox, SecretKeyError, secret_box

log = logging.getLogger("services.identity")


def _secret_box(settings: IdentitySettings) -> SecretBox:
    """Refuses to go on, saying why, without a usable key-encryption key."""
    try:
        return secret_box(settings.secret_key, needed_for="identity seals its signing keys with it")
    except SecretKeyError as error:
        raise SystemExit(f"identity cannot start: {error}") from None


async def serve(settings: IdentitySettings) -> None:
    box = _secret_box(settings)
    passwords.bound_hashing(
        concurrency=settings.password_hashing_concurrency,
        waiting=settings.password_hashing_waiting,
    )
    async with service_runtime("identity", settings, outbox=tables.outbox) as runtime:
        # Signing keys belong to no workspace; client secrets to every one.
        try:
            async with transaction(runtime.sessionmaker, tenant=ALL_TENANTS) as session:
                await check_stored_secrets(session, box)
        except StoredSecretsUnreadable as error:
            raise SystemExit(f"identity cannot start: {error}") from None
        async with transaction(runtime.sessionmaker) as session:
            key = await service.ensure_signing_key(session, box)
        log.info(
            "signing access tokens with key %s; sealing secrets with key %s",
            key.kid,
            box.sealing_key_id,
        )
        await asyncio.to_thread(passwords.warm_up)
        servicer = IdentityServicer(runtime.sessionmaker, settings, box)

        def add_servicer(server: grpc.aio.Server) -> None:
            register(server, servicer)

        async def rotate_keys_when_due(stop: asyncio.Event) -> None:
            async def rotate() -> None:
                await _rotate(runtime.sessionmaker, settings, box, force=False)

            await run_every(
                settings.signing_key_check_seconds, rotate, stop, name="signing key rotation"
            )

        async def prune_audit_log(stop: asyncio.Event) -> None:
            async def prune() -> None:
                # Old entries go from every workspace's log.
                async with transaction(runtime.sessionmaker, tenant=ALL_TENANTS) as session:
                    await audit.prune(session, retention_days=settings.audit_retention_days)

            await run_every(settings.audit_prune_check_seconds, prune, stop, name="audit prune")

        async def prune_login_throttles(stop: asyncio.Event) -> None:
            policy = ThrottlePolicy.from_settings(settings)

            async def prune() -> None:
                async with transaction(runtime.sessionmaker) as session:
                    await throttling.prune(session, policy, utcnow())
                # Single sign-on logins never called back, and spent logout tokens.
                async with transaction(runtime.sessionmaker, tenant=ALL_TENANTS) as session:
                    await sso.purge_expired(session, utcnow())

            await run_every(
                settings.login_throttle_prune_seconds, prune, stop, name="login throttle pruning"
            )

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
                prune_login_throttles,
            ],
            grace_seconds=settings.shutdown_grace_seconds,
        )


async def rotate_signing_key(settings: IdentitySettings) -> None:
    box = _secret_box(settings)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await _rotate(create_sessionmaker(engine), settings, box, force=True)
    finally:
        await engine.dispose()


async def rotate_secret_key(settings: IdentitySettings) -> None:
    """Run after every replica has been restarted with the new key listed first and the
    old one after it; afterwards the old key can be dropped."""
    box = _secret_box(settings)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine), tenant=ALL_TENANTS) as session:
            resealed = await reseal_stored_secrets(session, box)
    except StoredSecretsUnreadable as error:
        raise SystemExit(f"nothing was resealed: {error}") from None
    finally:
        await engine.dispose()
    log.info("resealed %d stored secret(s) with key %s", resealed, box.sealing_key_id)


async def _rotate(
    sessionmaker: SessionMaker, settings: IdentitySettings, box: SecretBox, *, force: bool
) -> None:
    async with transaction(sessionmaker) as session:
        current = await service.rotate_signing_keys(
            session, settings=settings, box=box, force=force
        )
    log.info("signing access tokens with key %s", current.kid)


if __name__ == "__main__":
    sys.exit(
        service_main(
            "identity",
            IdentitySettings,
            migrations=Path(__file__).parent / "migrations",
            serve=serve,
            commands={
                "rotate-signing-key": rotate_signing_key,
                "rotate-secret-key": rotate_secret_key,
            },
        )
    )
