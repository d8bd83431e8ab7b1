"""Composition root. `python -m services.workflows` serves gRPC until SIGTERM;
`python -m services.workflows migrate` applies the migrations and exits."""

from __future__ import annotations

import sys
from pathlib import Path

from tessera.workflows.v1 import workflows_pb2_grpc

from services.kit.grpc.client import create_channel
from services.kit.grpc.server import HandlerRegistry, run_grpc_service
from services.kit.runtime import service_main, service_runtime
from services.workflows import tables
from services.workflows.apps import SchemaApps
from services.workflows.config import WorkflowsSettings
from services.workflows.policy import POLICY
from services.workflows.server import WorkflowsServicer


async def serve(settings: WorkflowsSettings) -> None:
    if not settings.schema_addr:
        raise SystemExit("WORKFLOWS_SCHEMA_ADDR is required to serve")
    async with service_runtime("workflows", settings, outbox=tables.outbox) as runtime:
        schema = create_channel(settings.schema_addr, service="schema", trust=settings.trust)
        servicer = WorkflowsServicer(runtime.sessionmaker, SchemaApps(schema).app_id)

        def register(server: HandlerRegistry) -> None:
            workflows_pb2_grpc.add_WorkflowsServiceServicer_to_server(servicer, server)

        try:
            await run_grpc_service(
                name="workflows",
                policy=POLICY,
                address=settings.grpc_address,
                trust=settings.trust,
                health_address=settings.grpc_health_address,
                register=register,
                background=[runtime.relay.run],
                grace_seconds=settings.shutdown_grace_seconds,
            )
        finally:
            await schema.close()


if __name__ == "__main__":
    sys.exit(
        service_main(
            "workflows",
            WorkflowsSettings,
            migrations=Path(__file__).parent / "migrations",
            serve=serve,
        )
    )
