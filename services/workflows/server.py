"""The gRPC servicer: proto in, one transaction around the service call, proto out."""

from __future__ import annotations

from datetime import datetime

import grpc
from tessera.workflows.v1 import workflows_pb2, workflows_pb2_grpc

from services.kit.clock import rfc3339
from services.kit.db import SessionMaker, transaction
from services.kit.json import dumps_exact
from services.kit.outbound import OutboundClient
from services.workflows import service, webhooks
from services.workflows.apps import AppResolver
from services.workflows.calls import WorkflowApi
from services.workflows.connector_api import ConnectorApi
from services.workflows.deliveries import Deliverer
from services.workflows.engine import StepEntry
from services.workflows.incoming import Hooks, IncomingDelivery, hook_path
from services.workflows.runs import StoredRun
from services.workflows.service import StoredWorkflow
from services.workflows.webhooks import StoredDelivery, StoredWebhook


def _time(value: datetime | None) -> str:
    return rfc3339(value) if value is not None else ""


def webhook_to_proto(webhook: StoredWebhook) -> workflows_pb2.Webhook:
    return workflows_pb2.Webhook(
        id=webhook.id,
        app_id=webhook.app_id,
        url=webhook.url,
        description=webhook.description,
        events=webhook.events,
        schemas=webhook.schemas,
        fields=webhook.fields,
        active=webhook.active,
        disabled_reason=webhook.disabled_reason or "",
        disabled_at=_time(webhook.disabled_at),
        failed_in_a_row=webhook.failed_in_a_row,
        secret_set_at=_time(webhook.secret_set_at),
        previous_secret_until=_time(webhook.previous_until),
        created_at=_time(webhook.created_at),
        updated_at=_time(webhook.updated_at),
        new_secret=webhook.new_secret or "",
    )


def delivery_to_proto(delivery: StoredDelivery) -> workflows_pb2.WebhookDelivery:
    return workflows_pb2.WebhookDelivery(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=_time(delivery.next_attempt_at) if delivery.state == "pending" else "",
        last_status=delivery.last_status or 0,
        last_error=delivery.last_error or "",
        created_at=_time(delivery.created_at),
        finished_at=_time(delivery.finished_at),
        payload_json=delivery.payload or b"",
        attempt_log=[
            workflows_pb2.WebhookAttempt(
                attempt=each.attempt,
                at=_time(each.at),
                request_headers=each.request_headers,
                response_status=each.response_status or 0,
                response_body=each.response_body or "",
                error=each.error or "",
                latency_ms=each.latency_ms,
            )
            for each in delivery.attempt_log
        ],
    )


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


def _document(value: object = None) -> workflows_pb2.JsonDocument:
    return workflows_pb2.JsonDocument(json=b"" if value is None else dumps_exact(value))


class WorkflowsServicer(workflows_pb2_grpc.WorkflowsServiceServicer):
    def __init__(
        self,
        sessionmaker: SessionMaker,
        resolve_app: AppResolver,
        api: WorkflowApi,
        hooks: Hooks,
        deliverer: Deliverer,
        connectors: ConnectorApi,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.resolve_app = resolve_app
        self.api = api
        self.hooks = hooks
        self.deliverer = deliverer
        self.connectors = connectors

    @property
    def _outbound(self) -> OutboundClient:
        return self.deliverer.client

    async def CreateWebhook(
        self, request: workflows_pb2.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Webhook:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await webhooks.create_webhook(
                session,
                request.ctx,
                app.id,
                app.public_id,
                request.body_json,
                box=self.hooks.box,
                outbound=self._outbound,
            )
        return webhook_to_proto(stored)

    async def ListWebhooks(
        self, request: workflows_pb2.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.ListWebhooksResponse:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await webhooks.list_webhooks(session, request.ctx.tenant_id, app.id)
        return workflows_pb2.ListWebhooksResponse(webhooks=[webhook_to_proto(w) for w in found])

    async def GetWebhook(
        self, request: workflows_pb2.WebhookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Webhook:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await webhooks.find(session, request.ctx.tenant_id, app.id, request.webhook_id)
        return webhook_to_proto(found)

    async def UpdateWebhook(
        self, request: workflows_pb2.UpdateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Webhook:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await webhooks.update_webhook(
                session,
                request.ctx.tenant_id,
                app.id,
                request.webhook_id,
                request.body_json,
                outbound=self._outbound,
            )
        return webhook_to_proto(stored)

    async def DeleteWebhook(
        self, request: workflows_pb2.WebhookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.DeleteWebhookResponse:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await webhooks.delete_webhook(
                session, request.ctx.tenant_id, app.id, request.webhook_id
            )
        return workflows_pb2.DeleteWebhookResponse()

    async def NewWebhookSecret(
        self, request: workflows_pb2.NewWebhookSecretRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.Webhook:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            stored = await webhooks.new_webhook_secret(
                session,
                request.ctx.tenant_id,
                app.id,
                request.webhook_id,
                box=self.hooks.box,
                keep_previous_seconds=request.keep_previous_seconds,
            )
        return webhook_to_proto(stored)

    async def ListWebhookDeliveries(
        self,
        request: workflows_pb2.ListWebhookDeliveriesRequest,
        context: grpc.aio.ServicerContext,
    ) -> workflows_pb2.ListWebhookDeliveriesResponse:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found, next_cursor = await webhooks.list_deliveries(
                session,
                request.ctx.tenant_id,
                app.id,
                request.webhook_id,
                cursor=request.cursor,
                per_page=request.per_page,
                state=request.state,
            )
        return workflows_pb2.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(each) for each in found], next_cursor=next_cursor
        )

    async def _delivery(
        self, request: workflows_pb2.WebhookDeliveryRequest, app_id: str, delivery_id: str
    ) -> workflows_pb2.WebhookDelivery:
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            found = await webhooks.get_delivery(
                session, request.ctx.tenant_id, app_id, request.webhook_id, delivery_id
            )
        return delivery_to_proto(found)

    async def GetWebhookDelivery(
        self, request: workflows_pb2.WebhookDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.WebhookDelivery:
        app = await self.resolve_app(request.ctx, request.app_slug)
        return await self._delivery(request, app.id, request.delivery_id)

    async def ReplayWebhookDelivery(
        self, request: workflows_pb2.WebhookDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.WebhookDelivery:
        app = await self.resolve_app(request.ctx, request.app_slug)
        async with transaction(self.sessionmaker, tenant=request.ctx.tenant_id) as session:
            await webhooks.replay_delivery(
                session,
                request.ctx.tenant_id,
                app.id,
                request.webhook_id,
                request.delivery_id,
                self.deliverer.settings,
            )
        self.deliverer.wake()
        return await self._delivery(request, app.id, request.delivery_id)

    async def PingWebhook(
        self, request: workflows_pb2.WebhookRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.WebhookDelivery:
        app = await self.resolve_app(request.ctx, request.app_slug)
        tenant = request.ctx.tenant_id
        async with transaction(self.sessionmaker, tenant=tenant) as session:
            webhook = await webhooks.find(session, tenant, app.id, request.webhook_id)
            delivery_id = await webhooks.new_ping(
                session, tenant, app.id, webhook, self.deliverer.lease()
            )
        await self.deliverer.attempt(delivery_id)
        asked = workflows_pb2.WebhookDeliveryRequest(
            ctx=request.ctx, app_slug=request.app_slug, webhook_id=request.webhook_id
        )
        return await self._delivery(asked, app.id, delivery_id)

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

    # --- the API connector and saved queries -----------------------------------------

    async def CreateConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.create(request.ctx, request.app_slug, request.body_json)
        )

    async def ListConnectors(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(await self.connectors.list(request.ctx, request.app_slug))

    async def GetConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.get(request.ctx, request.app_slug, request.connector_id)
        )

    async def UpdateConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.update(
                request.ctx, request.app_slug, request.connector_id, request.body_json
            )
        )

    async def DeleteConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        await self.connectors.delete(request.ctx, request.app_slug, request.connector_id)
        return _document()

    async def InitializeCall(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.initialize(
                request.ctx,
                request.app_slug,
                request.connector_id,
                request.call,
                request.body_json,
            )
        )

    async def RunCall(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.run_call(
                request.ctx,
                request.app_slug,
                request.connector_id,
                request.call,
                request.body_json,
            )
        )

    async def CreateQuery(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.create_query(request.ctx, request.app_slug, request.body_json)
        )

    async def ListQueries(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(await self.connectors.list_queries(request.ctx, request.app_slug))

    async def GetQuery(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.get_query(request.ctx, request.app_slug, request.name)
        )

    async def UpdateQuery(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.update_query(
                request.ctx, request.app_slug, request.name, request.body_json
            )
        )

    async def DeleteQuery(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        await self.connectors.delete_query(request.ctx, request.app_slug, request.name)
        return _document()

    async def ExecuteQuery(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.execute(
                request.ctx, request.app_slug, request.name, request.body_json
            )
        )

    async def DescribeQueries(
        self, request: workflows_pb2.QueryRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(await self.connectors.describe_queries(request.ctx, request.app_slug))

    async def AuthorizeConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(
            await self.connectors.authorize(
                request.ctx, request.app_slug, request.connector_id, request.body_json
            )
        )

    async def DisconnectConnector(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        await self.connectors.disconnect(request.ctx, request.app_slug, request.connector_id)
        return _document()

    async def CompleteConnectorAuthorization(
        self, request: workflows_pb2.ConnectorRequest, context: grpc.aio.ServicerContext
    ) -> workflows_pb2.JsonDocument:
        return _document(await self.connectors.complete_authorization(request.body_json))
