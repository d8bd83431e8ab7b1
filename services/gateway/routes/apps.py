"""Apps of the caller's workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters, shapes
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.deps import BackendsDep, ContextDep
from services.gateway.openapi import json_body, returns

router = APIRouter(prefix="/api/apps", tags=["Apps"])


class NewApp(StrictInput):
    name: str
    slug: str | None = None
    description: str | None = None


@router.get("", **returns(shapes.Apps))
async def list_apps(ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(backends.schema.ListApps, schema_pb2.ListAppsRequest(ctx=ctx))
    return {"apps": [presenters.app(a) for a in reply.apps]}


@router.post("", **returns(shapes.App, status=201), openapi_extra=json_body(NewApp))
async def create_app(request: Request, ctx: ContextDep, backends: BackendsDep) -> shapes.App:
    body = await parse_json(request, NewApp)
    reply = await backends.call(
        backends.schema.CreateApp,
        schema_pb2.CreateAppRequest(
            ctx=ctx, name=body.name, slug=body.slug or "", description=body.description or ""
        ),
    )
    return presenters.app(reply)


@router.get("/{app_slug}", **returns(shapes.App))
async def get_app(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> shapes.App:
    reply = await backends.call(
        backends.schema.GetApp, schema_pb2.GetAppRequest(ctx=ctx, app_slug=app_slug)
    )
    return presenters.app(reply)


class AppSettingsPatch(StrictInput):
    # The app role end users get at signup: admin, power, basic or public.
    default_app_role: str | None = None


class AppPatch(StrictInput):
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    settings: AppSettingsPatch | None = None


@router.patch("/{app_slug}", **returns(shapes.App), openapi_extra=json_body(AppPatch))
async def update_app(
    app_slug: str, request: Request, ctx: ContextDep, backends: BackendsDep
) -> shapes.App:
    body = await parse_json(request, AppPatch)
    change = schema_pb2.UpdateAppRequest(ctx=ctx, app_slug=app_slug)
    for key in ("name", "slug", "description"):
        value = getattr(body, key)
        if value is not None:
            setattr(change, key, value)
    if body.settings is not None and body.settings.default_app_role is not None:
        change.default_app_role = body.settings.default_app_role
    reply = await backends.call(backends.schema.UpdateApp, change)
    return presenters.app(reply)


@router.delete("/{app_slug}", **returns(shapes.Trashed))
async def delete_app(app_slug: str, ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    """Moves the app, its schemas and records to the trash (restorable for 72 hours)."""
    reply = await backends.call(
        backends.schema.DeleteApp, schema_pb2.DeleteAppRequest(ctx=ctx, app_slug=app_slug)
    )
    return {"trash": presenters.trash_entry(reply)}
