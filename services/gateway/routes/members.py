"""A workspace's members (Baserow's workspace users): list, add an existing account by
email, change a role, remove. Identity enforces who may (admins and owners change members;
only owners touch owners; the last owner stays)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from tessera.identity.v1 import identity_pb2

from services.gateway import presenters, shapes
from services.gateway.auth import Authenticator
from services.gateway.bodies import StrictInput, parse_json
from services.gateway.deps import AuthenticatorDep, BackendsDep, WorkspaceContextDep
from services.gateway.openapi import json_body, returns

router = APIRouter(prefix="/api/workspaces/{workspace_id}/members", tags=["Members"])


class NewMember(StrictInput):
    email: str
    role: str


class MemberChange(StrictInput):
    role: str


@router.get("/", **returns(list[shapes.Member]))
async def list_members(ctx: WorkspaceContextDep, backends: BackendsDep) -> list[shapes.Member]:
    reply = await backends.call(
        backends.identity.ListMembers, identity_pb2.ListMembersRequest(ctx=ctx)
    )
    return [presenters.member(m) for m in reply.members]


@router.post("/", **returns(shapes.Member, status=201), openapi_extra=json_body(NewMember))
async def add_member(
    request: Request,
    ctx: WorkspaceContextDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> shapes.Member:
    body = await parse_json(request, NewMember)
    reply = await backends.call(
        backends.identity.AddMember,
        identity_pb2.AddMemberRequest(ctx=ctx, email=body.email, role=body.role),
    )
    forget_member(authenticator, reply.account.id)
    return presenters.member(reply)


@router.get("/{account_id}/", **returns(shapes.Member))
async def get_member(
    account_id: str, ctx: WorkspaceContextDep, backends: BackendsDep
) -> shapes.Member:
    reply = await backends.call(
        backends.identity.GetMember, identity_pb2.GetMemberRequest(ctx=ctx, account_id=account_id)
    )
    return presenters.member(reply)


@router.patch("/{account_id}/", **returns(shapes.Member), openapi_extra=json_body(MemberChange))
async def change_member(
    account_id: str,
    request: Request,
    ctx: WorkspaceContextDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> shapes.Member:
    body = await parse_json(request, MemberChange)
    reply = await backends.call(
        backends.identity.UpdateMember,
        identity_pb2.UpdateMemberRequest(ctx=ctx, account_id=account_id, role=body.role),
    )
    forget_member(authenticator, account_id)
    return presenters.member(reply)


@router.delete("/{account_id}/", status_code=204)
async def remove_member(
    account_id: str,
    ctx: WorkspaceContextDep,
    backends: BackendsDep,
    authenticator: AuthenticatorDep,
) -> Response:
    await backends.call(
        backends.identity.RemoveMember,
        identity_pb2.RemoveMemberRequest(ctx=ctx, account_id=account_id),
    )
    forget_member(authenticator, account_id)
    return Response(status_code=204)


def forget_member(authenticator: Authenticator, account_id: str) -> None:
    """Read-your-writes on this gateway; identity's member event clears the others."""
    authenticator.memberships.forget(account_id)
    authenticator.credentials.forget(account_id=account_id)
