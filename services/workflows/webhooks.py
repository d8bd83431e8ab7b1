"""Outgoing webhooks of an app (builders and up): an endpoint's URL, the events it is sent
(record.created|updated|deleted, schema.created|updated|trashed), of which schemas (none:
all), and for updates the fields of which one must have changed. Its signing secret
(Standard Webhooks' whsec_ form) is made here, sealed with the key-encryption key, and
shown once, when the webhook is made or its secret renewed.

    {"url": "https://example.com/tessera", "events": ["record.updated"],
     "schemas": ["orders"], "fields": ["status"], "description": "Order status to ERP"}

The URL is checked against the outgoing-HTTP policy when saved (an address inside is
refused unless the operator allows it) and again at every attempt. Payloads are read as
the webhook's creator may see them (services.workflows.webhook_events); its deliveries and
their attempts are kept (services.workflows.deliveries)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import Field, field_validator
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.clock import utcnow
from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.json import dumps_exact
from services.kit.outbound import OutboundClient
from services.kit.secrets import SecretBox
from services.workflows import tables
from services.workflows.bodies import Strict, parsed
from services.workflows.deliveries import (
    PENDING,
    PING,
    DeliverySettings,
    gives_up_at,
    secret_context,
)
from services.workflows.hooks import new_secret
from services.workflows.sealing import reseal_column

wh = tables.webhooks
d = tables.webhook_deliveries
at = tables.webhook_attempts

EventType = Literal[
    "record.created",
    "record.updated",
    "record.deleted",
    "schema.created",
    "schema.updated",
    "schema.trashed",
]
RECORD_EVENTS: Final = ("record.created", "record.updated", "record.deleted")
SLUG = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_WEBHOOKS_PER_APP = 50
MAX_URL_LENGTH = 2000
# How long an old secret may keep signing beside a renewed one: a week.
MAX_OVERLAP_SECONDS = 7 * 86_400
MAX_DELIVERIES_PER_PAGE = 100
DEFAULT_DELIVERIES_PER_PAGE = 20
DELIVERY_STATES = ("pending", "succeeded", "failed")


class WebhookNotFound(NotFound):
    default_message = "Webhook not found"


class DeliveryNotFound(NotFound):
    default_message = "Delivery not found"


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class WebhookChange(Strict):
    """What an update may change; absent fields stay as they are."""

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=1000)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=6)
    schemas: list[str] | None = Field(default=None, max_length=100)
    fields: list[str] | None = Field(default=None, max_length=100)
    active: bool | None = None

    @field_validator("schemas", "fields")
    @classmethod
    def _slugs(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        for value in values:
            if SLUG.fullmatch(value) is None:
                raise ValueError(f"{value[:70]!r} is not a slug")
        return _unique(values)

    @field_validator("description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("holds a NUL character")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _unique(values)


class NewWebhook(WebhookChange):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    events: list[EventType] = Field(default=list(RECORD_EVENTS), min_length=1, max_length=6)


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    id: str
    app_id: str
    url: str
    description: str
    events: list[str]
    schemas: list[str]
    fields: list[str]
    active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failed_in_a_row: int
    secret_set_at: datetime
    previous_until: datetime | None
    created_at: datetime
    updated_at: datetime
    # Only in the answer that made it or renewed its secret: shown once.
    new_secret: str | None = None


_WEBHOOK_COLUMNS = (
    wh.c.id,
    wh.c.app_id,
    wh.c.url,
    wh.c.description,
    wh.c.events,
    wh.c.schemas,
    wh.c.fields,
    wh.c.active,
    wh.c.disabled_reason,
    wh.c.disabled_at,
    wh.c.failed_in_a_row,
    wh.c.secret_set_at,
    wh.c.previous_until,
    wh.c.created_at,
    wh.c.updated_at,
)


def _creator(ctx: common_pb2.RequestContext) -> bytes:
    """Whom the webhook's payloads are read as: the creator, without what was only this
    request's."""
    kept = common_pb2.RequestContext()
    kept.CopyFrom(ctx)
    for only_this_request in ("request_id", "idempotency_key", "client_ip", "user_agent"):
        kept.ClearField(only_this_request)
    return kept.SerializeToString()


async def _checked_url(outbound: OutboundClient, url: str) -> str:
    if "\x00" in url:
        raise ValidationFailed("The URL holds a NUL character", field="url")
    target = await outbound.check(url)
    return str(target.url)


async def find(session: AsyncSession, tenant: str, app_id: str, webhook_id: str) -> StoredWebhook:
    row = (
        await session.execute(
            select(*_WEBHOOK_COLUMNS).where(
                wh.c.tenant_id == tenant, wh.c.app_id == app_id, wh.c.id == webhook_id
            )
        )
    ).first()
    if row is None:
        raise WebhookNotFound()
    return StoredWebhook(*tuple(row))


async def create_webhook(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    app_id: str,
    app_ref: str,
    raw: bytes,
    *,
    box: SecretBox,
    outbound: OutboundClient,
) -> StoredWebhook:
    tenant = ctx.tenant_id
    body = parsed(raw, NewWebhook, "A webhook")
    url = await _checked_url(outbound, body.url)
    count = await session.scalar(
        select(func.count()).where(wh.c.tenant_id == tenant, wh.c.app_id == app_id)
    )
    if (count or 0) >= MAX_WEBHOOKS_PER_APP:
        raise ValidationFailed(f"An app has at most {MAX_WEBHOOKS_PER_APP} webhooks")
    webhook_id = new_id("whk")
    secret = new_secret("standard")
    await session.execute(
        insert(wh).values(
            id=webhook_id,
            tenant_id=tenant,
            app_id=app_id,
            app_ref=app_ref,
            url=url,
            description=body.description or "",
            events=body.events,
            schemas=body.schemas or [],
            fields=body.fields or [],
            active=body.active is not False,
            sealed_secret=box.seal(secret, context=secret_context(webhook_id)),
            creator=_creator(ctx),
            created_by=f"{ctx.principal_kind}:{ctx.principal_id}",
        )
    )
    stored = await find(session, tenant, app_id, webhook_id)
    return replace(stored, new_secret=secret)


async def list_webhooks(session: AsyncSession, tenant: str, app_id: str) -> list[StoredWebhook]:
    rows = await session.execute(
        select(*_WEBHOOK_COLUMNS)
        .where(wh.c.tenant_id == tenant, wh.c.app_id == app_id)
        .order_by(wh.c.created_at, wh.c.id)
    )
    return [StoredWebhook(*tuple(row)) for row in rows]


async def update_webhook(
    session: AsyncSession,
    tenant: str,
    app_id: str,
    webhook_id: str,
    raw: bytes,
    *,
    outbound: OutboundClient,
) -> StoredWebhook:
    body = parsed(raw, WebhookChange, "A webhook")
    await find(session, tenant, app_id, webhook_id)
    # null means "leave it as it is", like an absent field: every column here is NOT NULL.
    values: dict[str, Any] = {
        name: value
        for name, value in body.model_dump(exclude_unset=True).items()
        if name != "url" and value is not None
    }
    if body.url is not None:
        values["url"] = await _checked_url(outbound, body.url)
    if values.get("active") is True:
        # Turned on again: its count of failures starts over.
        values.update(disabled_reason=None, disabled_at=None, failed_in_a_row=0)
    if values:
        await session.execute(
            update(wh).where(wh.c.id == webhook_id).values(**values, updated_at=func.now())
        )
    return await find(session, tenant, app_id, webhook_id)


async def delete_webhook(session: AsyncSession, tenant: str, app_id: str, webhook_id: str) -> None:
    await find(session, tenant, app_id, webhook_id)
    await session.execute(delete(wh).where(wh.c.id == webhook_id))


async def new_webhook_secret(
    session: AsyncSession,
    tenant: str,
    app_id: str,
    webhook_id: str,
    *,
    box: SecretBox,
    keep_previous_seconds: int = 0,
) -> StoredWebhook:
    """A new secret, shown once; the old one signs too for `keep_previous_seconds` (none by
    default, at most a week) while the receiver moves over."""
    if not 0 <= keep_previous_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationFailed(
            f"'keep_previous_seconds' is 0 to {MAX_OVERLAP_SECONDS}", field="keep_previous_seconds"
        )
    await find(session, tenant, app_id, webhook_id)
    current = await session.scalar(
        select(wh.c.sealed_secret).where(wh.c.id == webhook_id).with_for_update()
    )
    secret = new_secret("standard")
    await session.execute(
        update(wh)
        .where(wh.c.id == webhook_id)
        .values(
            sealed_secret=box.seal(secret, context=secret_context(webhook_id)),
            secret_set_at=func.now(),
            previous_sealed_secret=current if keep_previous_seconds else None,
            previous_until=(
                func.now() + timedelta(seconds=keep_previous_seconds)
                if keep_previous_seconds
                else None
            ),
            updated_at=func.now(),
        )
    )
    stored = await find(session, tenant, app_id, webhook_id)
    return replace(stored, new_secret=secret)


async def reseal_webhook_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Webhooks' signing secrets, the current and the overlapping one, under the first key."""
    return await reseal_column(
        session,
        box,
        wh,
        [wh.c.id],
        ["sealed_secret", "previous_sealed_secret"],
        secret_context,
    )


# --- deliveries --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at: datetime
    request_headers: dict[str, str]
    response_status: int | None
    response_body: str | None
    error: str | None
    latency_ms: int


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    payload: bytes | None = None
    attempt_log: tuple[Attempt, ...] = ()


_DELIVERY_COLUMNS = (
    d.c.id,
    d.c.webhook_id,
    d.c.event_id,
    d.c.event_type,
    d.c.state,
    d.c.attempts,
    d.c.next_attempt_at,
    d.c.last_status,
    d.c.last_error,
    d.c.created_at,
    d.c.finished_at,
)


async def list_deliveries(
    session: AsyncSession,
    tenant: str,
    app_id: str,
    webhook_id: str,
    *,
    cursor: str,
    per_page: int,
    state: str,
) -> tuple[list[StoredDelivery], str]:
    """The webhook's deliveries, newest first; the next page's cursor, when there is one."""
    if not 0 <= per_page <= MAX_DELIVERIES_PER_PAGE:
        raise ValidationFailed(
            f"'per_page' must be 1 to {MAX_DELIVERIES_PER_PAGE}", field="per_page"
        )
    if state and state not in DELIVERY_STATES:
        raise ValidationFailed(f"'state' is one of {', '.join(DELIVERY_STATES)}", field="state")
    limit = per_page or DEFAULT_DELIVERIES_PER_PAGE
    await find(session, tenant, app_id, webhook_id)
    query = select(*_DELIVERY_COLUMNS).where(d.c.webhook_id == webhook_id)
    if state:
        query = query.where(d.c.state == state)
    if cursor:
        anchor = (
            await session.execute(
                select(d.c.created_at, d.c.id).where(d.c.id == cursor, d.c.webhook_id == webhook_id)
            )
        ).first()
        if anchor is None:
            raise ValidationFailed("The cursor is not one of this list", field="cursor")
        query = query.where(
            or_(
                d.c.created_at < anchor[0],
                and_(d.c.created_at == anchor[0], d.c.id < anchor[1]),
            )
        )
    rows = await session.execute(query.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit))
    found = [StoredDelivery(*tuple(row)) for row in rows]
    return found, found[-1].id if len(found) == limit else ""


async def get_delivery(
    session: AsyncSession, tenant: str, app_id: str, webhook_id: str, delivery_id: str
) -> StoredDelivery:
    await find(session, tenant, app_id, webhook_id)
    row = (
        await session.execute(
            select(*_DELIVERY_COLUMNS, d.c.payload).where(
                d.c.id == delivery_id, d.c.webhook_id == webhook_id
            )
        )
    ).first()
    if row is None:
        raise DeliveryNotFound()
    attempts = await session.execute(
        select(
            at.c.attempt,
            at.c.at,
            at.c.request_headers,
            at.c.response_status,
            at.c.response_body,
            at.c.error,
            at.c.latency_ms,
        )
        .where(at.c.delivery_id == delivery_id)
        .order_by(at.c.attempt)
    )
    return StoredDelivery(*row, attempt_log=tuple(Attempt(*each) for each in attempts))


async def replay_delivery(
    session: AsyncSession,
    tenant: str,
    app_id: str,
    webhook_id: str,
    delivery_id: str,
    settings: DeliverySettings,
) -> None:
    """The delivery sent again now (same id: a receiver that has it drops it), and retried
    as a new one would be. A delivery still pending is simply tried now."""
    await get_delivery(session, tenant, app_id, webhook_id, delivery_id)
    await session.execute(
        update(d)
        .where(d.c.id == delivery_id)
        .values(
            state=PENDING,
            next_attempt_at=func.now(),
            give_up_at=gives_up_at(settings, utcnow()),
            finished_at=None,
        )
    )


async def new_ping(
    session: AsyncSession, tenant: str, app_id: str, webhook: StoredWebhook, lease: timedelta
) -> str:
    """A webhook.ping delivery, to be attempted at once by the caller (once, no retries)."""
    delivery_id = new_id("msg")
    now = utcnow()
    payload = {
        "type": PING,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {"webhook_id": webhook.id, "app_id": app_id},
    }
    await session.execute(
        insert(d).values(
            id=delivery_id,
            webhook_id=webhook.id,
            tenant_id=tenant,
            event_id=f"ping:{delivery_id}",
            event_type=PING,
            payload=dumps_exact(payload),
            state=PENDING,
            # Taken up by the sender loop only if this attempt is lost.
            next_attempt_at=now + lease,
            give_up_at=now,
        )
    )
    return delivery_id
