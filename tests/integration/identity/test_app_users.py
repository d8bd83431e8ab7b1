"""App end users in identity: sessions resolve to an app_user principal, stored hashed, and
every end of a session is an event the gateways hear."""

from __future__ import annotations

import hashlib

import grpc
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kit.ids import new_id
from tests.integration.identity.support import (
    DEADLINE,
    IdentityStack,
    call_error,
    read_event,
    scalar,
    unique_email,
)

PASSWORD = "end user password"


def visitor(tenant_id: str, app_id: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=tenant_id, app_id=app_id, principal_kind="anonymous", app_role="public"
    )


def sign_up(
    stub: identity_pb2_grpc.IdentityServiceStub, tenant_id: str, app_id: str, **extra: str
) -> identity_pb2.AppSession:
    reply: identity_pb2.AppSession = stub.SignUpAppUser(
        identity_pb2.SignUpAppUserRequest(
            ctx=visitor(tenant_id, app_id), email=unique_email(), password=PASSWORD, **extra
        ),
        timeout=DEADLINE,
    )
    return reply


def resolve(stub: identity_pb2_grpc.IdentityServiceStub, secret: str) -> common_pb2.RequestContext:
    reply = stub.ResolveCredential(
        identity_pb2.ResolveCredentialRequest(secret=secret), timeout=DEADLINE
    )
    ctx: common_pb2.RequestContext = reply.ctx
    return ctx


def test_a_session_resolves_to_its_app_user_and_is_stored_hashed(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    tenant_id, app_id = new_id("ws"), new_id("app")
    opened = sign_up(stub, tenant_id, app_id, default_app_role="power")

    ctx = resolve(stub, opened.token)

    session_id = scalar(
        db_url,
        "SELECT id FROM app_sessions WHERE secret_hash = %s",
        (hashlib.sha256(opened.token.encode()).hexdigest(),),
    )
    assert ctx == common_pb2.RequestContext(
        tenant_id=tenant_id,
        principal_id=opened.user.id,
        principal_kind="app_user",
        account_id=opened.user.id,
        app_id=app_id,
        app_role="power",
        credential_id=session_id,
    )
    assert not scalar(
        db_url, "SELECT count(*) FROM app_sessions WHERE secret_hash = %s", (opened.token,)
    )


def test_signup_needs_the_app_the_gateway_resolved(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    code, error = call_error(
        lambda: stub.SignUpAppUser(
            identity_pb2.SignUpAppUserRequest(
                ctx=common_pb2.RequestContext(), email=unique_email(), password=PASSWORD
            ),
            timeout=DEADLINE,
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert error.message == "App not found"


def test_logout_and_deletion_are_revocation_events(identity: IdentityStack) -> None:
    stub = identity.stub
    tenant_id, app_id = new_id("ws"), new_id("app")
    opened = sign_up(stub, tenant_id, app_id)
    ctx = resolve(stub, opened.token)

    ended = stub.EndAppSession(identity_pb2.EndAppSessionRequest(ctx=ctx), timeout=DEADLINE)

    assert list(ended.session_ids) == [ctx.credential_id]
    event = read_event(identity.bus, f"identity.{tenant_id}.credential.revoked")
    assert event.body["data"] == {
        "credential_id": ctx.credential_id,
        "kind": "app_user",
        "account_id": ctx.principal_id,
    }
    code, _ = call_error(lambda: resolve(stub, opened.token))
    assert code == grpc.StatusCode.UNAUTHENTICATED

    builder = common_pb2.RequestContext(
        tenant_id=tenant_id, principal_id=new_id("acc"), principal_kind="user", role="builder"
    )
    stub.DeleteAppUser(
        identity_pb2.AppUserRequest(ctx=builder, app_id=app_id, app_user_id=opened.user.id),
        timeout=DEADLINE,
    )
    deleted = read_event(identity.bus, f"identity.{tenant_id}.app_user.deleted")
    assert deleted.body["data"]["app_user"]["id"] == opened.user.id
    assert "password" not in str(deleted.body)


def test_only_an_app_user_ends_app_sessions(stub: identity_pb2_grpc.IdentityServiceStub) -> None:
    member = common_pb2.RequestContext(
        tenant_id=new_id("ws"), principal_id=new_id("acc"), principal_kind="user", role="owner"
    )
    code, error = call_error(
        lambda: stub.EndAppSession(identity_pb2.EndAppSessionRequest(ctx=member), timeout=DEADLINE)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert error.message == "Only a signed-in app user may do this"
