"""App end users: signing up and logging in to one app (Bubble's "log the user in",
Budibase's app users), and their management by the app's builders and app-role admins.

End users have no workspace: they address the app by its public id (`app_...`). Members
may use the slug too, resolved in their workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters, queries, shapes
from services.gateway.auth import Authenticator, is_public_app_id
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.clients import Backends
from services.gateway.deps import AuthenticatorDep, BackendsDep, ContextDep
from services.gateway.openapi import json_body, returns
from services.kit.access import APP_KINDS
from services.kit.errors import NotFound
from services.kit.paging import DEFAULT_PER_PAGE

router = APIRouter(prefix="/api/apps/{app_slug}", tags=["App users"])


class SignUp(StrictInput):
    email: str
    password: str
    name: str | None = None


class LogIn(StrictInput):
    email: str
    password: str
    # 12 months instead of 24 hours.
    keep_logged_in: bool = False


class NewAppUser(StrictInput):
    email: str
    password: str
    name: str | None = None
    # The app's default_app_role when absent.
    app_role: str | None = None


class AppUserPatch(StrictInput):
    email: str | None = None
    name: str | None = None
    app_role: str | None = None
    password: str | None = None


@router.post(
    "/auth/signup", **returns(shapes.AppSession, status=201), openapi_extra=json_body(SignUp)
)
async def sign_up(
    app_slug: str, request: Request, authenticator: AuthenticatorDep, backends: BackendsDep
) -> dict[str, Any]:
    body = await parse_json(request, SignUp)
    app = await _visited_app(request, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.SignUpAppUser,
        identity_pb2.SignUpAppUserRequest(
            ctx=authenticator.visitor_context(request, app),
            email=body.email,
            password=body.password,
            name=body.name or "",
            default_app_role=app.settings.default_app_role,
        ),
    )
    return _session(reply)


@router.post("/auth/login", **returns(shapes.AppSession), openapi_extra=json_body(LogIn))
async def log_in(
    app_slug: str, request: Request, authenticator: AuthenticatorDep, backends: BackendsDep
) -> dict[str, Any]:
    body = await parse_json(request, LogIn)
    app = await _visited_app(request, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.LogInAppUser,
        identity_pb2.LogInAppUserRequest(
            ctx=authenticator.visitor_context(request, app),
            email=body.email,
            password=body.password,
            keep_logged_in=body.keep_logged_in,
        ),
    )
    return _session(reply)


@router.post("/auth/logout", status_code=204)
async def log_out(
    app_slug: str, ctx: ContextDep, authenticator: AuthenticatorDep, backends: BackendsDep
) -> Response:
    await _managed_app(ctx, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.EndAppSession, identity_pb2.EndAppSessionRequest(ctx=ctx)
    )
    _forget_sessions(authenticator, reply.session_ids)
    return Response(status_code=204)


@router.post("/auth/logout-others", **returns(shapes.SessionsEnded))
async def log_out_others(
    app_slug: str, ctx: ContextDep, authenticator: AuthenticatorDep, backends: BackendsDep
) -> dict[str, Any]:
    await _managed_app(ctx, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.EndOtherAppSessions, identity_pb2.EndAppSessionRequest(ctx=ctx)
    )
    _forget_sessions(authenticator, reply.session_ids)
    return {"sessions_ended": len(reply.session_ids)}


@router.get("/users", **returns(shapes.AppUsers))
async def list_app_users(
    app_slug: str,
    request: Request,
    ctx: ContextDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> dict[str, Any]:
    page = queries.integer(request.query_params.get("page"), "page") or 1
    per_page = queries.integer(request.query_params.get("per_page"), "per_page") or DEFAULT_PER_PAGE
    app = await _managed_app(ctx, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.ListAppUsers,
        identity_pb2.ListAppUsersRequest(ctx=ctx, app_id=app.app_id, page=page, per_page=per_page),
    )
    return {
        "users": [presenters.app_user(user) for user in reply.users],
        "page": page,
        "per_page": per_page,
        "total": reply.total,
    }


@router.post("/users", **returns(shapes.AppUser, status=201), openapi_extra=json_body(NewAppUser))
async def create_app_user(
    app_slug: str,
    request: Request,
    ctx: ContextDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> shapes.AppUser:
    body = await parse_json(request, NewAppUser)
    app = await _managed_app(ctx, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.CreateAppUser,
        identity_pb2.CreateAppUserRequest(
            ctx=ctx,
            app_id=app.app_id,
            email=body.email,
            name=body.name or "",
            password=body.password,
            app_role=body.app_role or "",
            default_app_role=app.settings.default_app_role,
        ),
    )
    return presenters.app_user(reply)


@router.get("/users/{user_id}", **returns(shapes.AppUser))
async def get_app_user(
    app_slug: str,
    user_id: str,
    ctx: ContextDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> shapes.AppUser:
    app = await _managed_app(ctx, app_slug, authenticator, backends)
    reply = await backends.call(
        backends.identity.GetAppUser,
        identity_pb2.AppUserRequest(ctx=ctx, app_id=app.app_id, app_user_id=user_id),
    )
    return presenters.app_user(reply)


@router.patch("/users/{user_id}", **returns(shapes.AppUser), openapi_extra=json_body(AppUserPatch))
async def update_app_user(
    app_slug: str,
    user_id: str,
    request: Request,
    ctx: ContextDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> shapes.AppUser:
    body = await parse_json(request, AppUserPatch)
    app = await _managed_app(ctx, app_slug, authenticator, backends)
    change = identity_pb2.UpdateAppUserRequest(ctx=ctx, app_id=app.app_id, app_user_id=user_id)
    for key in ("email", "name", "app_role", "password"):
        value = getattr(body, key)
        if value is not None:
            setattr(change, key, value)
    reply = await backends.call(backends.identity.UpdateAppUser, change)
    if body.app_role is not None or body.password is not None:
        # Read-your-writes here; identity's event clears the other gateways.
        authenticator.credentials.forget(account_id=reply.id)
    return presenters.app_user(reply)


@router.delete("/users/{user_id}", status_code=204)
async def delete_app_user(
    app_slug: str,
    user_id: str,
    ctx: ContextDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> Response:
    app = await _managed_app(ctx, app_slug, authenticator, backends)
    await backends.call(
        backends.identity.DeleteAppUser,
        identity_pb2.AppUserRequest(ctx=ctx, app_id=app.app_id, app_user_id=user_id),
    )
    authenticator.credentials.forget(account_id=user_id)
    return Response(status_code=204)


async def _visited_app(
    request: Request, app: str, authenticator: Authenticator, backends: Backends
) -> schema_pb2.PublicApp:
    """The app someone signs up or logs in to: by public id, or by slug for a member
    trying their own workspace's app. Fresh, so a changed default role applies at once."""
    if is_public_app_id(app):
        return await authenticator.public_apps.resolve(app, fresh=True)
    return await _member_app(await authenticator.context(request), app, backends)


async def _managed_app(
    ctx: common_pb2.RequestContext, app: str, authenticator: Authenticator, backends: Backends
) -> schema_pb2.PublicApp:
    """The app a route acts on, seen by its caller: an app end user knows their own app,
    by public id, and no other."""
    if ctx.principal_kind not in APP_KINDS:
        return await _member_app(ctx, app, backends)
    found = await authenticator.public_apps.resolve(app, fresh=True)
    if (found.tenant_id, found.app_id) != (ctx.tenant_id, ctx.app_id):
        raise NotFound("App not found")
    return found


async def _member_app(
    ctx: common_pb2.RequestContext, app: str, backends: Backends
) -> schema_pb2.PublicApp:
    reply = await backends.call(
        backends.schema.GetApp, schema_pb2.GetAppRequest(ctx=ctx, app_slug=app)
    )
    return schema_pb2.PublicApp(
        tenant_id=ctx.tenant_id, app_id=reply.id, app_slug=reply.slug, settings=reply.settings
    )


def _session(reply: identity_pb2.AppSession) -> dict[str, Any]:
    return {
        "token": reply.token,
        "expires_at": reply.expires_at,
        "user": presenters.app_user(reply.user),
    }


def _forget_sessions(authenticator: Authenticator, session_ids: list[str]) -> None:
    # Read-your-writes on this gateway; identity's events clear the others.
    for session_id in session_ids:
        authenticator.credentials.forget(credential_id=session_id)
