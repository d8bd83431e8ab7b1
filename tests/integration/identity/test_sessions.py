from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import grpc
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kit.errors import Unauthenticated
from tests.integration.identity.support import (
    DEADLINE,
    IdentityStack,
    call_error,
    create_account,
    read_event,
    scalar,
)


def _open(
    stub: identity_pb2_grpc.IdentityServiceStub, username: str, password: str
) -> identity_pb2.CreateSessionResponse:
    reply: identity_pb2.CreateSessionResponse = stub.CreateSession(
        identity_pb2.CreateSessionRequest(username=username, password=password), timeout=DEADLINE
    )
    return reply


def _resolve(
    stub: identity_pb2_grpc.IdentityServiceStub, session_id: str
) -> identity_pb2.ResolveSessionResponse:
    reply: identity_pb2.ResolveSessionResponse = stub.ResolveSession(
        identity_pb2.ResolveSessionRequest(session_id=session_id), timeout=DEADLINE
    )
    return reply


def _end(stub: identity_pb2_grpc.IdentityServiceStub, session_id: str) -> None:
    stub.EndSession(identity_pb2.EndSessionRequest(session_id=session_id), timeout=DEADLINE)


def _assert_session_invalid(stub: identity_pb2_grpc.IdentityServiceStub, session_id: str) -> None:
    code, error = call_error(lambda: _resolve(stub, session_id))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert isinstance(error, Unauthenticated)
    assert error.message == "Session has expired or ended"


def test_session_lifecycle(stub: identity_pb2_grpc.IdentityServiceStub, db_url: str) -> None:
    created = create_account(stub)
    opened = _open(stub, created.email.upper(), created.password)

    assert opened.session_id
    assert opened.csrf_token
    assert opened.account == created.account
    expires_at = datetime.fromisoformat(opened.expires_at)
    assert opened.expires_at.endswith("Z")
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=2)
    id_hash = hashlib.sha256(opened.session_id.encode()).hexdigest()
    assert scalar(db_url, "SELECT account_id FROM sessions WHERE id_hash = %s", (id_hash,)) == (
        created.account.id
    )

    resolved = _resolve(stub, opened.session_id)
    assert resolved.account == created.account
    assert resolved.csrf_token == opened.csrf_token

    _end(stub, opened.session_id)
    assert scalar(
        db_url, "SELECT ended_at IS NOT NULL FROM sessions WHERE id_hash = %s", (id_hash,)
    )
    _assert_session_invalid(stub, opened.session_id)
    _end(stub, opened.session_id)


def test_unknown_empty_and_expired_sessions_are_rejected(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    opened = _open(stub, created.email, created.password)
    scalar(
        db_url,
        "UPDATE sessions SET expires_at = now() - interval '1 second'"
        " WHERE id_hash = %s RETURNING 1",
        (hashlib.sha256(opened.session_id.encode()).hexdigest(),),
    )

    _assert_session_invalid(stub, opened.session_id)
    _assert_session_invalid(stub, "never-issued")
    _assert_session_invalid(stub, "")


def test_ending_an_unknown_session_is_not_an_error(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    _end(stub, "never-issued")
    _end(stub, "")


def test_session_login_with_a_wrong_password_opens_nothing(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    code, error = call_error(lambda: _open(stub, created.email, "not the password"))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "Invalid email or password"
    assert (
        scalar(db_url, "SELECT count(*) FROM sessions WHERE account_id = %s", (created.account.id,))
        == 0
    )


def test_session_start_and_end_are_published(identity: IdentityStack) -> None:
    created = create_account(identity.stub)
    opened = _open(identity.stub, created.email, created.password)
    _end(identity.stub, opened.session_id)

    prefix = f"identity.{created.workspace.id}.session"
    started = read_event(identity.bus, f"{prefix}.started")
    ended = read_event(identity.bus, f"{prefix}.ended")
    assert started.body["data"] == {"account_id": created.account.id}
    assert ended.body["data"] == {"account_id": created.account.id}
    assert opened.session_id not in str(started.body) + str(ended.body)


def test_ending_a_session_is_announced_in_every_workspace_of_the_account(
    identity: IdentityStack,
) -> None:
    """Gateways cache sessions and drop an account's when they hear a revocation."""
    created = create_account(identity.stub)
    as_member = common_pb2.RequestContext(
        principal_id=created.account.id, principal_kind="user", account_id=created.account.id
    )
    second: identity_pb2.Membership = identity.stub.CreateWorkspace(
        identity_pb2.CreateWorkspaceRequest(ctx=as_member, name="Second"), timeout=DEADLINE
    )
    opened = _open(identity.stub, created.email, created.password)
    _end(identity.stub, opened.session_id)

    for workspace_id in (created.workspace.id, second.workspace.id):
        event = read_event(identity.bus, f"identity.{workspace_id}.credential.revoked")
        assert event.body["data"] == {"account_id": created.account.id, "kind": "session"}
        assert opened.session_id not in str(event.body)
