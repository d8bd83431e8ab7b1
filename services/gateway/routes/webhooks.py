"""An app's outgoing webhooks (builders and up): endpoints sent the app's record and schema
events, signed the Standard Webhooks way, retried with growing delays and turned off after
repeated failure; each delivery and attempt kept, replayable, and a test ping."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import Field
from tessera.workflows.v1 import workflows_pb2

from services.gateway import presenters, queries, shapes
from services.gateway.bodies import StrictInput, json_of, parse, read_body
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import json_body, query_parameter, returns
from services.gateway.presenters import exact_json

router = APIRouter(prefix="/api/apps/{app_slug}/webhooks", tags=["Webhooks"])


def _webhook(reply: workflows_pb2.Webhook, status_code: int = 200) -> Response:
    return exact_json(presenters.webhook(reply), status_code)


def _delivery(reply: workflows_pb2.WebhookDelivery, status_code: int = 200) -> Response:
    return exact_json(presenters.webhook_delivery(reply, whole=True), status_code)


@router.get("", **returns(shapes.Webhooks))
async def list_webhooks(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> Response:
    reply = await backends.call(
        backends.workflows.ListWebhooks,
        workflows_pb2.ListWebhooksRequest(ctx=ctx, app_slug=app_slug),
    )
    return exact_json({"webhooks": [presenters.webhook(each) for each in reply.webhooks]})


@router.post(
    "", **returns(shapes.Webhook, status=201), openapi_extra=json_body(shapes.WebhookInput)
)
async def create_webhook(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """A new webhook; its signing secret is in this answer only (`secret`)."""
    reply = await backends.call(
        backends.workflows.CreateWebhook,
        workflows_pb2.CreateWebhookRequest(
            ctx=ctx, app_slug=app_slug, body_json=await read_body(request)
        ),
    )
    return _webhook(reply, 201)


def _ref(ctx: ContextDep, app_slug: str, webhook_id: str) -> workflows_pb2.WebhookRequest:
    return workflows_pb2.WebhookRequest(ctx=ctx, app_slug=app_slug, webhook_id=webhook_id)


@router.get("/{webhook_id}", **returns(shapes.Webhook))
async def get_webhook(
    app_slug: str, webhook_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    reply = await backends.call(backends.workflows.GetWebhook, _ref(ctx, app_slug, webhook_id))
    return _webhook(reply)


@router.patch(
    "/{webhook_id}", **returns(shapes.Webhook), openapi_extra=json_body(shapes.WebhookInput)
)
async def update_webhook(
    app_slug: str, webhook_id: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Changes the fields sent; `"active": true` turns a webhook Tessera disabled back on."""
    reply = await backends.call(
        backends.workflows.UpdateWebhook,
        workflows_pb2.UpdateWebhookRequest(
            ctx=ctx, app_slug=app_slug, webhook_id=webhook_id, body_json=await read_body(request)
        ),
    )
    return _webhook(reply)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(
    app_slug: str, webhook_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    await backends.call(backends.workflows.DeleteWebhook, _ref(ctx, app_slug, webhook_id))
    return Response(status_code=204)


class WebhookSecret(StrictInput):
    """`keep_previous_seconds`: how long the old secret signs too (0 by default, at most a
    week), while the receiver moves over."""

    keep_previous_seconds: int = Field(default=0, ge=0, lt=2**31)


@router.post(
    "/{webhook_id}/secret",
    **returns(shapes.Webhook),
    openapi_extra=json_body(WebhookSecret, required=False),
)
async def new_webhook_secret(
    app_slug: str, webhook_id: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """A new signing secret, in this answer only (`secret`). Deliveries carry a signature
    with each secret while the old one overlaps."""
    raw = await read_body(request)
    body = parse(WebhookSecret, json_of(raw)) if raw.strip() else WebhookSecret()
    reply = await backends.call(
        backends.workflows.NewWebhookSecret,
        workflows_pb2.NewWebhookSecretRequest(
            ctx=ctx,
            app_slug=app_slug,
            webhook_id=webhook_id,
            keep_previous_seconds=body.keep_previous_seconds,
        ),
    )
    return _webhook(reply)


@router.post("/{webhook_id}/ping", **returns(shapes.WebhookDelivery))
async def ping_webhook(
    app_slug: str, webhook_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Sends a `webhook.ping` now, once, signed like any delivery, and answers how it went
    (a ping is never retried and never counts toward turning the webhook off)."""
    reply = await backends.call(backends.workflows.PingWebhook, _ref(ctx, app_slug, webhook_id))
    return _delivery(reply)


@router.get(
    "/{webhook_id}/deliveries",
    **returns(shapes.WebhookDeliveries),
    openapi_extra={
        "parameters": [
            *query_parameter("cursor", "The next_cursor of the previous page")["parameters"],
            *query_parameter(
                "per_page",
                "Deliveries per page (20 by default, at most 100)",
                schema={"type": "integer"},
            )["parameters"],
            *query_parameter(
                "state",
                "Only deliveries in this state",
                schema={"type": "string", "enum": ["pending", "succeeded", "failed"]},
            )["parameters"],
        ]
    },
)
async def list_deliveries(
    app_slug: str, webhook_id: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """The webhook's deliveries, newest first, without their payloads and attempts."""
    reply = await backends.call(
        backends.workflows.ListWebhookDeliveries,
        workflows_pb2.ListWebhookDeliveriesRequest(
            ctx=ctx,
            app_slug=app_slug,
            webhook_id=webhook_id,
            cursor=queries.text(request.query_params.get("cursor"), "cursor", 100),
            per_page=queries.integer(request.query_params.get("per_page"), "per_page"),
            state=queries.text(request.query_params.get("state"), "state", 20),
        ),
    )
    return exact_json(
        {
            "deliveries": [presenters.webhook_delivery(each) for each in reply.deliveries],
            "next_cursor": reply.next_cursor or None,
        }
    )


def _delivery_ref(
    ctx: ContextDep, app_slug: str, webhook_id: str, delivery_id: str
) -> workflows_pb2.WebhookDeliveryRequest:
    return workflows_pb2.WebhookDeliveryRequest(
        ctx=ctx, app_slug=app_slug, webhook_id=webhook_id, delivery_id=delivery_id
    )


@router.get("/{webhook_id}/deliveries/{delivery_id}", **returns(shapes.WebhookDelivery))
async def get_delivery(
    app_slug: str, webhook_id: str, delivery_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """One delivery: the body sent and every attempt (headers, status, latency)."""
    reply = await backends.call(
        backends.workflows.GetWebhookDelivery,
        _delivery_ref(ctx, app_slug, webhook_id, delivery_id),
    )
    return _delivery(reply)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay", **returns(shapes.WebhookDelivery, status=202)
)
async def replay_delivery(
    app_slug: str, webhook_id: str, delivery_id: str, ctx: ContextDep, backends: BackendsDep
) -> Response:
    """Sends the delivery again, with the same id (a receiver that has it drops it), and
    retries it as a new one would be."""
    reply = await backends.call(
        backends.workflows.ReplayWebhookDelivery,
        _delivery_ref(ctx, app_slug, webhook_id, delivery_id),
    )
    return _delivery(reply, 202)
