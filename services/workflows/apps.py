"""Finding an app of the caller's workspace by its slug (or public id), asking the schema
service as this service: the caller, a builder, may read apps, but the answer is the same
for everyone, and a run's caller (an app end user) may not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.kit.grpc.client import call
from services.kit.tenancy import tenant_of

SERVICE_NAME = "workflows"
DEADLINE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class AppRef:
    id: str
    # Global and unguessable: how runs name the app to records, whatever its slug becomes.
    public_id: str


# The app for a slug (or public id) in the caller's workspace; AppNotFound otherwise.
AppResolver = Callable[[common_pb2.RequestContext, str], Awaitable[AppRef]]


class SchemaApps:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = schema_pb2_grpc.SchemaServiceStub(channel)

    async def app(self, ctx: common_pb2.RequestContext, app_slug: str) -> AppRef:
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
