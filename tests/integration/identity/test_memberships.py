from __future__ import annotations

import functools

import grpc
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kit.errors import PermissionDenied
from tests.integration.identity.support import (
    DEADLINE,
    call_error,
    create_account,
    database,
)


def _list(
    stub: identity_pb2_grpc.IdentityServiceStub, principal_id: str, account_id: str
) -> identity_pb2.ListMembershipsResponse:
    ctx = common_pb2.RequestContext(principal_id=principal_id, principal_kind="user")
    reply: identity_pb2.ListMembershipsResponse = stub.ListMemberships(
        identity_pb2.ListMembershipsRequest(ctx=ctx, account_id=account_id), timeout=DEADLINE
    )
    return reply


def test_an_account_lists_its_own_workspaces_oldest_first(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    other = create_account(stub, name="Colleague")
    # The colleague invites the account to their workspace later on.
    with database(db_url) as connection:
        connection.execute(
            "INSERT INTO memberships (tenant_id, account_id, role, created_at)"
            " VALUES (%s, %s, 'editor', now() + interval '1 minute')",
            (other.workspace.id, created.account.id),
        )

    listed = _list(stub, created.account.id, created.account.id)

    assert [(m.workspace, m.role) for m in listed.memberships] == [
        (created.workspace, "owner"),
        (other.workspace, "editor"),
    ]


def test_another_accounts_workspaces_are_not_listed(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    created = create_account(stub)
    other = create_account(stub, name="Stranger")

    for principal in (other.account.id, ""):
        code, error = call_error(functools.partial(_list, stub, principal, created.account.id))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert isinstance(error, PermissionDenied)
        assert error.code == "permission_denied"
