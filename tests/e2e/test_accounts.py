"""Accounts and JWTs as Baserow documents them."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, unique_email
from tests.support.db import scalar

PASSWORD = "correct horse battery"


def accounts_with(stack: Stack, email: str) -> int:
    return int(
        scalar(
            database_url(stack, "identity"), "SELECT count(*) FROM accounts WHERE email = %s", email
        )
    )


def test_sign_up_creates_account_and_first_workspace(client: httpx.Client) -> None:
    email = unique_email()
    response = client.post(
        "/api/user/", json={"name": "Bram", "email": email, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "Bram"
    assert body["user"]["id"].startswith("acc_")
    assert body["workspace"]["id"].startswith("ws_")
    assert body["workspace"]["role"] == "owner"
    assert "password" not in response.text


def test_duplicate_email_is_rejected_and_nothing_is_written(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    response = client.post(
        "/api/user/", json={"name": "Other", "email": tenant.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert response.json()["error"]["field"] == "email"
    assert accounts_with(stack, tenant.email) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"name": "A", "email": "EMAIL", "password": "short"}, "password"),
        ({"name": "", "email": "EMAIL", "password": PASSWORD}, "name"),
        ({"name": 42, "email": "EMAIL", "password": PASSWORD}, "name"),
        ({"email": "EMAIL", "password": PASSWORD}, "name"),
        ({"name": "A", "email": "EMAIL", "password": PASSWORD, "admin": True}, "admin"),
    ],
)
def test_sign_up_validation_errors_write_nothing(
    client: httpx.Client, stack: Stack, body: dict[str, object], field: str
) -> None:
    email = unique_email()
    if body.get("email") == "EMAIL":
        body = {**body, "email": email}
    response = client.post("/api/user/", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["message"]
    assert accounts_with(stack, email) == 0


def test_malformed_and_oversized_bodies_get_the_envelope(client: httpx.Client) -> None:
    not_json = client.post(
        "/api/user/", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "validation_error"

    not_object = client.post("/api/user/", json=["a", "b"])
    assert not_object.status_code == 400

    huge = client.post("/api/user/", content=b'{"name":"' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"


def test_token_auth_returns_a_60_minute_jwt_and_a_refresh_token(
    client: httpx.Client, tenant: Tenant
) -> None:
    response = client.post(
        "/api/user/token-auth/", json={"username": tenant.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == tenant.account_id
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 120
    assert jwt.get_unverified_header(body["token"])["alg"] == "EdDSA"
    assert body["refresh_token"]
    assert body["user"]["email"] == tenant.email


def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.Client, tenant: Tenant
) -> None:
    wrong = client.post(
        "/api/user/token-auth/", json={"username": tenant.email, "password": "wrong password"}
    )
    unknown = client.post(
        "/api/user/token-auth/", json={"username": unique_email(), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize("scheme", ["JWT", "Bearer"])
def test_both_authorization_schemes_are_accepted(
    client: httpx.Client, tenant: Tenant, scheme: str
) -> None:
    response = client.get("/api/workspaces/", headers={"Authorization": f"{scheme} {tenant.token}"})
    assert response.status_code == 200
    workspaces = response.json()
    assert isinstance(workspaces, list)
    assert [w["id"] for w in workspaces] == [tenant.workspace_id]
    assert workspaces[0]["role"] == "owner"


@pytest.mark.parametrize(
    "authorization",
    [None, "JWT not-a-token", "Token abc", "Bearer", "JWT eyJhbGciOiJFZERTQSJ9.e30.c2ln"],
)
def test_missing_or_bad_credentials_are_401(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/apps", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_tampered_token_is_rejected(client: httpx.Client, tenant: Tenant) -> None:
    header, payload, signature = tenant.token.split(".")
    forged = jwt.encode(
        {"sub": "acc_someone_else"}, "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256"
    )
    response = client.get("/api/apps", headers={"Authorization": f"JWT {forged}"})
    assert response.status_code == 401
    flipped = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    response = client.get("/api/apps", headers={"Authorization": f"JWT {flipped}"})
    assert response.status_code == 401


def test_refresh_issues_a_new_access_token(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post("/api/user/token-refresh/", json={"refresh_token": tenant.refresh_token})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get("/api/apps", headers={"Authorization": f"JWT {token}"}).status_code == 200


def test_revoked_refresh_token_no_longer_works(client: httpx.Client, tenant: Tenant) -> None:
    revoked = client.post(
        "/api/user/token-blacklist/", json={"refresh_token": tenant.refresh_token}
    )
    assert revoked.status_code == 204
    response = client.post("/api/user/token-refresh/", json={"refresh_token": tenant.refresh_token})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_refresh_with_garbage_is_401(client: httpx.Client) -> None:
    response = client.post("/api/user/token-refresh/", json={"refresh_token": "garbage"})
    assert response.status_code == 401
