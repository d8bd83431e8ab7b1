"""An app's workflows: their definitions (builders and up), every edit a new version; the
Workflow API that runs them (members, and for public workflows the app's end users and,
when chosen, anyone); their runs with each step's log, and replays."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import Field
from tessera.workflows.v1 import workflows_pb2

from services.gateway import presenters, queries, shapes
from services.gateway.bodies import (
    StrictInput,
    expected_version,
    json_of,
    media_type,
    parse,
    read_body,
)
from services.gateway.deps import AppContextDep, BackendsDep, ContextDep
from services.gateway.openapi import json_body, query_parameter, returns
from services.gateway.presenters import exact_json
from services.kit.errors import UnsupportedMediaType, ValidationFailed, WorkflowFailed
from services.kit.forms import FORM, form_fields
from services.kit.json import dumps_exact, loads_exact

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


class HookSecret(StrictInput):
    """The sender's own signing secret (Stripe makes one per endpoint); none: Tessera makes
    one. `keep_previous_seconds`: how long the old one keeps working too (0 by default, at
    most a week)."""

    secret: str | None = None
    keep_previous_seconds: int = Field(default=0, ge=0, lt=2**31)


@router.post(
    "/{name}/hook/secret",
    **returns(shapes.Workflow),
    openapi_extra=json_body(HookSecret, required=False),
)
async def new_hook_secret(
    app_slug: str, name: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """A new signing secret for the workflow's incoming webhook, shown once in `hook.secret`;
    the old one stops working at once, or after `keep_previous_seconds` (at most a week)
    while senders move over. With `{"secret": ...}`, the sender's own (Stripe makes one per
    endpoint)."""
    raw = await read_body(request)
    body = parse(HookSecret, json_of(raw)) if raw.strip() else HookSecret()
    reply = await backends.call(
        backends.workflows.SetHookSecret,
        workflows_pb2.SetHookSecretRequest(
            ctx=ctx,
            workflow=_ref(app_slug, name),
            secret=body.secret,
            keep_previous_seconds=body.keep_previous_seconds,
        ),
    )
    return _workflow(reply)


async def _parameters(request: Request) -> tuple[bytes, bool]:
    """The body as the run's parameters: JSON as sent, or form fields as name to values."""
    kind = media_type(request)
    body = await read_body(request)
    if kind == FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("Form body is not valid UTF-8") from None
        return dumps_exact(form_fields(text)), True
    if kind in ("", "application/json") or kind.endswith("+json"):
        return body, False
    raise UnsupportedMediaType(f"Unsupported media type '{kind}'; send JSON or a form")


def _run_answer(reply: workflows_pb2.RunWorkflowResponse) -> Response:
    """200 with what the run returned; 202 while it goes on; a failed run is an error."""
    if reply.state == "succeeded":
        result = loads_exact(reply.result_json) if reply.result_json else {}
        return exact_json({"status": "success", "response": result, "run_id": reply.run_id})
    if reply.state == "failed":
        place, _, message = reply.error.partition(": ")
        raise WorkflowFailed(
            f"The run failed: {reply.error}",
            field=place if message else None,
            details=[{"run_id": reply.run_id}],
        )
    return exact_json(
        {"status": "accepted", "run_id": reply.run_id, "state": reply.state}, status_code=202
    )


@router.post(
    "/{name}/run",
    **returns(shapes.RunResult, accepted=shapes.RunAccepted, fails_with=(422,)),
    openapi_extra={
        **json_body(shapes.RunParameters, form=True),
        **query_parameter(
            "async",
            "true: answer 202 with the run's id at once instead of waiting for its result",
            schema={"type": "boolean"},
        ),
    },
)
async def run_workflow(
    app_slug: str, name: str, request: Request, ctx: AppContextDep, backends: BackendsDep
) -> Response:
    """Runs the workflow as the caller with the body as its parameters. Answers what its
    return step gave once it finished within the API's time budget, else 202 and the run's
    id; `Idempotency-Key` makes a retry return the first run."""
    asynchronous = queries.boolean(request.query_params.get("async"), "async", default=False)
    parameters, from_form = await _parameters(request)
    reply = await backends.call(
        backends.workflows.RunWorkflow,
        workflows_pb2.RunWorkflowRequest(
            ctx=ctx,
            workflow=_ref(app_slug, name),
            parameters_json=parameters,
            parameters_from_form=from_form,
            asynchronous=asynchronous,
        ),
    )
    return _run_answer(reply)


@router.get(
    "/{name}/runs",
    **returns(shapes.Runs),
    openapi_extra={
        "parameters": [
            *query_parameter("cursor", "The next_cursor of the previous page")["parameters"],
            *query_parameter(
                "per_page", "Runs per page (20 by default, at most 100)", schema={"type": "integer"}
            )["parameters"],
        ]
    },
)
async def list_runs(
    app_slug: str, name: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """The workflow's runs, newest first, without their steps."""
    reply = await backends.call(
        backends.workflows.ListRuns,
        workflows_pb2.ListRunsRequest(
            ctx=ctx,
            workflow=_ref(app_slug, name),
            cursor=queries.text(request.query_params.get("cursor"), "cursor", 100),
            per_page=queries.integer(request.query_params.get("per_page"), "per_page"),
        ),
    )
    return exact_json(
        {
            "runs": [presenters.run(run) for run in reply.runs],
            "next_cursor": reply.next_cursor or None,
        }
    )


@router.get("/{name}/runs/{run_id}", **returns(shapes.Run))
async def get_run(
    app_slug: str, name: str, run_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """A run with each attempt at each of its steps: input, output, error and duration."""
    reply = await backends.call(
        backends.workflows.GetRun,
        workflows_pb2.GetRunRequest(ctx=ctx, workflow=_ref(app_slug, name), run_id=run_id),
    )
    return exact_json(presenters.run(reply, with_steps=True))


@router.post(
    "/{name}/runs/{run_id}/replay",
    **returns(shapes.RunResult, accepted=shapes.RunAccepted, fails_with=(422,)),
)
async def replay_run(
    app_slug: str, name: str, run_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Runs the same version again with the same parameters, as the same caller: a new run
    whose `replay_of` names this one."""
    reply = await backends.call(
        backends.workflows.ReplayRun,
        workflows_pb2.ReplayRunRequest(ctx=ctx, workflow=_ref(app_slug, name), run_id=run_id),
    )
    return _run_answer(reply)
