"""Refresh tokens rotate on use; signing keys rotate without logging anyone out."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant


def refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/api/user/token-refresh/", json={"refresh_token": token})


def spend_long_ago(stack: Stack, token: str) -> None:
    """As if the token had been rotated 11 seconds ago, past the racing-client grace."""
    with psycopg.connect(database_url(stack, "identity"), autocommit=True) as connection:
        connection.execute(
            "UPDATE refresh_tokens SET rotated_at = now() - interval '11 seconds'"
            " WHERE token_hash = %s",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )


def test_refresh_answers_a_new_refresh_token_and_spends_the_old_one(
    client: httpx.Client, tenant: Tenant
) -> None:
    response = refresh(client, tenant.refresh_token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["refresh_token"] != tenant.refresh_token
    assert body["user"]["id"] == tenant.account_id
    assert client.get("/api/apps", headers={"Authorization": f"JWT {body['token']}"}).is_success
    following = refresh(client, body["refresh_token"])
    assert following.status_code == 200
    assert following.json()["refresh_token"] not in (body["refresh_token"], tenant.refresh_token)


def test_racing_refreshes_of_one_token_get_the_same_successor(
    client: httpx.Client, tenant: Tenant
) -> None:
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: refresh(client, tenant.refresh_token), range(3)))
    # Presented again shortly after, by a client that lost the race.
    responses.append(refresh(client, tenant.refresh_token))

    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    assert refresh(client, responses[0].json()["refresh_token"]).status_code == 200


def test_a_spent_token_reused_later_revokes_the_whole_login(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    successor = refresh(client, tenant.refresh_token).json()["refresh_token"]
    spend_long_ago(stack, tenant.refresh_token)

    reused = refresh(client, tenant.refresh_token)

    assert reused.status_code == 401
    assert reused.json() == {
        "error": {
            "code": "unauthenticated",
            "message": "Refresh token has already been used; log in again",
        }
    }
    for token in (tenant.refresh_token, successor):
        response = refresh(client, token)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Refresh token is invalid or expired"


def test_logging_out_ends_the_login_whichever_of_its_tokens_is_sent(
    client: httpx.Client, tenant: Tenant
) -> None:
    successor = refresh(client, tenant.refresh_token).json()["refresh_token"]

    revoked = client.post("/api/user/token-blacklist/", json={"refresh_token": successor})

    assert revoked.status_code == 204
    assert refresh(client, successor).status_code == 401
    assert refresh(client, tenant.refresh_token).status_code == 401


def jwks(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/.well-known/jwks.json")
    assert response.status_code == 200
    assert "private" not in response.text.lower()
    return dict(response.json())


def test_jwks_publishes_the_signing_keys_as_okp_jwks(client: httpx.Client, tenant: Tenant) -> None:
    keys = jwks(client)["keys"]
    kid = jwt.get_unverified_header(tenant.token)["kid"]

    (signing,) = [key for key in keys if key["kid"] == kid]
    assert signing["kty"] == "OKP"
    assert signing["crv"] == "Ed25519"
    assert signing["alg"] == "EdDSA"
    assert signing["use"] == "sig"
    assert set(signing) == {"kty", "crv", "x", "kid", "alg", "use"}
    # A client can verify the access token with the published key alone.
    public_key = OKPAlgorithm.from_jwk(signing)
    assert isinstance(public_key, Ed25519PublicKey)
    claims = jwt.decode(tenant.token, public_key, algorithms=["EdDSA"], audience="tessera-api")
    assert claims["sub"] == tenant.account_id


def test_rotating_the_signing_key_logs_nobody_out(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    old_kid = jwt.get_unverified_header(tenant.token)["kid"]

    rotated = subprocess.run(
        [sys.executable, "-m", "services.identity", "rotate-signing-key"],
        # What identity runs with: its database, and the key its signing keys are sealed with.
        env={**os.environ, **stack.processes["identity"].env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert rotated.returncode == 0, rotated.stderr
    # The token signed before the rotation still works.
    old = client.get("/api/apps", headers={"Authorization": f"JWT {tenant.token}"})
    assert old.status_code == 200
    login = client.post(
        "/api/user/token-auth/", json={"username": tenant.email, "password": tenant.password}
    )
    new_token = login.json()["token"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    assert client.get("/api/apps", headers={"Authorization": f"JWT {new_token}"}).is_success
    published = {key["kid"] for key in jwks(client)["keys"]}
    assert {old_kid, new_kid} <= published
