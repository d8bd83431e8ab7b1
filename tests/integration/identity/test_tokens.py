from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from typing import Any

import grpc
import jwt
from argon2 import PasswordHasher
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity.tokens import decode_access_token
from services.kit.errors import Unauthenticated
from tests.integration.identity.support import (
    DEADLINE,
    IdentityStack,
    call_error,
    create_account,
    scalar,
    unique_email,
)
from tests.support.trust import aio_gateway_channel


def _issue(
    stub: identity_pb2_grpc.IdentityServiceStub, username: str, password: str
) -> identity_pb2.IssueTokensResponse:
    reply: identity_pb2.IssueTokensResponse = stub.IssueTokens(
        identity_pb2.IssueTokensRequest(username=username, password=password), timeout=DEADLINE
    )
    return reply


def _verify(stub: identity_pb2_grpc.IdentityServiceStub, token: str) -> dict[str, Any]:
    published = stub.GetSigningKeys(identity_pb2.GetSigningKeysRequest(), timeout=DEADLINE)
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [key for key in published.keys if key.kid == kid]
    assert key.algorithm == "EdDSA"
    return decode_access_token(
        token, key.public_key_pem, issuer=published.issuer, audience=published.audience
    )


def test_issued_access_token_verifies_with_a_published_key(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    created = create_account(stub)
    issued = _issue(stub, f" {created.email.upper()} ", created.password)

    assert issued.expires_in == 3600
    assert issued.account == created.account
    assert issued.refresh_token
    claims = _verify(stub, issued.access_token)
    assert claims["sub"] == created.account.id
    assert claims["iss"] == "tessera"
    assert claims["aud"] == "tessera-api"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 120


def test_wrong_password_and_unknown_email_fail_alike(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    created = create_account(stub)

    wrong_code, wrong = call_error(lambda: _issue(stub, created.email, "not the password"))
    unknown_code, unknown = call_error(lambda: _issue(stub, unique_email(), created.password))
    malformed_code, malformed = call_error(lambda: _issue(stub, "nobody", ""))

    assert wrong_code == unknown_code == malformed_code == grpc.StatusCode.UNAUTHENTICATED
    for error in (wrong, unknown, malformed):
        assert isinstance(error, Unauthenticated)
        assert error.message == "Invalid email or password"
        assert error.field is None


def _refresh(
    stub: identity_pb2_grpc.IdentityServiceStub, token: str
) -> identity_pb2.IssueTokensResponse:
    reply: identity_pb2.IssueTokensResponse = stub.RefreshTokens(
        identity_pb2.RefreshTokensRequest(refresh_token=token), timeout=DEADLINE
    )
    return reply


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_refresh_token_is_stored_hashed_and_rotates_on_use(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    issued = _issue(stub, created.email, created.password)
    assert scalar(
        db_url,
        "SELECT account_id FROM refresh_tokens WHERE token_hash = %s",
        (_hash(issued.refresh_token),),
    ) == (created.account.id)
    assert not scalar(
        db_url, "SELECT count(*) FROM refresh_tokens WHERE token_hash = %s", (issued.refresh_token,)
    )

    refreshed = _refresh(stub, issued.refresh_token)

    assert refreshed.refresh_token != issued.refresh_token
    assert refreshed.access_token != issued.access_token
    assert refreshed.account == created.account
    assert _verify(stub, refreshed.access_token)["sub"] == created.account.id
    # The successor is stored hashed too, in the same family; its secret appears nowhere.
    families = {
        scalar(db_url, "SELECT family_id FROM refresh_tokens WHERE token_hash = %s", (_hash(t),))
        for t in (issued.refresh_token, refreshed.refresh_token)
    }
    assert len(families) == 1
    assert None not in families
    assert not scalar(
        db_url,
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = %s"
        " OR position(convert_to(%s, 'UTF8') in coalesce(sealed_successor, ''::bytea)) > 0",
        (refreshed.refresh_token, refreshed.refresh_token),
    )
    # The successor rotates in turn.
    assert _refresh(stub, refreshed.refresh_token).refresh_token != refreshed.refresh_token


def test_a_spent_token_presented_again_within_the_grace_gets_the_same_successor(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    created = create_account(stub)
    issued = _issue(stub, created.email, created.password)

    first = _refresh(stub, issued.refresh_token)
    again = _refresh(stub, issued.refresh_token)

    assert again.refresh_token == first.refresh_token
    assert _verify(stub, again.access_token)["sub"] == created.account.id
    assert _refresh(stub, first.refresh_token).refresh_token


def test_simultaneous_refreshes_of_one_token_share_one_successor(
    identity: IdentityStack, db_url: str
) -> None:
    created = create_account(identity.stub)
    issued = _issue(identity.stub, created.email, created.password)

    async def race() -> list[str]:
        assert identity.pki is not None
        async with aio_gateway_channel(identity.pki, identity.address, "identity") as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            replies = await asyncio.gather(
                *(
                    stub.RefreshTokens(
                        identity_pb2.RefreshTokensRequest(refresh_token=issued.refresh_token),
                        timeout=DEADLINE,
                    )
                    for _ in range(4)
                )
            )
        return [reply.refresh_token for reply in replies]

    successors = asyncio.run(race())

    assert len(set(successors)) == 1
    family = scalar(
        db_url,
        "SELECT family_id FROM refresh_tokens WHERE token_hash = %s",
        (_hash(issued.refresh_token),),
    )
    assert (
        scalar(db_url, "SELECT count(*) FROM refresh_tokens WHERE family_id = %s", (family,)) == 2
    )


def test_a_spent_token_presented_after_the_grace_revokes_its_whole_family(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    issued = _issue(stub, created.email, created.password)
    other_login = _issue(stub, created.email, created.password)
    successor = _refresh(stub, issued.refresh_token)
    scalar(
        db_url,
        "UPDATE refresh_tokens SET rotated_at = now() - interval '11 seconds'"
        " WHERE token_hash = %s RETURNING 1",
        (_hash(issued.refresh_token),),
    )

    code, error = call_error(lambda: _refresh(stub, issued.refresh_token))

    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "Refresh token has already been used; log in again"
    for token in (issued.refresh_token, successor.refresh_token):
        code, error = call_error(functools.partial(_refresh, stub, token))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert error.message == "Refresh token is invalid or expired"
    # Another login of the same account is another family and lives on.
    assert _refresh(stub, other_login.refresh_token).refresh_token


def test_revoking_a_refresh_token_ends_its_login(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    created = create_account(stub)
    issued = _issue(stub, created.email, created.password)
    successor = _refresh(stub, issued.refresh_token)

    stub.RevokeRefreshToken(
        identity_pb2.RevokeRefreshTokenRequest(refresh_token=issued.refresh_token),
        timeout=DEADLINE,
    )

    for token in (issued.refresh_token, successor.refresh_token):
        code, error = call_error(functools.partial(_refresh, stub, token))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert error.message == "Refresh token is invalid or expired"


def test_unknown_and_expired_refresh_tokens_fail(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    issued = _issue(stub, created.email, created.password)
    token_hash = hashlib.sha256(issued.refresh_token.encode()).hexdigest()
    scalar(
        db_url,
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = %s RETURNING 1",
        (token_hash,),
    )

    def refresh(token: str) -> identity_pb2.IssueTokensResponse:
        reply: identity_pb2.IssueTokensResponse = stub.RefreshTokens(
            identity_pb2.RefreshTokensRequest(refresh_token=token), timeout=DEADLINE
        )
        return reply

    for token in ("", "never-issued", issued.refresh_token):
        code, error = call_error(functools.partial(refresh, token))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert isinstance(error, Unauthenticated)


def test_revoking_an_unknown_refresh_token_is_not_an_error(
    stub: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    stub.RevokeRefreshToken(
        identity_pb2.RevokeRefreshTokenRequest(refresh_token="never-issued"), timeout=DEADLINE
    )


def test_login_upgrades_a_hash_made_with_weaker_parameters(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    created = create_account(stub)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(created.password)
    scalar(
        db_url,
        "UPDATE accounts SET password_hash = %s WHERE id = %s RETURNING 1",
        (weak, created.account.id),
    )

    _issue(stub, created.email, created.password)

    upgraded = scalar(
        db_url, "SELECT password_hash FROM accounts WHERE id = %s", (created.account.id,)
    )
    assert upgraded != weak
    assert not PasswordHasher().check_needs_rehash(upgraded)
    _issue(stub, created.email, created.password)
