"""The gRPC servicer: proto in, one transaction around the service call, proto out."""

from __future__ import annotations

import grpc
from tessera.workflows.v1 import workflows_pb2, workflows_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.json import dumps_exact
from services.workflows import service
from services.workflows.apps import AppResolver
from services.workflows.calls import WorkflowApi
from services.workflows.engine import StepEntry
from services.workflows.incoming import Hooks, IncomingDelivery, hook_path
from services.workflows.runs import StoredRun
from services.workflows.service import StoredWorkflow


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
        new_hook_secret=workflow.new_hook_secret or "",
        hook_path=hook_path(workflow.hook_ref, workflow.name) if workflow.hook_ref else "",
        hook_scheme=workflow.hook_scheme or "",
    )


def _json(value: object) -> bytes:
    return b"" if value is None else dumps_exact(value)


def run_reply(run: StoredRun) -> workflows_pb2.RunWorkflowResponse:
    return workflows_pb2.RunWorkflowResponse(
        run_id=run.id, state=run.state, result_json=_json(run.result), error=run.error or ""
    )


def step_to_proto(entry: StepEntry) -> workflows_pb2.StepLog:
    return workflows_pb2.StepLog(
        step_id=entry.step_id or "",
        place=entry.place,
        type=entry.type,
        attempt=entry.attempt,
        state=entry.state,
        input_json=_json(entry.input),
        output_json=_json(entry.output),
        error=entry.error or "",
        duration_ms=entry.duration_ms,
    )


def run_to_proto(
    run: StoredRun, steps: list[StepEntry] | None = None, workflow: str = ""
) -> workflows_pb2.Run:
    return workflows_pb2.Run(
        id=run.id,
        workflow_id=run.workflow_id,
        workflow=workflow,
        version=run.version,
        state=run.state,
        trigger=run.trigger,
        parameters_json=dumps_exact(run.parameters),
        result_json=_json(run.result),
        error=run.error or "",
        created_at=rfc3339(run.created_at),
        started_at=rfc3339(run.started_at) if run.started_at else "",
        finished_at=rfc3339(run.finished_at) if run.finished_at else "",
        replay_of=run.replay_of or "",
        steps=[step_to_proto(entry) for entry in steps or ()],
    )


class WorkflowsServicer(workflows_pb2_grpc.WorkflowsServiceServicer):
    def __init__(
        self, sessionmaker: SessionMaker, resolve_app: AppResolver, api: WorkflowApi, hooks: Hooks
    ) -> None:
        self.sessionmaker = sessionmaker
        self.resolve_app = resolve_app
        self.api = api
        self.hooks = hooks

    async def DeliverHook(
        self, request: workflows_pb2.DeliverHookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.RunWorkflowResponse:
        run = await self.hooks.deliver(
            IncomingDelivery(
                app_ref=request.app_public_id,
                name=request.name,
                headers=dict(request.headers),
                body=request.body,
                content_type=request.content_type,
            )
        )
        return run_reply(run)

    async def SetHookSecret(
        self, request: workflows_pb2.SetHookSecretRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Workflow:
        ref = request.workflow
        given = request.secret if request.HasField("secret") else None
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await service.new_hook_secret(
                session,
                request.ctx,
                self.resolve_app,
                ref.app_slug,
                ref.name,
                given,
                box=self.hooks.box,
                keep_previous_seconds=request.keep_previous_seconds,
            )
        return workflow_to_proto(stored)

    async def RunWorkflow(
        self, request: workflows_pb2.RunWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.RunWorkflowResponse:
        ref = request.workflow
        run = await self.api.run(
            request.ctx,
            ref.app_slug,
            ref.name,
            request.parameters_json,
            from_form=request.parameters_from_form,
            asynchronous=request.asynchronous,
        )
        return run_reply(run)

    async def ListRuns(
        self, request: workflows_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.ListRunsResponse:
        ref = request.workflow
        runs, next_cursor = await self.api.list_runs(
            request.ctx, ref.app_slug, ref.name, request.cursor, request.per_page
        )
        return workflows_pb2.ListRunsResponse(
            runs=[run_to_proto(run, workflow=ref.name) for run in runs], next_cursor=next_cursor
        )

    async def GetRun(
        self, request: workflows_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Run:
        ref = request.workflow
        found = await self.api.get_run(request.ctx, ref.app_slug, ref.name, request.run_id)
        return run_to_proto(found.run, found.steps, found.workflow_name)

    async def ReplayRun(
        self, request: workflows_pb2.ReplayRunRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.RunWorkflowResponse:
        ref = request.workflow
        run = await self.api.replay(request.ctx, ref.app_slug, ref.name, request.run_id)
        return run_reply(run)

    async def CreateWorkflow(
        self, request: workflows_pb2.CreateWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Workflow:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await service.create_workflow(
                session,
                request.ctx,
                self.resolve_app,
                request.app_slug,
                request.definition_json,
                box=self.hooks.box,
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
                box=self.hooks.box,
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
