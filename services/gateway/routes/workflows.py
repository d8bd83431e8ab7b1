"""An app's workflows (builders and up): their definitions, every edit a new version."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from tessera.workflows.v1 import workflows_pb2

from services.gateway import presenters, queries, shapes
from services.gateway.bodies import expected_version, read_body
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import json_body, query_parameter, returns
from services.gateway.presenters import exact_json

router = APIRouter(prefix="/api/apps/{app_slug}/workflows", tags=["Workflows"])


def _ref(app_slug: str, name: str) -> workflows_pb2.WorkflowRef:
    return workflows_pb2.WorkflowRef(app_slug=app_slug, name=name)


def _workflow(reply: workflows_pb2.Workflow, status_code: int = 200) -> Response:
    """One workflow, its version as the ETag an edit sends back in If-Match."""
    response = exact_json(presenters.workflow(reply), status_code)
    response.headers["ETag"] = f'"{reply.version}"'
    return response


@router.get("", **returns(shapes.Workflows))
async def list_workflows(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    reply = await backends.call(
        backends.workflows.ListWorkflows,
        workflows_pb2.ListWorkflowsRequest(ctx=ctx, app_slug=app_slug),
    )
    return exact_json({"workflows": [presenters.workflow(w) for w in reply.workflows]})


@router.post(
    "",
    **returns(shapes.Workflow, status=201),
    openapi_extra=json_body(shapes.WorkflowDefinition),
)
async def create_workflow(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(
        backends.workflows.CreateWorkflow,
        workflows_pb2.CreateWorkflowRequest(
            ctx=ctx, app_slug=app_slug, definition_json=await read_body(request)
        ),
    )
    return _workflow(reply, 201)


@router.get(
    "/{name}",
    **returns(shapes.Workflow),
    openapi_extra=query_parameter(
        "version", "An earlier version (the current one by default)", schema={"type": "integer"}
    ),
)
async def get_workflow(
    app_slug: str, name: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    version = queries.integer(request.query_params.get("version"), "version")
    reply = await backends.call(
        backends.workflows.GetWorkflow,
        workflows_pb2.GetWorkflowRequest(ctx=ctx, workflow=_ref(app_slug, name), version=version),
    )
    return _workflow(reply)


@router.put(
    "/{name}", **returns(shapes.Workflow), openapi_extra=json_body(shapes.WorkflowDefinition)
)
async def update_workflow(
    app_slug: str, name: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Stores the body as the workflow's next version (If-Match: the version it edits)."""
    reply = await backends.call(
        backends.workflows.UpdateWorkflow,
        workflows_pb2.UpdateWorkflowRequest(
            ctx=ctx,
            workflow=_ref(app_slug, name),
            definition_json=await read_body(request),
            if_match=expected_version(request) or 0,
        ),
    )
    return _workflow(reply)


@router.delete("/{name}", status_code=204)
async def delete_workflow(
    app_slug: str, name: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    await backends.call(
        backends.workflows.DeleteWorkflow,
        workflows_pb2.DeleteWorkflowRequest(ctx=ctx, workflow=_ref(app_slug, name)),
    )
    return Response(status_code=204)
