"""Workflows, made over gRPC as the gateway would (the REST routes come with the runs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tessera.common.v1 import common_pb2
from tessera.workflows.v1 import workflows_pb2, workflows_pb2_grpc

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.support.trust import gateway_channel

SIMPLE: dict[str, Any] = {
    "name": "new-lead",
    "public": True,
    "parameters": [{"name": "email", "type": "text", "required": True}],
    "steps": [
        {
            "id": "lead",
            "type": "create_record",
            "schema": "leads",
            "values": {"email": "params.email"},
        },
        {"type": "return", "value": {"lead": "steps.lead.id"}},
    ],
}


def member_ctx(tenant: Tenant, role: str = "owner") -> common_pb2.RequestContext:
    """What the gateway sends for a member of the tenant's workspace."""
    return common_pb2.RequestContext(
        tenant_id=tenant.workspace_id,
        principal_id=tenant.account_id,
        principal_kind="user",
        account_id=tenant.account_id,
        role=role,
    )


@contextmanager
def workflows_stub(stack: Stack) -> Iterator[workflows_pb2_grpc.WorkflowsServiceStub]:
    assert stack.pki is not None
    address = stack.processes["workflows"].grpc_address
    assert address is not None
    channel = gateway_channel(stack.pki, address, "workflows")
    try:
        yield workflows_pb2_grpc.WorkflowsServiceStub(channel)
    finally:
        channel.close()


def create_workflow(
    stack: Stack, tenant: Tenant, app_slug: str, definition: dict[str, Any] | None = None
) -> workflows_pb2.Workflow:
    with workflows_stub(stack) as stub:
        created: workflows_pb2.Workflow = stub.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(
                ctx=member_ctx(tenant),
                app_slug=app_slug,
                definition_json=json.dumps(definition or SIMPLE).encode(),
            )
        )
    return created
