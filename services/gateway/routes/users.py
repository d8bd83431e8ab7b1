"""Accounts and JWTs, as Baserow documents them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from tessera.identity.v1 import identity_pb2

from services.gateway import presenters, shapes
from services.gateway.auth import clear_session_cookies, request_origin
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.deps import AccountCallerDep, AuthenticatorDep, BackendsDep, CallerDep
from services.gateway.openapi import json_body, returns
from services.kit.access import Kind
from services.kit.errors import ValidationFailed

router = APIRouter(prefix="/api", tags=["Accounts"])


class NewAccount(StrictInput):
    name: str
    email: str
    password: str


class Credentials(StrictInput):
    username: str | None = None
    # Baserow accepts the address under either key.
    email: str | None = None
    password: str


class RefreshRequest(StrictInput):
    refresh_token: str | None = None
    # Older Baserow clients send the refresh token as "token".
    token: str | None = None

    def value(self) -> str:
        given = self.refresh_token or self.token
        if not given:
            raise ValidationFailed("Field 'refresh_token' is required", field="refresh_token")
        return given


class NewWorkspace(StrictInput):
    name: str


class RevokeRequest(StrictInput):
    refresh_token: str


class PasswordChange(StrictInput):
    old_password: str
    new_password: str


@router.post("/user/", **returns(shapes.SignedUp), openapi_extra=json_body(NewAccount))
async def create_account(request: Request, backends: BackendsDep) -> dict[str, Any]:
    body = await parse_json(request, NewAccount)
    reply = await backends.call(
        backends.identity.CreateAccount,
        identity_pb2.CreateAccountRequest(
            name=body.name,
            email=body.email,
            password=body.password,
            ctx=request_origin(request),
        ),
    )
    return {
        "user": presenters.user(reply.account),
        "workspace": presenters.workspace(reply.workspace, "owner"),
    }


@router.post("/user/token-auth/", **returns(shapes.Tokens), openapi_extra=json_body(Credentials))
async def token_auth(request: Request, backends: BackendsDep) -> shapes.Tokens:
    body = await parse_json(request, Credentials)
    username = body.username or body.email
    if not username:
        raise ValidationFailed("Field 'username' is required", field="username")
    reply = await backends.call(
        backends.identity.IssueTokens,
        identity_pb2.IssueTokensRequest(
            username=username, password=body.password, ctx=request_origin(request)
        ),
    )
    return presenters.tokens(reply.access_token, reply.refresh_token, reply.account)


@router.post(
    "/user/token-refresh/", **returns(shapes.Tokens), openapi_extra=json_body(RefreshRequest)
)
async def token_refresh(request: Request, backends: BackendsDep) -> shapes.Tokens:
    body = await parse_json(request, RefreshRequest)
    reply = await backends.call(
        backends.identity.RefreshTokens,
        identity_pb2.RefreshTokensRequest(refresh_token=body.value(), ctx=request_origin(request)),
    )
    # The refresh token rotates: the one sent is spent, the body carries its successor.
    return presenters.tokens(reply.access_token, reply.refresh_token, reply.account)


@router.post("/user/token-blacklist/", status_code=204, openapi_extra=json_body(RevokeRequest))
async def token_blacklist(request: Request, backends: BackendsDep) -> Response:
    body = await parse_json(request, RevokeRequest)
    await backends.call(
        backends.identity.RevokeRefreshToken,
        identity_pb2.RevokeRefreshTokenRequest(
            refresh_token=body.refresh_token, ctx=request_origin(request)
        ),
    )
    return Response(status_code=204)


@router.post("/user/change-password/", status_code=204, openapi_extra=json_body(PasswordChange))
async def change_password(
    request: Request,
    caller: AccountCallerDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> Response:
    """Every login of the account ends, this one included (as in Baserow): sessions,
    refresh tokens, and access JWTs issued before now, at every gateway within a second.
    The client logs in again with the new password. API tokens and the per-user key stay."""
    body = await parse_json(request, PasswordChange)
    await backends.call(
        backends.identity.ChangePassword,
        identity_pb2.ChangePasswordRequest(
            ctx=caller.account_context(request),
            old_password=body.old_password,
            new_password=body.new_password,
        ),
    )
    # Read-your-writes here: the new cutoff comes with the memberships. Identity's event
    # clears the other gateways.
    authenticator.memberships.forget(caller.account_id)
    response = Response(status_code=204)
    if caller.via == "session":
        clear_session_cookies(response)
    return response


@router.get("/workspaces/", **returns(list[shapes.Workspace]))
async def list_workspaces(
    caller: CallerDep, authenticator: AuthenticatorDep
) -> list[shapes.Workspace]:
    memberships = await authenticator.memberships_of(caller)
    if not caller.acts_as_account and not caller.workspace_scope:
        # A token knows its own workspace, never the other workspaces of its creator.
        assert caller.resolved is not None
        memberships = [m for m in memberships if m.workspace.id == caller.resolved.tenant_id]
    return [presenters.workspace(m.workspace, m.role) for m in memberships]


@router.post("/workspaces/", **returns(shapes.Workspace), openapi_extra=json_body(NewWorkspace))
async def create_workspace(
    request: Request,
    caller: AccountCallerDep,
    authenticator: AuthenticatorDep,
    backends: BackendsDep,
) -> shapes.Workspace:
    body = await parse_json(request, NewWorkspace)
    ctx = request_origin(request)
    ctx.principal_id, ctx.principal_kind = caller.account_id, Kind.USER
    membership = await backends.call(
        backends.identity.CreateWorkspace,
        identity_pb2.CreateWorkspaceRequest(ctx=ctx, name=body.name),
    )
    # Read-your-writes on this gateway; the member event clears the others.
    authenticator.memberships.forget(caller.account_id)
    return presenters.workspace(membership.workspace, membership.role)
