"""The credentials members make: API tokens (Baserow's database tokens), the per-user API
key (Budibase's) and admin tokens (Bubble's). Secrets appear once, in the response that
issues them.

Token permissions name apps and schemas by slug; the gateway resolves them to ids in the
caller's workspace (so renaming an app keeps its grants) and shows them back as the
current slugs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2
from tessera.schema.v1 import schema_pb2

from services.gateway import presenters, shapes
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.clients import Backends
from services.gateway.deps import (
    AccountCallerDep,
    AccountContextDep,
    AuthenticatorDep,
    BackendsDep,
    ContextDep,
)
from services.gateway.openapi import json_body, returns
from services.kit.access import GRANT_OPERATIONS
from services.kit.errors import NotFound, ValidationFailed

router = APIRouter(prefix="/api", tags=["Credentials"])

SCOPE_SHAPE = 'Each permission is true, false or a list of ["app", app] and ["schema", app, schema]'


class PermissionsInput(StrictInput):
    # Checked by _resolve_permissions, whose errors say what the shape should be.
    create: Any = False
    read: Any = False
    update: Any = False
    delete: Any = False


class NewToken(StrictInput):
    name: str
    permissions: PermissionsInput = PermissionsInput()
    expires_at: str | None = None


class TokenChange(StrictInput):
    name: str | None = None
    permissions: PermissionsInput | None = None


class NewAdminToken(StrictInput):
    name: str
    bypass_privacy_rules: bool = False


# API tokens


@router.post(
    "/tokens", **returns(shapes.IssuedApiToken, status=201), openapi_extra=json_body(NewToken)
)
async def create_token(
    request: Request, ctx: AccountContextDep, backends: BackendsDep
) -> dict[str, Any]:
    body = await parse_json(request, NewToken)
    permissions = await _resolve_permissions(backends, ctx, body.permissions)
    reply = await backends.call(
        backends.identity.CreateApiToken,
        identity_pb2.CreateApiTokenRequest(
            ctx=ctx, name=body.name, permissions=permissions, expires_at=body.expires_at or ""
        ),
    )
    return {**await _present_token(backends, ctx, reply.token), "token": reply.secret}


@router.get("/tokens", **returns(shapes.ApiTokens))
async def list_tokens(ctx: AccountContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.ListApiTokens, identity_pb2.ListApiTokensRequest(ctx=ctx)
    )
    names = await _Names.load(backends, ctx, reply.tokens)
    return {"tokens": [_token_body(token, names) for token in reply.tokens]}


@router.get("/tokens/{token_id}", **returns(shapes.ApiToken))
async def get_token(token_id: str, ctx: AccountContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.GetApiToken, identity_pb2.ApiTokenRequest(ctx=ctx, token_id=token_id)
    )
    return await _present_token(backends, ctx, reply)


@router.patch(
    "/tokens/{token_id}", **returns(shapes.ApiToken), openapi_extra=json_body(TokenChange)
)
async def update_token(
    token_id: str,
    request: Request,
    ctx: AccountContextDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> dict[str, Any]:
    body = await parse_json(request, TokenChange)
    change = identity_pb2.UpdateApiTokenRequest(ctx=ctx, token_id=token_id)
    if body.name is not None:
        change.name = body.name
    if body.permissions is not None:
        change.replace_permissions = True
        change.permissions.extend(await _resolve_permissions(backends, ctx, body.permissions))
    reply = await backends.call(backends.identity.UpdateApiToken, change)
    authenticator.credentials.forget(credential_id=token_id)
    return await _present_token(backends, ctx, reply)


@router.post("/tokens/{token_id}/rotate", **returns(shapes.IssuedApiToken))
async def rotate_token(
    token_id: str, ctx: AccountContextDep, backends: BackendsDep, authenticator: AuthenticatorDep
) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.RotateApiToken, identity_pb2.ApiTokenRequest(ctx=ctx, token_id=token_id)
    )
    authenticator.credentials.forget(credential_id=token_id)
    return {**await _present_token(backends, ctx, reply.token), "token": reply.secret}


@router.delete("/tokens/{token_id}", status_code=204)
async def delete_token(
    token_id: str, ctx: AccountContextDep, backends: BackendsDep, authenticator: AuthenticatorDep
) -> Response:
    await backends.call(
        backends.identity.DeleteApiToken, identity_pb2.ApiTokenRequest(ctx=ctx, token_id=token_id)
    )
    authenticator.credentials.forget(credential_id=token_id)
    return Response(status_code=204)


# The per-user API key


@router.post("/user/api-key", **returns(shapes.ApiKey, status=201))
async def create_api_key(
    request: Request,
    caller: AccountCallerDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> dict[str, Any]:
    """Creates the caller's key, or replaces it: the previous one stops working."""
    reply = await backends.call(
        backends.identity.CreateUserKey,
        identity_pb2.CreateUserKeyRequest(ctx=caller.account_context(request)),
    )
    authenticator.credentials.forget(account_id=caller.account_id)
    return {"id": reply.id, "api_key": reply.secret, "created_at": reply.created_at}


@router.delete("/user/api-key", status_code=204)
async def delete_api_key(
    request: Request,
    caller: AccountCallerDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> Response:
    await backends.call(
        backends.identity.DeleteUserKey,
        identity_pb2.DeleteUserKeyRequest(ctx=caller.account_context(request)),
    )
    authenticator.credentials.forget(account_id=caller.account_id)
    return Response(status_code=204)


# Admin tokens


@router.post(
    "/admin-tokens",
    **returns(shapes.IssuedAdminToken, status=201),
    openapi_extra=json_body(NewAdminToken),
)
async def create_admin_token(
    request: Request, ctx: ContextDep, backends: BackendsDep
) -> dict[str, Any]:
    body = await parse_json(request, NewAdminToken)
    reply = await backends.call(
        backends.identity.CreateAdminToken,
        identity_pb2.CreateAdminTokenRequest(
            ctx=ctx, name=body.name, bypass_privacy_rules=body.bypass_privacy_rules
        ),
    )
    return {**presenters.admin_token(reply.token), "token": reply.secret}


@router.get("/admin-tokens", **returns(shapes.AdminTokens))
async def list_admin_tokens(ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.ListAdminTokens, identity_pb2.ListAdminTokensRequest(ctx=ctx)
    )
    return {"admin_tokens": [presenters.admin_token(token) for token in reply.tokens]}


@router.delete("/admin-tokens/{token_id}", status_code=204)
async def delete_admin_token(
    token_id: str, ctx: ContextDep, backends: BackendsDep, authenticator: AuthenticatorDep
) -> Response:
    await backends.call(
        backends.identity.DeleteAdminToken,
        identity_pb2.DeleteAdminTokenRequest(ctx=ctx, token_id=token_id),
    )
    authenticator.credentials.forget(credential_id=token_id)
    return Response(status_code=204)


# Slugs in, ids stored, slugs out


async def _resolve_permissions(
    backends: Backends, ctx: common_pb2.RequestContext, permissions: PermissionsInput
) -> list[identity_pb2.TokenPermission]:
    resolved = []
    for operation in GRANT_OPERATIONS:
        scope = getattr(permissions, operation)
        if isinstance(scope, bool):
            resolved.append(identity_pb2.TokenPermission(operation=operation, all=scope))
            continue
        field = f"permissions.{operation}"
        if not isinstance(scope, list):
            raise ValidationFailed(SCOPE_SHAPE, field=field)
        scopes = [await _resolve_scope(backends, ctx, item, field) for item in scope]
        resolved.append(identity_pb2.TokenPermission(operation=operation, scopes=scopes))
    return resolved


async def _resolve_scope(
    backends: Backends, ctx: common_pb2.RequestContext, item: Any, field: str
) -> identity_pb2.TokenScope:
    if not isinstance(item, list) or not all(isinstance(part, str) and part for part in item):
        raise ValidationFailed(SCOPE_SHAPE, field=field)
    if len(item) == 2 and item[0] == "app":
        try:
            app = await backends.call(
                backends.schema.GetApp, schema_pb2.GetAppRequest(ctx=ctx, app_slug=item[1])
            )
        except NotFound:
            raise ValidationFailed(f"No app '{item[1]}' in this workspace", field=field) from None
        return identity_pb2.TokenScope(app_id=app.id)
    if len(item) == 3 and item[0] == "schema":
        try:
            schema = await backends.call(
                backends.schema.GetSchema,
                schema_pb2.GetSchemaRequest(ctx=ctx, app_slug=item[1], schema_slug=item[2]),
            )
        except NotFound:
            raise ValidationFailed(
                f"No schema '{item[2]}' in app '{item[1]}' of this workspace", field=field
            ) from None
        return identity_pb2.TokenScope(app_id=schema.app_id, schema_id=schema.id)
    raise ValidationFailed(SCOPE_SHAPE, field=field)


class _Names:
    """Current slugs of the apps and schemas some tokens name, read once per request."""

    def __init__(self, apps: dict[str, str], schemas: dict[str, str]) -> None:
        self.apps = apps
        self.schemas = schemas

    @classmethod
    async def load(
        cls,
        backends: Backends,
        ctx: common_pb2.RequestContext,
        tokens: Iterable[identity_pb2.ApiToken],
    ) -> _Names:
        scoped = [scope for token in tokens for p in token.permissions for scope in p.scopes]
        if not scoped:
            return cls({}, {})
        reply = await backends.call(backends.schema.ListApps, schema_pb2.ListAppsRequest(ctx=ctx))
        apps = {app.id: app.slug for app in reply.apps}
        schemas: dict[str, str] = {}
        for app_id in {scope.app_id for scope in scoped if scope.schema_id}:
            if app_id not in apps:
                continue
            listed = await backends.call(
                backends.schema.ListSchemas,
                schema_pb2.ListSchemasRequest(ctx=ctx, app_slug=apps[app_id]),
            )
            schemas.update({schema.id: schema.slug for schema in listed.schemas})
        return cls(apps, schemas)

    def scope(self, scope: identity_pb2.TokenScope) -> list[str] | None:
        """None once the app or schema is gone (deleted, or in the trash)."""
        app = self.apps.get(scope.app_id)
        if app is None:
            return None
        if not scope.schema_id:
            return ["app", app]
        schema = self.schemas.get(scope.schema_id)
        return None if schema is None else ["schema", app, schema]


async def _present_token(
    backends: Backends, ctx: common_pb2.RequestContext, token: identity_pb2.ApiToken
) -> dict[str, Any]:
    return _token_body(token, await _Names.load(backends, ctx, [token]))


def _token_body(token: identity_pb2.ApiToken, names: _Names) -> dict[str, Any]:
    permissions: dict[str, Any] = {}
    for permission in token.permissions:
        if not permission.scopes:
            permissions[permission.operation] = permission.all
            continue
        shown = [names.scope(scope) for scope in permission.scopes]
        permissions[permission.operation] = [scope for scope in shown if scope is not None]
    return {
        "id": token.id,
        "name": token.name,
        "workspace_id": token.workspace_id,
        "permissions": permissions,
        "created_at": token.created_at,
        "expires_at": token.expires_at or None,
        "last_used_at": token.last_used_at or None,
    }
