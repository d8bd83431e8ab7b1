"""The gateway's gRPC clients: one mutual-TLS channel per backing service, every call with
the configured deadline and its context signed with the gateway's key, failures rebuilt as
DomainErrors at this edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2_grpc
from tessera.records.v1 import records_pb2_grpc
from tessera.schema.v1 import schema_pb2_grpc
from tessera.workflows.v1 import workflows_pb2_grpc

from services.gateway.config import GatewaySettings
from services.kit.access import Kind
from services.kit.grpc.client import call, create_channel
from services.kit.grpc.trust import GATEWAY, ContextSigner

Response = TypeVar("Response")


def as_gateway(tenant_id: str) -> common_pb2.RequestContext:
    """The gateway asking a service for itself, in a workspace: for what it shows callers
    only their part of (the API documents), or judges for them (realtime)."""
    return common_pb2.RequestContext(
        tenant_id=tenant_id, principal_kind=Kind.SERVICE, principal_id=GATEWAY
    )


@dataclass
class Backends:
    identity: identity_pb2_grpc.IdentityServiceStub
    schema: schema_pb2_grpc.SchemaServiceStub
    records: records_pb2_grpc.RecordsServiceStub
    workflows: workflows_pb2_grpc.WorkflowsServiceStub
    channels: dict[str, grpc.aio.Channel]
    timeout: float
    # Signs every unary call's context on the channels; an upload's caller uses it directly.
    signer: ContextSigner

    @classmethod
    def connect(cls, settings: GatewaySettings) -> Backends:
        signer = ContextSigner.load(settings.trust)
        addresses = {
            "identity": settings.identity_addr,
            "schema": settings.schema_addr,
            "records": settings.records_addr,
            "workflows": settings.workflows_addr,
        }
        channels = {
            name: create_channel(address, service=name, trust=settings.trust, signer=signer)
            for name, address in addresses.items()
        }
        return cls(
            identity=identity_pb2_grpc.IdentityServiceStub(channels["identity"]),
            schema=schema_pb2_grpc.SchemaServiceStub(channels["schema"]),
            records=records_pb2_grpc.RecordsServiceStub(channels["records"]),
            workflows=workflows_pb2_grpc.WorkflowsServiceStub(channels["workflows"]),
            channels=channels,
            timeout=settings.call_timeout_seconds,
            signer=signer,
        )

    async def call(self, method: Any, request: Any) -> Any:
        return await call(method, request, deadline_seconds=self.timeout)

    async def serving(self) -> dict[str, bool]:
        """gRPC health of every backing service."""
        result = {}
        for name, channel in self.channels.items():
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                result[name] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.aio.AioRpcError:
                result[name] = False
        return result

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
