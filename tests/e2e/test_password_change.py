"""Changing the password (Baserow's POST /api/user/change-password/): every login of the
account ends, the caller's own included (sessions, refresh tokens, access JWTs issued
before), while API tokens and the per-user key stay; bad input changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import create_token, token_auth

PATH = "/api/user/change-password/"
NEW_PASSWORD = "a brand new passphrase"


def jwt_auth(token: str) -> dict[str, str]:
    return {"Authorization": f"JWT {token}"}


def change(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return client.post(PATH, json=body, headers=headers)


def log_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/user/token-auth/", json={"username": email, "password": password})


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error.get("field") == field
    return str(error["message"])


@pytest.fixture
def session_id(stack: Stack, tenant: Tenant) -> str:
    with httpx.Client(base_url=stack.gateway_url) as http:
        response = http.post(
            "/auth/login/", json={"username": tenant.email, "password": tenant.password}
        )
    assert response.status_code == 200, response.text
    return str(response.cookies["sessionid"])


def test_a_change_ends_every_login_but_keeps_api_tokens_and_the_api_key(
    client: httpx.Client, tenant: Tenant, session_id: str
) -> None:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    records = records_path(app["slug"])
    token = create_token(tenant)
    api_key = tenant.post("/api/user/api-key").json()["api_key"]
    old_jwt = jwt_auth(tenant.token)
    assert client.get("/api/apps", headers=old_jwt).status_code == 200

    changed = change(
        client, old_jwt, {"old_password": tenant.password, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204, changed.text
    assert changed.content == b""

    # The JWT is refused at once, on workspace routes and on the account's own alike.
    for path in ("/api/apps", "/api/workspaces/"):
        refused = client.get(path, headers=old_jwt)
        assert assert_error(refused, 401) == "Access token has been revoked"
    cookie = client.get("/api/apps", headers={"Cookie": f"sessionid={session_id}"})
    assert_error(cookie, 401)
    refresh = client.post("/api/user/token-refresh/", json={"refresh_token": tenant.refresh_token})
    assert_error(refresh, 401)
    assert_error(log_in(client, tenant.email, tenant.password), 401)

    new_login = log_in(client, tenant.email, NEW_PASSWORD)
    assert new_login.status_code == 200, new_login.text
    new_jwt = jwt_auth(new_login.json()["token"])
    assert client.get("/api/apps", headers=new_jwt).status_code == 200
    assert client.get("/api/workspaces/", headers=new_jwt).status_code == 200
    refreshed = client.post(
        "/api/user/token-refresh/", json={"refresh_token": new_login.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert client.get("/api/apps", headers=jwt_auth(refreshed.json()["token"])).status_code == 200

    assert client.get(records, headers=token_auth(token["token"])).status_code == 200
    assert client.get(records, headers={"X-Api-Key": api_key}).status_code == 200


def test_a_wrong_current_password_is_400_and_changes_nothing(
    client: httpx.Client, tenant: Tenant, session_id: str
) -> None:
    headers = jwt_auth(tenant.token)
    for wrong in ("not my password", ""):
        refused = change(client, headers, {"old_password": wrong, "new_password": NEW_PASSWORD})
        assert assert_error(refused, 400, "old_password") == "The current password is not correct"

    assert client.get("/api/apps", headers=headers).status_code == 200
    assert client.get("/api/apps", headers={"Cookie": f"sessionid={session_id}"}).status_code == 200
    assert log_in(client, tenant.email, tenant.password).status_code == 200
    assert_error(log_in(client, tenant.email, NEW_PASSWORD), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"old_password": "correct horse battery", "new_password": "short"}, "new_password"),
        ({"old_password": "correct horse battery", "new_password": "n" * 257}, "new_password"),
        ({"old_password": "correct horse battery"}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "old_password"),
        ({"old_password": "correct horse battery", "new_password": 12345678}, "new_password"),
        (
            {"old_password": "correct horse battery", "new_password": NEW_PASSWORD, "x": 1},
            "x",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(
    client: httpx.Client, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    assert tenant.password == "correct horse battery"
    headers = jwt_auth(tenant.token)

    assert_error(change(client, headers, body), 400, field)

    assert client.get("/api/apps", headers=headers).status_code == 200
    assert log_in(client, tenant.email, tenant.password).status_code == 200


def test_api_and_admin_tokens_cannot_change_the_password_and_no_one_without_credentials(
    client: httpx.Client, tenant: Tenant
) -> None:
    body = {"old_password": tenant.password, "new_password": NEW_PASSWORD}
    api_token = create_token(tenant, permissions={"create": True, "read": True})["token"]
    admin_token = tenant.post("/api/admin-tokens", json={"name": "Backend"}).json()["token"]

    assert_error(change(client, token_auth(api_token), body), 403)
    assert_error(change(client, token_auth(admin_token, "Bearer"), body), 403)
    assert_error(change(client, {}, body), 401)

    assert log_in(client, tenant.email, tenant.password).status_code == 200


def test_the_api_key_may_change_the_password_and_outlives_it(
    client: httpx.Client, tenant: Tenant
) -> None:
    api_key = {"X-Api-Key": tenant.post("/api/user/api-key").json()["api_key"]}

    changed = change(
        client, api_key, {"old_password": tenant.password, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204, changed.text

    assert client.get("/api/apps", headers=api_key).status_code == 200
    assert_error(client.get("/api/apps", headers=jwt_auth(tenant.token)), 401)
    assert log_in(client, tenant.email, NEW_PASSWORD).status_code == 200


def test_a_cookie_session_changing_the_password_is_logged_out(stack: Stack, tenant: Tenant) -> None:
    with httpx.Client(base_url=stack.gateway_url) as browser:
        login = browser.post(
            "/auth/login/", json={"username": tenant.email, "password": tenant.password}
        )
        assert login.status_code == 200
        csrf = {"X-CSRFToken": login.json()["csrf_token"]}

        changed = browser.post(
            PATH,
            json={"old_password": tenant.password, "new_password": NEW_PASSWORD},
            headers=csrf,
        )
        assert changed.status_code == 204, changed.text
        cleared = "\n".join(changed.headers.get_list("set-cookie"))
        assert 'sessionid=""' in cleared
        assert 'csrftoken=""' in cleared

        assert_error(browser.get("/api/apps"), 401)
        relogin = browser.post(
            "/auth/login/", json={"username": tenant.email, "password": NEW_PASSWORD}
        )
        assert relogin.status_code == 200
        assert browser.get("/api/apps").status_code == 200
