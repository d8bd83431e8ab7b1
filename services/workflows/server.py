"""The gRPC servicer: proto in, one transaction around the service call, proto out."""

from __future__ import annotations

import grpc
from tessera.workflows.v1 import workflows_pb2, workflows_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.json import dumps_exact
from services.workflows import service
from services.workflows.service import AppResolver, StoredWorkflow


def workflow_to_proto(workflow: StoredWorkflow) -> workflows_pb2.Workflow:
    return workflows_pb2.Workflow(
        id=workflow.id,
        app_id=workflow.app_id,
        name=workflow.name,
        version=workflow.version,
        definition_json=dumps_exact(workflow.definition),
        triggers_json=b"[]",
        created_at=rfc3339(workflow.created_at),
        updated_at=rfc3339(workflow.updated_at),
    )


class WorkflowsServicer(workflows_pb2_grpc.WorkflowsServiceServicer):
    def __init__(self, sessionmaker: SessionMaker, resolve_app: AppResolver) -> None:
        self.sessionmaker = sessionmaker
        self.resolve_app = resolve_app

    async def CreateWorkflow(
        self, request: workflows_pb2.CreateWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Workflow:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await service.create_workflow(
                session, request.ctx, self.resolve_app, request.app_slug, request.definition_json
            )
        return workflow_to_proto(stored)

    async def ListWorkflows(
        self, request: workflows_pb2.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.ListWorkflowsResponse:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await service.list_workflows(
                session, request.ctx, self.resolve_app, request.app_slug
            )
        return workflows_pb2.ListWorkflowsResponse(workflows=[workflow_to_proto(w) for w in found])

    async def GetWorkflow(
        self, request: workflows_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Workflow:
        ref = request.workflow
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await service.get_workflow(
                session, request.ctx, self.resolve_app, ref.app_slug, ref.name, request.version
            )
        return workflow_to_proto(stored)

    async def UpdateWorkflow(
        self, request: workflows_pb2.UpdateWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Workflow:
        ref = request.workflow
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await service.update_workflow(
                session,
                request.ctx,
                self.resolve_app,
                ref.app_slug,
                ref.name,
                request.definition_json,
                if_match=request.if_match,
            )
        return workflow_to_proto(stored)

    async def DeleteWorkflow(
        self, request: workflows_pb2.DeleteWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.DeleteWorkflowResponse:
        ref = request.workflow
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await service.delete_workflow(
                session, request.ctx, self.resolve_app, ref.app_slug, ref.name
            )
        return workflows_pb2.DeleteWorkflowResponse()
