"""Incoming webhooks: a workflow's hook trigger kept in the hooks table as of its current
version, with its signing secret sealed (services.kit.secrets), and each delivery to
POST /hooks/{app's public id}/{name} checked (services.workflows.hooks) and turned into a
queued run that acts as the workflow itself.

A delivery the sender sends again (same id: `webhook-id`, `X-GitHub-Delivery`; for Stripe,
which names none, the same signed timestamp and body) is the run the first one started,
so a retry or a replay inside the window runs nothing twice; outside the window the
signature's timestamp refuses it."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import ServiceUnavailable, Unauthenticated, ValidationFailed
from services.kit.forms import FORM, form_fields
from services.kit.json import holds_nul, loads_exact
from services.kit.secrets import SecretBox, SecretUnreadable
from services.workflows import tables
from services.workflows.definitions import Definition
from services.workflows.errors import WorkflowNotFound
from services.workflows.hooks import Delivery, new_secret, verify
from services.workflows.parameters import typed_parameters
from services.workflows.runs import NewRun, Runs, StoredRun
from services.workflows.sealing import reseal_column

log = logging.getLogger(__name__)
h = tables.hooks
w = tables.workflows
v = tables.workflow_versions
# How long an old secret may keep working after a new one is made: a week.
MAX_OVERLAP_SECONDS = 7 * 86_400


def hook_path(app_ref: str, name: str) -> str:
    return f"/hooks/{app_ref}/{name}"


def _secret_context(workflow_id: str) -> str:
    # A sealed secret copied to another workflow's row does not open there.
    return f"hook:{workflow_id}"


async def sync_hook(
    session: AsyncSession,
    box: SecretBox,
    *,
    tenant: str,
    workflow_id: str,
    app_id: str,
    app_ref: str,
    definition: Definition,
) -> str | None:
    """The workflow's hook as its definition now has it. A new hook, or one whose scheme
    changed, gets a new secret: returned, to be shown once. Otherwise the secret stays."""
    hook = definition.hook
    current = await session.scalar(select(h.c.scheme).where(h.c.workflow_id == workflow_id))
    if hook is None:
        await session.execute(delete(h).where(h.c.workflow_id == workflow_id))
        return None
    values = {"app_ref": app_ref, "replay_window_seconds": hook.replay_window_seconds}
    if current == hook.scheme:
        await session.execute(update(h).where(h.c.workflow_id == workflow_id).values(values))
        return None
    secret = None if hook.scheme == "none" else new_secret(hook.scheme)
    await _store(session, box, tenant, workflow_id, app_id, hook.scheme, secret, values)
    return secret


async def set_hook_secret(
    session: AsyncSession,
    box: SecretBox,
    workflow_id: str,
    given: str | None,
    *,
    keep_previous_seconds: int = 0,
) -> str:
    """A new secret for the workflow's hook (or the sender's own, Stripe's say). The old
    one keeps working `keep_previous_seconds` more (none by default), so a sender can move
    over without a delivery refused. Returns the new one, to be shown once."""
    if not 0 <= keep_previous_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationFailed(
            f"'keep_previous_seconds' is 0 to {MAX_OVERLAP_SECONDS}", field="keep_previous_seconds"
        )
    current = (
        await session.execute(
            select(h.c.scheme, h.c.sealed_secret)
            .where(h.c.workflow_id == workflow_id)
            .with_for_update()
        )
    ).first()
    scheme = None if current is None else current.scheme
    if scheme is None:
        raise ValidationFailed("The workflow has no incoming webhook", field="triggers")
    if scheme == "none":
        raise ValidationFailed("A hook of scheme 'none' has no secret", field="scheme")
    secret = given if given is not None else new_secret(scheme)
    _check_secret(scheme, secret)
    await session.execute(
        update(h)
        .where(h.c.workflow_id == workflow_id)
        .values(
            sealed_secret=box.seal(secret, context=_secret_context(workflow_id)),
            secret_set_at=func.now(),
            previous_sealed_secret=current.sealed_secret
            if current and keep_previous_seconds
            else None,
            previous_until=(
                func.now() + timedelta(seconds=keep_previous_seconds)
                if keep_previous_seconds
                else None
            ),
        )
    )
    return secret


def _check_secret(scheme: str, secret: str) -> None:
    if not 16 <= len(secret) <= 200 or not secret.isascii() or not secret.isprintable():
        raise ValidationFailed(
            "A hook secret is 16 to 200 printable ASCII characters", field="secret"
        )
    if scheme == "standard" and not secret.startswith("whsec_"):
        raise ValidationFailed("A Standard Webhooks secret starts with whsec_", field="secret")


async def _store(
    session: AsyncSession,
    box: SecretBox,
    tenant: str,
    workflow_id: str,
    app_id: str,
    scheme: str,
    secret: str | None,
    values: dict[str, Any],
) -> None:
    sealed = None if secret is None else box.seal(secret, context=_secret_context(workflow_id))
    row = {"scheme": scheme, "sealed_secret": sealed, "secret_set_at": func.now(), **values}
    await session.execute(
        pg_insert(h)
        .values(workflow_id=workflow_id, tenant_id=tenant, app_id=app_id, **row)
        .on_conflict_do_update(index_elements=[h.c.workflow_id], set_=row)
    )


@dataclass(frozen=True, slots=True)
class IncomingDelivery:
    app_ref: str
    name: str
    # Header names lower-cased.
    headers: dict[str, str]
    body: bytes
    content_type: str


def _payload(body: bytes, content_type: str) -> tuple[str, Any, dict[str, Any], bool]:
    """The body as text, as parsed JSON (or None), as the fields that may be parameters,
    and whether they are form fields."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The body is not valid UTF-8") from None
    if "\x00" in text:
        raise ValidationFailed("The body holds a NUL character")
    kind = content_type.partition(";")[0].strip().lower()
    if kind == FORM:
        return text, None, dict(form_fields(text)), True
    if kind in ("", "application/json") or kind.endswith("+json"):
        if not text.strip():
            return text, None, {}, False
        try:
            parsed = loads_exact(body)
        except ValueError:
            raise ValidationFailed("The body is not valid JSON") from None
        if holds_nul(parsed):
            raise ValidationFailed("The body holds a NUL character")
        return text, parsed, parsed if isinstance(parsed, dict) else {}, False
    return text, None, {}, False


def _delivery_key(scheme: str, delivery: Delivery, body: bytes) -> str | None:
    if delivery.id is not None:
        return f"hook:{delivery.id[:200]}"
    if scheme == "stripe" and delivery.timestamp is not None:
        return f"hook:{delivery.timestamp}:{hashlib.sha256(body).hexdigest()}"
    return None


async def reseal_hook_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Hooks' secrets, the current one and the one overlapping it, under the first key."""
    return await reseal_column(
        session,
        box,
        h,
        [h.c.workflow_id],
        ["sealed_secret", "previous_sealed_secret"],
        _secret_context,
    )


class Hooks:
    def __init__(self, sessionmaker: SessionMaker, box: SecretBox, runs: Runs) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.runs = runs

    def _verified(
        self, row: Any, sealed: list[str], incoming: IncomingDelivery, now: float
    ) -> Delivery:
        """The delivery, signed with the hook's secret or, while it overlaps, the one
        before; the first refusal otherwise."""
        refused: Exception | None = None
        for each in sealed:
            secret = self._open(row.workflow_id, each) if each else ""
            try:
                return verify(
                    row.scheme,
                    secret,
                    incoming.headers,
                    incoming.body,
                    now=now,
                    window=row.replay_window_seconds,
                )
            except Unauthenticated as error:
                refused = refused or error
        assert refused is not None
        raise refused

    def _open(self, workflow_id: str, sealed: str) -> str:
        try:
            return self.box.open(sealed, context=_secret_context(workflow_id)).decode()
        except SecretUnreadable as error:
            # An operator's problem (a key dropped before resealing), never the sender's.
            log.error("the secret of the hook of workflow %s does not open: %s", workflow_id, error)
            raise ServiceUnavailable("The hook cannot check signatures right now") from None

    async def deliver(self, incoming: IncomingDelivery, *, now: float | None = None) -> StoredRun:
        """A queued run for a delivery whose signature holds; WorkflowNotFound when the
        app has no workflow of that name with a hook, Unauthenticated when the signature
        fails, ValidationFailed for a body or parameters the workflow cannot take."""
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            row = (
                await session.execute(
                    select(
                        h.c.workflow_id,
                        h.c.tenant_id,
                        h.c.app_id,
                        h.c.scheme,
                        h.c.sealed_secret,
                        h.c.previous_sealed_secret,
                        (h.c.previous_until > func.now()).label("previous_valid"),
                        h.c.replay_window_seconds,
                        w.c.version,
                        v.c.definition,
                    )
                    .join(w, w.c.id == h.c.workflow_id)
                    .join(v, (v.c.workflow_id == w.c.id) & (v.c.version == w.c.version))
                    .where(h.c.app_ref == incoming.app_ref, w.c.name == incoming.name)
                    .where(~exists().where(tables.trashed_apps.c.app_id == h.c.app_id))
                )
            ).first()
        if row is None:
            raise WorkflowNotFound()
        secrets = [row.sealed_secret or ""]
        if row.previous_sealed_secret is not None and row.previous_valid:
            secrets.append(row.previous_sealed_secret)
        delivery = self._verified(row, secrets, incoming, time.time() if now is None else now)
        text, parsed, fields, from_form = _payload(incoming.body, incoming.content_type)
        definition, _ = self.runs.checked(row.workflow_id, row.version, row.definition)
        # A sender's payload is not the builder's to shape: only declared fields count.
        declared = {parameter.name for parameter in definition.parameters}
        given = {name: value for name, value in fields.items() if name in declared}
        parameters = typed_parameters(definition.parameters, given, from_form=from_form)
        return await self.runs.start(
            NewRun(
                tenant_id=row.tenant_id,
                app_id=row.app_id,
                app_ref=incoming.app_ref,
                workflow_id=row.workflow_id,
                version=row.version,
                trigger="hook",
                parameters=parameters,
                idempotency_key=_delivery_key(row.scheme, delivery, incoming.body),
                event={"body": text, "json": parsed, "delivery_id": delivery.id},
            ),
            wait=False,
        )
