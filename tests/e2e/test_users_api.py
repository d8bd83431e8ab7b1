"""The users API (Budibase's public API shapes) over the caller's workspace."""

from __future__ import annotations

import httpx
import pytest

from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.credentials import in_workspace, join


def test_creating_a_user_creates_the_account_and_adds_it_with_the_role(
    tenant: Tenant, client: httpx.Client
) -> None:
    email = unique_email("newcomer")

    created = tenant.post(
        "/api/users",
        json={"email": email, "name": "Newcomer", "password": "a fine password", "role": "editor"},
    )

    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert user["email"] == email
    assert user["name"] == "Newcomer"
    assert user["role"] == "editor"
    assert user["_id"] == user["id"]
    assert "password" not in created.text
    login = client.post(
        "/api/user/token-auth/", json={"username": email, "password": "a fine password"}
    )
    assert login.status_code == 200
    jwt = {"Authorization": f"JWT {login.json()['token']}"}
    workspaces = client.get("/api/workspaces/", headers=jwt).json()
    assert [(w["id"], w["role"]) for w in workspaces] == [(tenant.workspace_id, "editor")]


def test_creating_a_user_for_an_existing_account_adds_it_and_keeps_its_password(
    tenant: Tenant, client: httpx.Client
) -> None:
    existing = sign_up(client, name="Existing")

    created = tenant.post(
        "/api/users", json={"email": existing.email, "password": "another password", "name": "X"}
    )

    assert created.status_code == 201, created.text
    assert created.json()["data"]["id"] == existing.account_id
    assert created.json()["data"]["name"] == "Existing"
    assert created.json()["data"]["role"] == "viewer"
    relogin = client.post(
        "/api/user/token-auth/", json={"username": existing.email, "password": existing.password}
    )
    assert relogin.status_code == 200
    again = tenant.post("/api/users", json={"email": existing.email})
    assert again.status_code == 409


def test_list_get_search_update_and_delete(tenant: Tenant, client: httpx.Client) -> None:
    ada = tenant.post(
        "/api/users", json={"email": unique_email("ada"), "name": "Ada Byron", "role": "builder"}
    ).json()["data"]
    alan = tenant.post(
        "/api/users", json={"email": unique_email("alan"), "name": "Alan Turing"}
    ).json()["data"]

    listed = tenant.get("/api/users")
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()["data"]] == [tenant.account_id, ada["id"], alan["id"]]
    assert tenant.get(f"/api/users/{ada['id']}").json()["data"] == ada
    by_name = tenant.post("/api/users/search", json={"name": "alan t"}).json()["data"]
    assert [u["id"] for u in by_name] == [alan["id"]]
    by_email = tenant.post("/api/users/search", json={"name": "ADA-"}).json()["data"]
    assert [u["id"] for u in by_email] == [ada["id"]]
    assert tenant.post("/api/users/search", json={"email": "%"}).json()["data"] == []

    patched = tenant.patch(
        f"/api/users/{alan['id']}", json={"name": "A. M. Turing", "role": "admin"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["name"] == "A. M. Turing"
    assert patched.json()["data"]["role"] == "admin"

    deleted = tenant.delete(f"/api/users/{alan['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["data"]["id"] == alan["id"]
    assert tenant.get(f"/api/users/{alan['id']}").status_code == 404
    assert [u["id"] for u in tenant.get("/api/users").json()["data"]] == [
        tenant.account_id,
        ada["id"],
    ]
    # The account itself stays: it can be added again.
    assert (
        tenant.post("/api/users", json={"email": alan["email"]}).json()["data"]["id"] == alan["id"]
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"email": "ok@example.com", "role": "root"}, "role"),
        ({"email": "short@example.com", "password": "short"}, "password"),
        ({"email": "extra@example.com", "admin": True}, "admin"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    tenant: Tenant, body: dict[str, object], field: str
) -> None:
    response = tenant.post("/api/users", json=body)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert len(tenant.get("/api/users").json()["data"]) == 1


def test_only_owners_and_admins_use_it(tenant: Tenant, client: httpx.Client) -> None:
    builder = sign_up(client, name="Builder")
    admin = sign_up(client, name="Admin")
    join(tenant, builder, "builder")
    join(tenant, admin, "admin")
    here = in_workspace(tenant.workspace_id)

    assert builder.get("/api/users", headers=here).status_code == 403
    assert (
        builder.post("/api/users", json={"email": unique_email()}, headers=here).status_code == 403
    )
    assert admin.get("/api/users", headers=here).status_code == 200
    made = admin.post("/api/users", json={"email": unique_email(), "role": "editor"}, headers=here)
    assert made.status_code == 201
    # Owners are for owners to make and unmake.
    owner_made = admin.post(
        "/api/users", json={"email": unique_email(), "role": "owner"}, headers=here
    )
    assert owner_made.status_code == 403
    assert admin.delete(f"/api/users/{tenant.account_id}", headers=here).status_code == 403
    assert tenant.delete(f"/api/users/{tenant.account_id}").status_code == 409


def test_another_workspaces_user_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = f"/api/users/{other_tenant.account_id}"

    assert tenant.get(theirs).status_code == 404
    assert tenant.patch(theirs, json={"name": "Hijacked"}).status_code == 404
    assert tenant.delete(theirs).status_code == 404
    assert other_tenant.get(f"/api/users/{other_tenant.account_id}").json()["data"]["name"] == (
        other_tenant.name
    )
