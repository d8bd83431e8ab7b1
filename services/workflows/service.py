"""Workflow definitions: stored whole and checked (services.workflows.definitions), every
edit a new version, the app found by its slug through the schema service (an app keeps its
workflows when renamed). Every change is announced as `workflows.<tenant>.workflow.*`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.clock import utcnow
from services.kit.errors import PreconditionFailed, ValidationFailed
from services.kit.ids import new_id
from services.kit.json import loads_exact
from services.kit.nats.events import Event
from services.kit.nats.outbox import OutboxWriter
from services.kit.secrets import SecretBox
from services.kit.tenancy import tenant_of
from services.workflows import tables
from services.workflows.apps import AppRef, AppResolver
from services.workflows.connectors import check_api_calls
from services.workflows.definitions import Definition, api_calls, parse_definition
from services.workflows.errors import WorkflowNameTaken, WorkflowNotFound
from services.workflows.incoming import set_hook_secret, sync_hook
from services.workflows.scheduling import check_schedule_parameters, sync_schedules

_outbox = OutboxWriter(tables.outbox)
w = tables.workflows
v = tables.workflow_versions
h = tables.hooks


@dataclass(frozen=True, slots=True)
class StoredWorkflow:
    id: str
    app_id: str
    name: str
    version: int
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    # The app's public id in its hook's path, when it has a hook.
    hook_ref: str | None = None
    hook_scheme: str | None = None
    # Only in the answer that made the hook or its secret: shown once.
    new_hook_secret: str | None = None


def _definition(raw: bytes) -> tuple[dict[str, Any], Definition]:
    try:
        body = loads_exact(raw)
    except ValueError:
        raise ValidationFailed("The workflow is not valid JSON") from None
    parsed = parse_definition(body)
    check_schedule_parameters(parsed)
    # Stored as checked: defaults filled in, aliases as written.
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True), parsed


def _principal(ctx: common_pb2.RequestContext) -> str:
    return f"{ctx.principal_kind}:{ctx.principal_id}"


async def _announce(
    session: AsyncSession, tenant: str, action: str, workflow: StoredWorkflow
) -> None:
    data = {
        "workflow_id": workflow.id,
        "app_id": workflow.app_id,
        "name": workflow.name,
        "version": workflow.version,
    }
    event = Event.new(
        service="workflows", tenant=tenant, entity="workflow", action=action, data=data
    )
    await _outbox.add(session, event)


_COLUMNS = (
    w.c.id,
    w.c.app_id,
    w.c.name,
    v.c.version,
    v.c.definition,
    w.c.created_at,
    w.c.updated_at,
    h.c.app_ref,
    h.c.scheme,
)


async def _sync_triggers(
    session: AsyncSession,
    box: SecretBox,
    tenant: str,
    workflow_id: str,
    app: AppRef,
    definition: Definition,
) -> str | None:
    """The workflow's schedules and hook as the version just stored has them; a new hook
    secret, to be shown once."""
    await sync_schedules(
        session,
        tenant=tenant,
        workflow_id=workflow_id,
        app_id=app.id,
        app_ref=app.public_id,
        definition=definition,
        now=utcnow(),
    )
    return await sync_hook(
        session,
        box,
        tenant=tenant,
        workflow_id=workflow_id,
        app_id=app.id,
        app_ref=app.public_id,
        definition=definition,
    )


async def find(
    session: AsyncSession, tenant: str, app_id: str, name: str, version: int = 0
) -> StoredWorkflow:
    query = (
        select(*_COLUMNS)
        .join(v, v.c.workflow_id == w.c.id)
        .outerjoin(h, h.c.workflow_id == w.c.id)
        .where(w.c.tenant_id == tenant, w.c.app_id == app_id, w.c.name == name)
        .where(v.c.version == (version or w.c.version))
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise WorkflowNotFound()
    return StoredWorkflow(*row)


async def create_workflow(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
    raw: bytes,
    *,
    box: SecretBox,
) -> StoredWorkflow:
    tenant = tenant_of(ctx)
    definition, parsed = _definition(raw)
    app = await resolve_app(ctx, app_slug)
    app_id = app.id
    await check_api_calls(session, tenant, app_id, api_calls(parsed))
    workflow_id = new_id("wfl")
    try:
        async with session.begin_nested():
            await session.execute(
                insert(w).values(
                    id=workflow_id,
                    tenant_id=tenant,
                    app_id=app_id,
                    name=definition["name"],
                    version=1,
                )
            )
    except IntegrityError:
        raise WorkflowNameTaken(field="name") from None
    await session.execute(
        insert(v).values(
            workflow_id=workflow_id,
            version=1,
            tenant_id=tenant,
            definition=definition,
            created_by=_principal(ctx),
        )
    )
    secret = await _sync_triggers(session, box, tenant, workflow_id, app, parsed)
    stored = await find(session, tenant, app_id, definition["name"])
    await _announce(session, tenant, "created", stored)
    return replace(stored, new_hook_secret=secret)


async def list_workflows(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
) -> list[StoredWorkflow]:
    tenant = tenant_of(ctx)
    app_id = (await resolve_app(ctx, app_slug)).id
    query = (
        select(*_COLUMNS)
        .join(v, (v.c.workflow_id == w.c.id) & (v.c.version == w.c.version))
        .outerjoin(h, h.c.workflow_id == w.c.id)
        .where(w.c.tenant_id == tenant, w.c.app_id == app_id)
        .order_by(w.c.name)
    )
    return [StoredWorkflow(*row) for row in await session.execute(query)]


async def get_workflow(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
    name: str,
    version: int = 0,
) -> StoredWorkflow:
    app_id = (await resolve_app(ctx, app_slug)).id
    return await find(session, tenant_of(ctx), app_id, name, version)


async def update_workflow(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
    name: str,
    raw: bytes,
    *,
    box: SecretBox,
    if_match: int = 0,
) -> StoredWorkflow:
    """The definition as the workflow's next version. Renaming is an edit like any other."""
    tenant = tenant_of(ctx)
    definition, parsed = _definition(raw)
    app = await resolve_app(ctx, app_slug)
    app_id = app.id
    await check_api_calls(session, tenant, app_id, api_calls(parsed))
    current = await find(session, tenant, app_id, name)
    if if_match and if_match != current.version:
        raise PreconditionFailed(
            f"The workflow is at version {current.version}, not {if_match}", field="If-Match"
        )
    version = current.version + 1
    try:
        async with session.begin_nested():
            locked = await session.execute(
                update(w)
                .where(w.c.id == current.id, w.c.version == current.version)
                .values(name=definition["name"], version=version, updated_at=func.now())
                .returning(w.c.id)
            )
    except IntegrityError:
        raise WorkflowNameTaken(field="name") from None
    if locked.first() is None:
        raise PreconditionFailed("The workflow changed meanwhile; read it again")
    await session.execute(
        insert(v).values(
            workflow_id=current.id,
            version=version,
            tenant_id=tenant,
            definition=definition,
            created_by=_principal(ctx),
        )
    )
    secret = await _sync_triggers(session, box, tenant, current.id, app, parsed)
    stored = await find(session, tenant, app_id, definition["name"])
    await _announce(session, tenant, "updated", stored)
    return replace(stored, new_hook_secret=secret)


async def new_hook_secret(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
    name: str,
    given: str | None,
    *,
    box: SecretBox,
    keep_previous_seconds: int = 0,
) -> StoredWorkflow:
    """A new secret for the workflow's hook, made or given; the workflow with it, once."""
    tenant = tenant_of(ctx)
    app_id = (await resolve_app(ctx, app_slug)).id
    current = await find(session, tenant, app_id, name)
    secret = await set_hook_secret(
        session, box, current.id, given, keep_previous_seconds=keep_previous_seconds
    )
    return replace(current, new_hook_secret=secret)


async def delete_workflow(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    resolve_app: AppResolver,
    app_slug: str,
    name: str,
) -> None:
    tenant = tenant_of(ctx)
    app_id = (await resolve_app(ctx, app_slug)).id
    current = await find(session, tenant, app_id, name)
    await session.execute(delete(w).where(w.c.id == current.id))
    await _announce(session, tenant, "deleted", current)
