"""Incoming webhooks: POST /hooks/{app's public id}/{workflow} starts a run of a workflow
that has a hook trigger. No credential: the delivery's signature, which the workflows
service checks with a secret the gateway never holds, admits it. Only the headers a
signature scheme reads are passed on, never cookies or Authorization."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from tessera.workflows.v1 import workflows_pb2

from services.gateway import shapes
from services.gateway.bodies import read_body
from services.gateway.deps import BackendsDep
from services.gateway.openapi import returns
from services.gateway.presenters import exact_json
from services.kit.errors import NotFound

router = APIRouter(tags=["Workflows"])

# What services.workflows.hooks reads, by scheme.
SIGNATURE_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "stripe-signature",
)
MAX_NAME = 100


def _name(value: str) -> str:
    # Nothing longer or stranger names an app or a workflow; no need to ask.
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise NotFound("Workflow not found")
    return value


@router.post(
    "/hooks/{app_public_id}/{name}",
    **returns(shapes.RunAccepted, status=202),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            },
        }
    },
)
async def deliver_hook(
    app_public_id: str, name: str, request: Request, backends: BackendsDep
) -> Response:
    """A delivery to the workflow's incoming webhook, signed as the hook's scheme says
    (Standard Webhooks, GitHub or Stripe; or none). The body's fields the workflow declares
    are its parameters; its steps read the whole body as `trigger.body` and `trigger.json`.
    Answers 202 with the run's id; the same delivery sent again is the same run."""
    headers = {
        header: request.headers[header] for header in SIGNATURE_HEADERS if header in request.headers
    }
    reply = await backends.call(
        backends.workflows.DeliverHook,
        workflows_pb2.DeliverHookRequest(
            app_public_id=_name(app_public_id),
            name=_name(name),
            headers=headers,
            body=await read_body(request),
            content_type=request.headers.get("content-type", ""),
            client_ip=request.client.host if request.client else "",
        ),
    )
    return exact_json(
        {"status": "accepted", "run_id": reply.run_id, "state": reply.state}, status_code=202
    )
