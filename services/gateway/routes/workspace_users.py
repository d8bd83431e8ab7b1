"""The users API as Budibase's public API has it, over the caller's workspace: every
response wraps its result in `data`. Creating a user creates the account when no account
has the email; deleting one removes it from the workspace, not the account. Owners and
admins only (identity's USERS_MANAGE)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from tessera.identity.v1 import identity_pb2

from services.gateway import presenters, shapes
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.deps import AuthenticatorDep, BackendsDep, ContextDep
from services.gateway.openapi import json_body, returns
from services.gateway.routes.members import forget_member
from services.kit.errors import ValidationFailed

router = APIRouter(prefix="/api/users", tags=["Users API"])

DEFAULT_ROLE = "viewer"


class NewUser(StrictInput):
    email: str
    role: str = DEFAULT_ROLE
    # Only for an account created here; an existing account keeps its own.
    name: str | None = None
    password: str | None = None


class UserChange(StrictInput):
    name: str | None = None
    role: str | None = None


class UserSearch(StrictInput):
    # Budibase searches by "name"; either key matches the start of a name or an email.
    name: str | None = None
    email: str | None = None


@router.get("", **returns(shapes.WorkspaceUsers))
async def list_users(ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.ListUsers, identity_pb2.ListMembersRequest(ctx=ctx)
    )
    return {"data": [presenters.workspace_user(m) for m in reply.members]}


@router.post("", **returns(shapes.WorkspaceUserBody, status=201), openapi_extra=json_body(NewUser))
async def create_user(request: Request, ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    body = await parse_json(request, NewUser)
    reply = await backends.call(
        backends.identity.CreateUser,
        identity_pb2.CreateUserRequest(
            ctx=ctx,
            email=body.email,
            role=body.role,
            name=body.name or "",
            password=body.password or "",
        ),
    )
    return {"data": presenters.workspace_user(reply)}


@router.post("/search", **returns(shapes.WorkspaceUsers), openapi_extra=json_body(UserSearch))
async def search_users(request: Request, ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    body = await parse_json(request, UserSearch)
    prefix = body.name if body.name is not None else body.email
    if prefix is None:
        raise ValidationFailed("Give 'name' (the start of a name or an email)", field="name")
    reply = await backends.call(
        backends.identity.ListUsers, identity_pb2.ListMembersRequest(ctx=ctx, prefix=prefix)
    )
    return {"data": [presenters.workspace_user(m) for m in reply.members]}


@router.get("/{user_id}", **returns(shapes.WorkspaceUserBody))
async def get_user(user_id: str, ctx: ContextDep, backends: BackendsDep) -> dict[str, Any]:
    reply = await backends.call(
        backends.identity.GetUser, identity_pb2.GetMemberRequest(ctx=ctx, account_id=user_id)
    )
    return {"data": presenters.workspace_user(reply)}


@router.patch(
    "/{user_id}", **returns(shapes.WorkspaceUserBody), openapi_extra=json_body(UserChange)
)
async def update_user(
    user_id: str,
    request: Request,
    ctx: ContextDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> dict[str, Any]:
    body = await parse_json(request, UserChange)
    change = identity_pb2.UpdateMemberRequest(ctx=ctx, account_id=user_id)
    if body.name is not None:
        change.name = body.name
    if body.role is not None:
        change.role = body.role
    reply = await backends.call(backends.identity.UpdateUser, change)
    forget_member(authenticator, user_id)
    return {"data": presenters.workspace_user(reply)}


@router.delete("/{user_id}", **returns(shapes.WorkspaceUserBody))
async def delete_user(
    user_id: str, ctx: ContextDep, backends: BackendsDep, authenticator: AuthenticatorDep
) -> dict[str, Any]:
    """Answers with the user as it was, as Budibase does."""
    user = await backends.call(
        backends.identity.GetUser, identity_pb2.GetMemberRequest(ctx=ctx, account_id=user_id)
    )
    await backends.call(
        backends.identity.RemoveUser, identity_pb2.RemoveMemberRequest(ctx=ctx, account_id=user_id)
    )
    forget_member(authenticator, user_id)
    return {"data": presenters.workspace_user(user)}
