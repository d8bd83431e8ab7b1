"""The workflows service's definitions, over gRPC as the gateway reaches it: checked whole,
stored as versions, named per app, for builders only, each change on the bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from tessera.common.v1 import common_pb2
from tessera.workflows.v1 import workflows_pb2, workflows_pb2_grpc

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app
from tests.factories.workflows import SIMPLE, member_ctx, workflows_stub
from tests.support.bus import BusReader, stream_messages

DEFINITION = SIMPLE


@pytest.fixture
def workflows(stack: Stack) -> Iterator[workflows_pb2_grpc.WorkflowsServiceStub]:
    with workflows_stub(stack) as stub:
        yield stub


def ctx(tenant: Tenant, role: str = "owner") -> common_pb2.RequestContext:
    return member_ctx(tenant, role)


def body(**changes: Any) -> bytes:
    return json.dumps({**DEFINITION, **changes}).encode()


def refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), error.value.details()


def test_a_definition_is_stored_as_versions(
    workflows: workflows_pb2_grpc.WorkflowsServiceStub, tenant: Tenant, bus: BusReader
) -> None:
    app = create_app(tenant)["slug"]
    created = workflows.CreateWorkflow(
        workflows_pb2.CreateWorkflowRequest(ctx=ctx(tenant), app_slug=app, definition_json=body())
    )
    assert created.version == 1
    assert created.id.startswith("wfl_")
    stored = json.loads(created.definition_json)
    # Stored as checked: defaults filled in.
    assert stored["steps"][0]["attempts"] == 3
    assert stored["timeout_seconds"] == 60

    ref = workflows_pb2.WorkflowRef(app_slug=app, name="new-lead")
    changed = workflows.UpdateWorkflow(
        workflows_pb2.UpdateWorkflowRequest(
            ctx=ctx(tenant), workflow=ref, definition_json=body(public=False), if_match=1
        )
    )
    assert changed.version == 2
    first = workflows.GetWorkflow(
        workflows_pb2.GetWorkflowRequest(ctx=ctx(tenant), workflow=ref, version=1)
    )
    assert json.loads(first.definition_json)["public"] is True
    current = workflows.GetWorkflow(workflows_pb2.GetWorkflowRequest(ctx=ctx(tenant), workflow=ref))
    assert json.loads(current.definition_json)["public"] is False
    # An edit made on version 1 while version 2 is stored would lose version 2's changes.
    code, _ = refused(
        lambda: workflows.UpdateWorkflow(
            workflows_pb2.UpdateWorkflowRequest(
                ctx=ctx(tenant), workflow=ref, definition_json=body(), if_match=1
            )
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    listed = workflows.ListWorkflows(
        workflows_pb2.ListWorkflowsRequest(ctx=ctx(tenant), app_slug=app)
    )
    assert [(w.name, w.version) for w in listed.workflows] == [("new-lead", 2)]

    workflows.DeleteWorkflow(workflows_pb2.DeleteWorkflowRequest(ctx=ctx(tenant), workflow=ref))
    code, _ = refused(
        lambda: workflows.GetWorkflow(
            workflows_pb2.GetWorkflowRequest(ctx=ctx(tenant), workflow=ref)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    published = stream_messages(
        bus, "WORKFLOWS", f"workflows.{tenant.workspace_id}.workflow.>", at_least=3
    )
    assert [message.body["type"] for message in published] == [
        "workflows.workflow.created",
        "workflows.workflow.updated",
        "workflows.workflow.deleted",
    ]
    assert {message.body["data"]["workflow_id"] for message in published} == {created.id}


def test_names_are_per_app_and_bad_definitions_change_nothing(
    workflows: workflows_pb2_grpc.WorkflowsServiceStub, tenant: Tenant
) -> None:
    app, other_app = create_app(tenant)["slug"], create_app(tenant)["slug"]
    for slug in (app, other_app):
        workflows.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(
                ctx=ctx(tenant), app_slug=slug, definition_json=body()
            )
        )
    code, _ = refused(
        lambda: workflows.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(
                ctx=ctx(tenant), app_slug=app, definition_json=body()
            )
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    bad = body(steps=[{"type": "set", "name": "x", "value": "1 +"}])
    code, details = refused(
        lambda: workflows.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(ctx=ctx(tenant), app_slug=app, definition_json=bad)
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "steps[0].value" in details
    code, _ = refused(
        lambda: workflows.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(
                ctx=ctx(tenant), app_slug="no-such-app", definition_json=body(name="x")
            )
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    listed = workflows.ListWorkflows(
        workflows_pb2.ListWorkflowsRequest(ctx=ctx(tenant), app_slug=app)
    )
    assert [w.name for w in listed.workflows] == ["new-lead"]


def test_only_builders_reach_definitions_and_only_in_their_workspace(
    workflows: workflows_pb2_grpc.WorkflowsServiceStub, tenant: Tenant, other_tenant: Tenant
) -> None:
    app = create_app(tenant)["slug"]
    code, _ = refused(
        lambda: workflows.CreateWorkflow(
            workflows_pb2.CreateWorkflowRequest(
                ctx=ctx(tenant, role="editor"), app_slug=app, definition_json=body()
            )
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    workflows.CreateWorkflow(
        workflows_pb2.CreateWorkflowRequest(ctx=ctx(tenant), app_slug=app, definition_json=body())
    )
    # Another workspace's owner naming this app: no such app in theirs.
    code, _ = refused(
        lambda: workflows.ListWorkflows(
            workflows_pb2.ListWorkflowsRequest(ctx=ctx(other_tenant), app_slug=app)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
