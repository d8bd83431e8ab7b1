"""Finding an app of the caller's workspace by its slug (or public id), asking the schema
service as this service: the caller, a builder, may read apps, but the answer is the same
for everyone, and a run's caller (an app end user) may not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.kit.expiring import ExpiringCache
from services.kit.grpc.client import call
from services.kit.tenancy import tenant_of

SERVICE_NAME = "workflows"
DEADLINE_SECONDS = 5.0
# How long an app found is taken as it was, unless its change is heard first.
HOLD_SECONDS = 10.0
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class AppRef:
    id: str
    # Global and unguessable: how runs name the app to records, whatever its slug becomes.
    public_id: str


# The app for a slug (or public id) in the caller's workspace; AppNotFound otherwise.
AppResolver = Callable[[common_pb2.RequestContext, str], Awaitable[AppRef]]


class SchemaApps:
    """Apps held briefly (every run asks for its app), and dropped as soon as the schema
    service says one changed (services.workflows.app_changes): a renamed app's old slug
    stops working here when it does there."""

    def __init__(self, channel: grpc.aio.Channel, *, hold_seconds: float = HOLD_SECONDS) -> None:
        self._stub = schema_pb2_grpc.SchemaServiceStub(channel)
        self._held: ExpiringCache[tuple[str, str], AppRef] = ExpiringCache(CACHE_SIZE)
        self._hold_seconds = hold_seconds

    def forget(self, app_id: str) -> None:
        self._held.drop_where(lambda app: app.id == app_id)

    async def app(self, ctx: common_pb2.RequestContext, app_slug: str) -> AppRef:
        key = (tenant_of(ctx), app_slug)
        held = self._held.get(key)
        if held is not None:
            return held
        generation = self._held.generation
        found = await self._fetch(ctx, app_slug)
        self._held.put(key, found, seconds=self._hold_seconds, fetched_at=generation)
        return found

    async def _fetch(self, ctx: common_pb2.RequestContext, app_slug: str) -> AppRef:
        request = schema_pb2.GetAppRequest(
            ctx=common_pb2.RequestContext(
                tenant_id=tenant_of(ctx),
                principal_kind="service",
                principal_id=SERVICE_NAME,
                request_id=ctx.request_id,
            ),
            app_slug=app_slug,
        )
        reply: schema_pb2.App = await call(
            self._stub.GetApp, request, deadline_seconds=DEADLINE_SECONDS
        )
        return AppRef(reply.id, reply.public_id)
