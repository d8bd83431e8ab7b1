"""API tokens: issued once, stored hashed, scoped by grants, bounded by their creator's
current role, expiring, rotating and revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.devstack.stack import Stack
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import create_token, in_workspace, join, members_path, set_role
from tests.factories.credentials import token_auth as auth
from tests.support.db import scalar
from tests.support.wait import eventually


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant, name="CRM", slug="crm")
    create_schema(tenant, app["slug"])
    create_schema(tenant, app["slug"], name="Deals", slug="deals")
    return str(app["slug"])


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(
    stack: Stack, tenant: Tenant, crm: str
) -> None:
    created = create_token(
        tenant,
        name="Zapier",
        permissions={"create": [["app", crm]], "read": True, "update": [["schema", crm, "deals"]]},
    )

    secret = created["token"]
    assert secret.startswith("tsr_tok_")
    assert created["name"] == "Zapier"
    assert created["workspace_id"] == tenant.workspace_id
    assert created["permissions"] == {
        "create": [["app", crm]],
        "read": True,
        "update": [["schema", crm, "deals"]],
        "delete": False,
    }
    assert created["expires_at"] is None
    assert created["last_used_at"] is None
    listed = tenant.get("/api/tokens")
    assert listed.status_code == 200
    assert secret not in listed.text
    assert [t["id"] for t in listed.json()["tokens"]] == [created["id"]]
    stored = scalar(
        database_url(stack, "identity"),
        "SELECT count(*) FROM api_tokens WHERE secret_hash = %s OR permissions::text LIKE %s",
        secret,
        f"%{secret}%",
    )
    assert stored == 0


def test_it_authenticates_as_token_and_as_bearer(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    secret = create_token(tenant)["token"]

    for scheme in ("Token", "Bearer"):
        response = client.get(records_path(crm), headers=auth(secret, scheme))
        assert response.status_code == 200, response.text


def test_permissions_show_the_current_slugs_after_a_rename(tenant: Tenant, crm: str) -> None:
    token = create_token(tenant, permissions={"read": [["schema", crm, "contacts"], ["app", crm]]})

    renamed = tenant.patch(f"/api/apps/{crm}", json={"slug": "sales"})
    assert renamed.status_code == 200, renamed.text

    shown = tenant.get(f"/api/tokens/{token['id']}").json()
    assert shown["permissions"]["read"] == [["schema", "sales", "contacts"], ["app", "sales"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"permissions": {"read": [["app", "no-such-app"]]}}, "permissions.read"),
        ({"permissions": {"create": [["schema", "crm", "nope"]]}}, "permissions.create"),
        ({"permissions": {"read": [["table", "crm"]]}}, "permissions.read"),
        ({"permissions": {"read": "yes"}}, "permissions.read"),
        ({"permissions": {"delete": [["app", 7]]}}, "permissions.delete"),
        ({"permissions": {"delete": ["app"]}}, "permissions.delete"),
        ({"permissions": {"list": True}}, "permissions.list"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "next tuesday"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(
    tenant: Tenant, crm: str, body: dict[str, Any], field: str
) -> None:
    response = tenant.post("/api/tokens", json={"name": "T", **body})

    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert tenant.get("/api/tokens").json()["tokens"] == []


def test_unknown_and_malformed_tokens_are_401(client: httpx.Client, crm: str) -> None:
    for secret in ("tsr_tok_" + "x" * 43, "tsr_nope_abc", "garbage"):
        response = client.get(records_path(crm), headers=auth(secret))
        assert response.status_code == 401, secret
        assert response.json()["error"]["code"] == "unauthenticated"


def test_a_read_token_reads_but_does_not_write(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    secret = create_token(tenant, permissions={"read": True})["token"]

    assert client.get(records_path(crm), headers=auth(secret)).status_code == 200
    # Tokens reach records only: designing apps is for members.
    assert client.get("/api/apps", headers=auth(secret)).status_code == 403


def test_a_token_without_a_grant_is_refused_that_operation(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    secret = create_token(tenant, permissions={"read": True})["token"]

    created = client.post(records_path(crm), json={"name": "X"}, headers=auth(secret))
    assert created.status_code == 403


def test_a_grant_on_one_schema_does_not_reach_another(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    secret = create_token(
        tenant, permissions={"create": [["schema", crm, "contacts"]], "read": [["app", crm]]}
    )["token"]

    ok = client.post(records_path(crm), json={"name": "X"}, headers=auth(secret))
    assert ok.status_code == 201, ok.text
    refused = client.post(records_path(crm, "deals"), json={"name": "X"}, headers=auth(secret))
    assert refused.status_code == 403


def test_a_full_token_does_every_operation(client: httpx.Client, tenant: Tenant, crm: str) -> None:
    secret = create_token(
        tenant,
        permissions={"create": True, "read": [["app", crm]], "update": True, "delete": True},
    )["token"]
    path = records_path(crm)

    created = client.post(path, json={"name": "X"}, headers=auth(secret))
    assert created.status_code == 201, created.text
    record = f"{path}/{created.json()['id']}"
    assert client.get(record, headers=auth(secret)).status_code == 200
    assert client.patch(record, json={"name": "Y"}, headers=auth(secret)).status_code == 200
    assert client.delete(record, headers=auth(secret)).status_code in (200, 204)


def test_another_workspaces_ids_are_not_found(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = create_app(other_tenant)
    create_schema(other_tenant, theirs["slug"])
    record = other_tenant.post(records_path(theirs["slug"]), json={"name": "Secret"}).json()
    secret = create_token(tenant, permissions={"read": True, "delete": True})["token"]

    assert client.get(records_path(theirs["slug"]), headers=auth(secret)).status_code == 404
    path = f"{records_path(theirs['slug'])}/{record['id']}"
    assert client.get(path, headers=auth(secret)).status_code == 404
    assert client.delete(path, headers=auth(secret)).status_code == 404
    their_token = create_token(other_tenant)
    assert tenant.get(f"/api/tokens/{their_token['id']}").status_code == 404
    assert tenant.delete(f"/api/tokens/{their_token['id']}").status_code == 404
    assert client.get("/api/apps", headers=auth(their_token["token"])).status_code == 403


def test_a_token_never_holds_more_than_its_creator_now(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    editor = sign_up(client, name="Editor")
    join(tenant, editor, "editor")
    secret = create_token(
        editor, workspace_id=tenant.workspace_id, permissions={"create": True, "read": True}
    )["token"]
    path = records_path(crm)
    assert client.post(path, json={"name": "A"}, headers=auth(secret)).status_code == 201

    set_role(tenant, editor, "viewer")

    refused = client.post(path, json={"name": "B"}, headers=auth(secret))
    assert refused.status_code == 403
    assert client.get(path, headers=auth(secret)).status_code == 200

    removed = tenant.delete(members_path(tenant.workspace_id, editor.account_id))
    assert removed.status_code == 204
    assert client.get(path, headers=auth(secret)).status_code == 401
    # Added back, the member starts without the old tokens.
    join(tenant, editor, "editor")
    assert client.get(path, headers=auth(secret)).status_code == 401


def test_rotate_issues_a_new_secret_and_the_old_stops(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    token = create_token(tenant)
    path = records_path(crm)
    assert client.get(path, headers=auth(token["token"])).status_code == 200

    rotated = tenant.post(f"/api/tokens/{token['id']}/rotate")

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["id"] == token["id"]
    assert rotated.json()["token"] != token["token"]
    assert client.get(path, headers=auth(token["token"])).status_code == 401
    assert client.get(path, headers=auth(rotated.json()["token"])).status_code == 200


def test_patch_changes_name_and_permissions(client: httpx.Client, tenant: Tenant, crm: str) -> None:
    token = create_token(tenant, permissions={"read": True})

    patched = tenant.patch(
        f"/api/tokens/{token['id']}",
        json={"name": "Renamed", "permissions": {"read": [["app", crm]]}},
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["permissions"] == {
        "create": False,
        "read": [["app", crm]],
        "update": False,
        "delete": False,
    }
    renamed_only = tenant.patch(f"/api/tokens/{token['id']}", json={"name": "Again"})
    assert renamed_only.json()["permissions"]["read"] == [["app", crm]]
    bad = tenant.patch(f"/api/tokens/{token['id']}", json={"permissions": {"read": [["app", "x"]]}})
    assert bad.status_code == 400
    assert tenant.get(f"/api/tokens/{token['id']}").json()["name"] == "Again"


def test_delete_revokes(client: httpx.Client, tenant: Tenant, crm: str) -> None:
    token = create_token(tenant)
    assert client.get(records_path(crm), headers=auth(token["token"])).status_code == 200

    assert tenant.delete(f"/api/tokens/{token['id']}").status_code == 204

    assert client.get(records_path(crm), headers=auth(token["token"])).status_code == 401
    assert tenant.get(f"/api/tokens/{token['id']}").status_code == 404
    assert tenant.delete(f"/api/tokens/{token['id']}").status_code == 404


def test_an_expired_token_is_refused(client: httpx.Client, tenant: Tenant, crm: str) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    token = create_token(tenant, expires_at=expires.isoformat())
    assert token["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))
    path = records_path(crm)
    assert client.get(path, headers=auth(token["token"])).status_code == 200

    eventually(
        lambda: client.get(path, headers=auth(token["token"])).status_code == 401,
        timeout=10.0,
        interval=0.2,
    )
    assert datetime.now(UTC) >= expires


def test_last_used_at_is_set_after_use(client: httpx.Client, tenant: Tenant, crm: str) -> None:
    token = create_token(tenant)
    before = datetime.now(UTC) - timedelta(seconds=1)

    assert client.get(records_path(crm), headers=auth(token["token"])).status_code == 200

    shown = tenant.get(f"/api/tokens/{token['id']}").json()
    assert shown["last_used_at"] is not None
    assert datetime.fromisoformat(shown["last_used_at"]) >= before


def test_tokens_cannot_manage_credentials_or_see_other_workspaces(
    client: httpx.Client, tenant: Tenant, crm: str
) -> None:
    second = tenant.post("/api/workspaces/", json={"name": "Second"}).json()
    secret = create_token(tenant, permissions={"create": True, "read": True})["token"]
    headers = auth(secret)

    for method, path in [
        ("POST", "/api/tokens"),
        ("GET", "/api/tokens"),
        ("POST", "/api/user/api-key"),
        ("DELETE", "/api/user/api-key"),
        ("POST", "/api/workspaces/"),
    ]:
        response = client.request(method, path, json={"name": "X"}, headers=headers)
        assert response.status_code == 403, (method, path)
        assert "not an API token" in response.json()["error"]["message"]
    assert client.get("/api/admin-tokens", headers=headers).status_code == 403
    assert client.get("/api/users", headers=headers).status_code == 403
    workspaces = client.get("/api/workspaces/", headers=headers)
    assert workspaces.status_code == 200
    assert [w["id"] for w in workspaces.json()] == [tenant.workspace_id]
    assert second["id"] not in workspaces.text
    # X-Workspace does not move a token out of its workspace.
    moved = client.get(records_path(crm), headers={**headers, **in_workspace(second["id"])})
    assert moved.status_code == 200
