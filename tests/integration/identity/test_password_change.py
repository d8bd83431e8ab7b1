"""ChangePassword: the current password is checked like a login's, the new one like a
signup's, and a change ends every login of the account (sessions, refresh tokens, and the
access JWTs before the cutoff that comes with the memberships) while API keys stay."""

from __future__ import annotations

from functools import partial
from typing import Any

import grpc
import jwt
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kit.errors import PermissionDenied, Unauthenticated, ValidationFailed
from tests.integration.identity.support import (
    DEADLINE,
    IdentityStack,
    NewAccount,
    call_error,
    create_account,
    read_event,
    scalar,
)

NEW_PASSWORD = "a brand new passphrase"


def member(account: NewAccount) -> common_pb2.RequestContext:
    """How the gateway sends a signed-in member to an ACCOUNT call."""
    return common_pb2.RequestContext(
        principal_id=account.account.id, principal_kind="user", account_id=account.account.id
    )


def change(
    stub: identity_pb2_grpc.IdentityServiceStub,
    ctx: common_pb2.RequestContext,
    old: str,
    new: str = NEW_PASSWORD,
) -> None:
    stub.ChangePassword(
        identity_pb2.ChangePasswordRequest(ctx=ctx, old_password=old, new_password=new),
        timeout=DEADLINE,
    )


def issue(
    stub: identity_pb2_grpc.IdentityServiceStub, email: str, password: str
) -> identity_pb2.IssueTokensResponse:
    reply: identity_pb2.IssueTokensResponse = stub.IssueTokens(
        identity_pb2.IssueTokensRequest(username=email, password=password), timeout=DEADLINE
    )
    return reply


def open_session(stub: identity_pb2_grpc.IdentityServiceStub, email: str, password: str) -> str:
    reply = stub.CreateSession(
        identity_pb2.CreateSessionRequest(username=email, password=password), timeout=DEADLINE
    )
    return str(reply.session_id)


def cutoff(stub: identity_pb2_grpc.IdentityServiceStub, account: NewAccount) -> int:
    reply = stub.ListMemberships(
        identity_pb2.ListMembershipsRequest(ctx=member(account), account_id=account.account.id),
        timeout=DEADLINE,
    )
    return int(reply.tokens_valid_after)


def issued_at(access_token: str) -> int:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return int(claims["iat"])


def password_hash(db_url: str, account: NewAccount) -> str:
    return str(
        scalar(db_url, "SELECT password_hash FROM accounts WHERE id = %s", (account.account.id,))
    )


def test_a_change_ends_every_login_and_the_new_password_works(
    identity: IdentityStack, stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    account = create_account(stub)
    before = issue(stub, account.email, account.password)
    session_id = open_session(stub, account.email, account.password)
    key = stub.CreateUserKey(identity_pb2.CreateUserKeyRequest(ctx=member(account)))
    assert cutoff(stub, account) == 0

    change(stub, member(account), account.password)

    valid_after = cutoff(stub, account)
    assert valid_after > issued_at(before.access_token)
    code, error = call_error(lambda: issue(stub, account.email, account.password))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert isinstance(error, Unauthenticated)
    code, _ = call_error(
        lambda: stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_id=session_id), timeout=DEADLINE
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, error = call_error(
        lambda: stub.RefreshTokens(
            identity_pb2.RefreshTokensRequest(refresh_token=before.refresh_token),
            timeout=DEADLINE,
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "Refresh token is invalid or expired"
    assert scalar(
        db_url,
        "SELECT bool_and(revoked_at IS NOT NULL) FROM refresh_tokens WHERE account_id = %s",
        (account.account.id,),
    )
    assert scalar(
        db_url,
        "SELECT bool_and(ended_at IS NOT NULL) FROM sessions WHERE account_id = %s",
        (account.account.id,),
    )

    # A login right after the change, within its second, is not taken for an old one.
    after = issue(stub, account.email, NEW_PASSWORD)
    assert issued_at(after.access_token) >= valid_after
    refreshed = stub.RefreshTokens(
        identity_pb2.RefreshTokensRequest(refresh_token=after.refresh_token), timeout=DEADLINE
    )
    assert issued_at(refreshed.access_token) >= valid_after
    stub.ResolveSession(
        identity_pb2.ResolveSessionRequest(
            session_id=open_session(stub, account.email, NEW_PASSWORD)
        ),
        timeout=DEADLINE,
    )
    # The per-user key is another credential: it stays.
    resolved = stub.ResolveCredential(
        identity_pb2.ResolveCredentialRequest(secret=key.secret), timeout=DEADLINE
    )
    assert resolved.ctx.account_id == account.account.id

    event = read_event(identity.bus, f"identity.{account.workspace.id}.credential.revoked")
    assert event.body["data"] == {"account_id": account.account.id, "kind": "account"}
    assert "password" not in str(event.body)


def test_a_wrong_current_password_changes_nothing(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    account = create_account(stub)
    session_id = open_session(stub, account.email, account.password)
    stored = password_hash(db_url, account)

    for wrong in ("not my password", "", "x" * 1000):
        code, error = call_error(partial(change, stub, member(account), wrong))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert isinstance(error, ValidationFailed)
        assert error.field == "old_password"
        assert error.message == "The current password is not correct"

    assert password_hash(db_url, account) == stored
    assert cutoff(stub, account) == 0
    stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_id=session_id))
    issue(stub, account.email, account.password)


def test_the_new_password_is_checked_like_a_signup(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    account = create_account(stub)
    stored = password_hash(db_url, account)

    for bad, message in (
        ("short", "Password must be at least 8 characters"),
        ("y" * 257, "Password must be at most 256 characters"),
    ):
        code, error = call_error(partial(change, stub, member(account), account.password, bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.field == "new_password"
        assert error.message == message

    assert password_hash(db_url, account) == stored
    assert cutoff(stub, account) == 0


def test_only_the_account_itself_changes_its_password(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    account = create_account(stub)
    for kind in ("api_token", "admin_token", "app_user", "anonymous"):
        ctx = common_pb2.RequestContext(
            tenant_id=account.workspace.id,
            principal_id=account.account.id,
            principal_kind=kind,
            account_id=account.account.id,
        )
        code, error = call_error(partial(change, stub, ctx, account.password))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert isinstance(error, PermissionDenied)
    issue(stub, account.email, account.password)
