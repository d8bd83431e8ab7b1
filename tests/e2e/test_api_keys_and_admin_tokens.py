"""The per-user API key (Budibase's) and admin tokens (Bubble's)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import in_workspace, join, members_path, set_role
from tests.factories.credentials import token_auth as auth


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    return str(app["slug"])


def api_key(tenant: Tenant) -> str:
    response = tenant.post("/api/user/api-key")
    assert response.status_code == 201, response.text
    secret = str(response.json()["api_key"])
    assert secret.startswith("tsr_key_")
    return secret


def test_an_api_key_acts_as_its_user_in_the_workspace_it_picks(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    secret = api_key(tenant)
    second = tenant.post("/api/workspaces/", json={"name": "Second"}).json()
    made = tenant.post(
        "/api/apps",
        json={"name": "Elsewhere", "slug": "elsewhere"},
        headers=in_workspace(second["id"]),
    )
    assert made.status_code == 201, made.text

    for headers in ({"X-Api-Key": secret}, auth(secret, "Bearer")):
        apps = client.get("/api/apps", headers=headers)
        assert apps.status_code == 200, apps.text
        assert [a["slug"] for a in apps.json()["apps"]] == [crm]
        created = client.post(records_path(crm), json={"name": "By key"}, headers=headers)
        assert created.status_code == 201
        elsewhere = client.get("/api/apps", headers={**headers, **in_workspace(second["id"])})
        assert [a["slug"] for a in elsewhere.json()["apps"]] == ["elsewhere"]
    # The user's own account routes, and making API tokens, work with the key.
    workspaces = client.get("/api/workspaces/", headers={"X-Api-Key": secret})
    assert {w["id"] for w in workspaces.json()} == {tenant.workspace_id, second["id"]}
    token = client.post("/api/tokens", json={"name": "From key"}, headers={"X-Api-Key": secret})
    assert token.status_code == 201, token.text


def test_regenerating_replaces_the_key_and_deleting_removes_it(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    first = api_key(tenant)
    second = api_key(tenant)

    assert first != second
    assert client.get("/api/apps", headers={"X-Api-Key": first}).status_code == 401
    assert client.get("/api/apps", headers={"X-Api-Key": second}).status_code == 200

    assert tenant.delete("/api/user/api-key").status_code == 204
    assert client.get("/api/apps", headers={"X-Api-Key": second}).status_code == 401
    assert tenant.delete("/api/user/api-key").status_code == 404


def test_a_keys_rights_follow_its_users_role(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    member = sign_up(client, name="Keyholder")
    join(tenant, member, "editor")
    headers = {"X-Api-Key": api_key(member), **in_workspace(tenant.workspace_id)}
    path = records_path(crm)
    assert client.post(path, json={"name": "A"}, headers=headers).status_code == 201

    set_role(tenant, member, "viewer")
    assert client.post(path, json={"name": "B"}, headers=headers).status_code == 403
    assert client.get(path, headers=headers).status_code == 200

    tenant.delete(members_path(tenant.workspace_id, member.account_id))
    assert client.get(path, headers=headers).status_code == 404


def admin_token(tenant: Tenant, **body: object) -> dict[str, object]:
    response = tenant.post("/api/admin-tokens", json={"name": "Backend", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_an_admin_token_has_full_access_to_the_workspaces_apps(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    token = admin_token(tenant, bypass_privacy_rules=True)
    secret = str(token["token"])
    assert secret.startswith("tsr_adm_")
    assert token["bypass_privacy_rules"] is True
    assert token["created_by"] == tenant.account_id
    headers = auth(secret, "Bearer")

    assert client.get("/api/apps", headers=headers).status_code == 200
    made = client.post("/api/apps", json={"name": "By admin token"}, headers=headers)
    assert made.status_code == 201, made.text
    created = client.post(records_path(crm), json={"name": "X"}, headers=headers)
    assert created.status_code == 201
    record = f"{records_path(crm)}/{created.json()['id']}"
    assert client.patch(record, json={"name": "Y"}, headers=headers).status_code == 200
    assert client.delete(record, headers=headers).status_code in (200, 204)
    # It is for the apps, not for the workspace's people or credentials.
    assert client.get("/api/users", headers=headers).status_code == 403
    assert client.get(members_path(tenant.workspace_id), headers=headers).status_code == 403
    assert client.post("/api/admin-tokens", json={"name": "n"}, headers=headers).status_code == 403
    assert client.get("/api/tokens", headers=headers).status_code == 403

    listed = tenant.get("/api/admin-tokens").json()["admin_tokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert secret not in str(listed)


def test_only_owners_and_admins_make_admin_tokens_and_they_die_with_that_role(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    admin = sign_up(client, name="Admin")
    builder = sign_up(client, name="Builder")
    join(tenant, admin, "admin")
    join(tenant, builder, "builder")
    here = in_workspace(tenant.workspace_id)

    refused = builder.post("/api/admin-tokens", json={"name": "n"}, headers=here)
    assert refused.status_code == 403
    assert builder.get("/api/admin-tokens", headers=here).status_code == 403
    made = admin.post("/api/admin-tokens", json={"name": "n"}, headers=here)
    assert made.status_code == 201
    headers = auth(made.json()["token"])
    assert client.get(records_path(crm), headers=headers).status_code == 200

    set_role(tenant, admin, "editor")
    assert client.get(records_path(crm), headers=headers).status_code == 401
    set_role(tenant, admin, "admin")
    assert client.get(records_path(crm), headers=headers).status_code == 200


def test_deleting_an_admin_token_revokes_it(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, crm: str
) -> None:
    token = admin_token(tenant)
    headers = auth(str(token["token"]))
    assert client.get(records_path(crm), headers=headers).status_code == 200

    assert other_tenant.delete(f"/api/admin-tokens/{token['id']}").status_code == 404
    assert tenant.delete(f"/api/admin-tokens/{token['id']}").status_code == 204

    assert client.get(records_path(crm), headers=headers).status_code == 401
    assert tenant.get("/api/admin-tokens").json()["admin_tokens"] == []
