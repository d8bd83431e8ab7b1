"""Revocation reaches every gateway within a second: two gateway processes share the
services and NATS; a credential both have cached is revoked through one, and the other
refuses it before the second is out (it hears identity's event and drops its cache)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import create_token, in_workspace, join, members_path, set_role
from tests.factories.credentials import token_auth as auth
from tests.support.wait import eventually

# What the issue promises: revoked at every replica within one second.
DEADLINE_SECONDS = 1.0


@pytest.fixture(scope="module")
def second_gateway(stack: Stack) -> Iterator[httpx.Client]:
    with stack.another_gateway() as url, httpx.Client(base_url=url, timeout=30.0) as http:
        yield http


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    return str(app["slug"])


def refused_within_a_second(
    gateway: httpx.Client, path: str, headers: dict[str, str], status: int = 401
) -> None:
    eventually(
        lambda: gateway.get(path, headers=headers).status_code == status,
        timeout=DEADLINE_SECONDS,
        interval=0.02,
    )


def served_by_both(
    client: httpx.Client, second_gateway: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    for gateway in (client, second_gateway):
        response = gateway.get(path, headers=headers)
        assert response.status_code == 200, response.text


def test_a_deleted_token_is_refused_by_the_other_gateway_within_a_second(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    token = create_token(tenant)
    headers = auth(token["token"])
    path = records_path(crm)
    served_by_both(client, second_gateway, path, headers)

    assert tenant.delete(f"/api/tokens/{token['id']}").status_code == 204

    refused_within_a_second(second_gateway, path, headers)


def test_a_rotated_tokens_old_secret_is_refused_by_the_other_gateway(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    token = create_token(tenant)
    headers = auth(token["token"])
    path = records_path(crm)
    served_by_both(client, second_gateway, path, headers)

    rotated = tenant.post(f"/api/tokens/{token['id']}/rotate")
    assert rotated.status_code == 200

    refused_within_a_second(second_gateway, path, headers)
    assert second_gateway.get(path, headers=auth(rotated.json()["token"])).status_code == 200


def test_a_regenerated_api_key_is_refused_by_the_other_gateway(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    old = tenant.post("/api/user/api-key").json()["api_key"]
    headers = {"X-Api-Key": old}
    served_by_both(client, second_gateway, "/api/apps", headers)

    assert tenant.post("/api/user/api-key").status_code == 201

    refused_within_a_second(second_gateway, "/api/apps", headers)


def test_a_deleted_admin_token_is_refused_by_the_other_gateway(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    made = tenant.post("/api/admin-tokens", json={"name": "Backend"}).json()
    headers = auth(made["token"], "Bearer")
    served_by_both(client, second_gateway, records_path(crm), headers)

    assert tenant.delete(f"/api/admin-tokens/{made['id']}").status_code == 204

    refused_within_a_second(second_gateway, records_path(crm), headers)


def test_a_role_change_and_a_removal_reach_the_other_gateway(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    member = sign_up(client, name="Member")
    join(tenant, member, "editor")
    token = create_token(member, workspace_id=tenant.workspace_id, permissions={"read": True})
    token_headers = auth(token["token"])
    jwt_headers = {"Authorization": f"JWT {member.token}", **in_workspace(tenant.workspace_id)}
    path = records_path(crm)
    served_by_both(client, second_gateway, "/api/users", {"Authorization": f"JWT {tenant.token}"})
    served_by_both(client, second_gateway, path, token_headers)
    served_by_both(client, second_gateway, path, jwt_headers)
    set_role(tenant, member, "admin")
    eventually(
        lambda: second_gateway.get("/api/users", headers=jwt_headers).status_code == 200,
        timeout=DEADLINE_SECONDS,
        interval=0.02,
    )

    removed = tenant.delete(members_path(tenant.workspace_id, member.account_id))
    assert removed.status_code == 204

    refused_within_a_second(second_gateway, path, token_headers)
    refused_within_a_second(second_gateway, path, jwt_headers, status=404)


def test_a_password_change_reaches_the_other_gateway_within_a_second(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    jwt_headers = {"Authorization": f"JWT {tenant.token}"}
    # Both gateways have verified the JWT and hold the account's memberships.
    served_by_both(client, second_gateway, records_path(crm), jwt_headers)
    served_by_both(client, second_gateway, "/api/workspaces/", jwt_headers)

    changed = client.post(
        "/api/user/change-password/",
        json={"old_password": tenant.password, "new_password": "a brand new passphrase"},
        headers=jwt_headers,
    )
    assert changed.status_code == 204, changed.text

    refused_within_a_second(second_gateway, records_path(crm), jwt_headers)
    refused_within_a_second(second_gateway, "/api/workspaces/", jwt_headers)
    new_login = second_gateway.post(
        "/api/user/token-auth/",
        json={"username": tenant.email, "password": "a brand new passphrase"},
    )
    new_headers = {"Authorization": f"JWT {new_login.json()['token']}"}
    served_by_both(client, second_gateway, records_path(crm), new_headers)


def log_in(gateway: httpx.Client, tenant: Tenant) -> dict[str, str]:
    """A cookie session's header, as AppBuilder's curl examples send it."""
    response = gateway.post(
        "/auth/login/", json={"username": tenant.email, "password": tenant.password}
    )
    assert response.status_code == 200, response.text
    return {"Cookie": f"sessionid={response.cookies['sessionid']}"}


def test_a_logout_through_one_gateway_is_refused_by_the_other_within_a_second(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    cookie = log_in(client, tenant)
    kept = log_in(client, tenant)
    # Both gateways now hold the sessions.
    served_by_both(client, second_gateway, records_path(crm), cookie)
    served_by_both(client, second_gateway, records_path(crm), kept)

    assert client.post("/auth/logout/", headers=cookie).status_code == 200

    assert client.get(records_path(crm), headers=cookie).status_code == 401
    refused_within_a_second(second_gateway, records_path(crm), cookie)
    served_by_both(client, second_gateway, records_path(crm), kept)


def test_a_password_change_ends_cookie_sessions_at_the_other_gateway_within_a_second(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    cookie = log_in(second_gateway, tenant)
    served_by_both(client, second_gateway, records_path(crm), cookie)

    changed = tenant.post(
        "/api/user/change-password/",
        json={"old_password": tenant.password, "new_password": "a brand new passphrase"},
    )
    assert changed.status_code == 204, changed.text

    refused_within_a_second(second_gateway, records_path(crm), cookie)


def test_a_removed_members_cookie_session_loses_the_workspace_at_the_other_gateway(
    client: httpx.Client, second_gateway: httpx.Client, tenant: Tenant, crm: str
) -> None:
    member = sign_up(client, name="Member")
    join(tenant, member, "editor")
    cookie = {**log_in(client, member), **in_workspace(tenant.workspace_id)}
    served_by_both(client, second_gateway, records_path(crm), cookie)

    removed = tenant.delete(members_path(tenant.workspace_id, member.account_id))
    assert removed.status_code == 204

    refused_within_a_second(second_gateway, records_path(crm), cookie, status=404)
    own = {"Cookie": cookie["Cookie"]}
    assert second_gateway.get("/api/workspaces/", headers=own).status_code == 200
