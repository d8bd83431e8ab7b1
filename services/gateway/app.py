"""The gateway application: create_app() wires settings, gRPC clients, the authenticator,
the NATS subscription and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from nats.aio.client import Client

from services.gateway.app_spec import AppDefinitions
from services.gateway.auth import Authenticator
from services.gateway.clients import Backends
from services.gateway.config import GatewaySettings
from services.gateway.errors import install_error_handlers
from services.gateway.events import definitions_invalidator, membership_invalidator
from services.gateway.hardening import SecurityHeaders
from services.gateway.limits import RateLimiter, RateLimits, SharedCounts, limiter_from
from services.gateway.realtime import Hub
from services.gateway.routes import (
    app_users,
    apps,
    audit_log,
    credentials,
    docs,
    health,
    hooks,
    keys,
    members,
    realtime,
    records,
    schemas,
    sessions,
    sso,
    transfer,
    trash,
    users,
    webhooks,
    workflows,
    workspace_users,
)
from services.gateway.routes import connectors as api_connector
from services.gateway.saml import SamlServiceProviders
from services.gateway.sso import OpenIdProviders
from services.kit.nats.connection import connect
from services.kit.nats.permissions import IDENTITY_CACHE_CHANGES, SCHEMA_CHANGES
from services.kit.outbound import OutboundClient

log = logging.getLogger(__name__)

CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-CSRFToken",
    "X-Workspace",
    "X-Api-Key",
    "Idempotency-Key",
    "If-Match",
    "X-Request-Id",
]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    limiter = limiter_from(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backends = Backends.connect(settings)
        authenticator = Authenticator(settings, backends)
        app.state.settings = settings
        app.state.backends = backends
        app.state.authenticator = authenticator
        app.state.app_definitions = AppDefinitions(backends)
        app.state.sso = OpenIdProviders(
            OutboundClient(total_seconds=settings.call_timeout_seconds),
            leeway_seconds=settings.sso_leeway_seconds,
            metadata_seconds=settings.sso_metadata_cache_seconds,
            keys_refresh_seconds=settings.sso_keys_refresh_seconds,
            retry_after_seconds=settings.sso_retry_after_seconds,
        )
        app.state.saml = SamlServiceProviders(leeway_seconds=settings.sso_leeway_seconds)
        app.state.nats = None
        hub = app.state.realtime = Hub(backends, app.state.app_definitions)
        # NATS may come up after the gateway; readiness reports it until then.
        subscriber = asyncio.create_task(_subscribe(app, settings, authenticator, limiter))
        beating = asyncio.create_task(_every(settings.realtime_heartbeat_seconds, hub.heartbeat))
        rechecking = asyncio.create_task(_every(settings.realtime_recheck_seconds, hub.recheck))
        try:
            yield
        finally:
            for task in (subscriber, beating, rechecking):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            nats: Client | None = app.state.nats
            if nats is not None:
                with contextlib.suppress(Exception):
                    await nats.drain()
            await backends.close()
            await app.state.sso.aclose()

    app = FastAPI(
        title="Tessera",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Tracing is set up by the service itself (services.kit.telemetry); FastAPI's own
        # would ask OpenTelemetry's global providers about it on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    # Inside CORS, so an allowed origin's page can read a 429 and the RateLimit fields.
    if limiter is not None:
        app.add_middleware(RateLimits, limiter=limiter)
    # Preflights are answered for the allow-list only; other origins get no CORS headers,
    # so a browser keeps their pages from reading any answer.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=["ETag", "Retry-After", "Location", "RateLimit", "RateLimit-Policy"],
        max_age=600,
    )
    app.add_middleware(SecurityHeaders)
    # Routes are tried in order, and most requests are for records: theirs come first.
    # transfer before records: its /records/import and /records/export are not record ids.
    for module in (
        transfer,
        records,
        health,
        keys,
        users,
        sessions,
        sso,
        members,
        workspace_users,
        credentials,
        apps,
        app_users,
        schemas,
        trash,
        audit_log,
        workflows,
        webhooks,
        api_connector,
        hooks,
        realtime,
        docs,
    ):
        app.include_router(module.router)
    return app


async def _subscribe(
    app: FastAPI,
    settings: GatewaySettings,
    authenticator: Authenticator,
    limiter: RateLimiter | None,
) -> None:
    while True:
        try:
            nats = await connect(
                settings.nats_url, name="gateway", identity=settings.nats_identity("gateway")
            )
            break
        except Exception:
            log.warning("NATS not reachable at %s; retrying", settings.nats_url)
            await asyncio.sleep(1.0)
    hub: Hub = app.state.realtime
    for subject in IDENTITY_CACHE_CHANGES:
        await nats.subscribe(subject, cb=membership_invalidator(authenticator, hub))
    for subject in SCHEMA_CHANGES:
        await nats.subscribe(subject, cb=definitions_invalidator(app.state.app_definitions))
    app.state.nats = nats
    # The realtime feed and the shared counts each keep going whatever the other does.
    feeding = asyncio.create_task(hub.run(nats.jetstream()))
    try:
        if limiter is not None:
            await SharedCounts(limiter, interval=settings.rate_limit_sync_seconds).run(nats)
        else:
            await feeding
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding


async def _every(seconds: float, work: Callable[[], object]) -> None:
    """`work` every `seconds` (awaited when it is a coroutine), never stopping for a
    failure: realtime's heartbeats, and its connections' credentials checked again (a
    revocation ends them at once; this catches an expiry)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            done = work()
            if asyncio.iscoroutine(done):
                await done
        except Exception:
            log.exception("realtime upkeep failed")
