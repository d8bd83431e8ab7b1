"""Factories for members and the credentials they make, through the gateway."""

from __future__ import annotations

from typing import Any

from tests.factories.accounts import Tenant


def members_path(workspace_id: str, account_id: str | None = None) -> str:
    path = f"/api/workspaces/{workspace_id}/members/"
    return f"{path}{account_id}/" if account_id else path


def join(owner: Tenant, member: Tenant, role: str) -> None:
    """Adds `member`'s account to `owner`'s workspace with `role`."""
    response = owner.post(
        members_path(owner.workspace_id), json={"email": member.email, "role": role}
    )
    assert response.status_code == 201, response.text


def set_role(owner: Tenant, member: Tenant, role: str) -> None:
    response = owner.patch(members_path(owner.workspace_id, member.account_id), json={"role": role})
    assert response.status_code == 200, response.text


def in_workspace(workspace_id: str) -> dict[str, str]:
    return {"X-Workspace": workspace_id}


def create_token(tenant: Tenant, *, workspace_id: str | None = None, **body: Any) -> dict[str, Any]:
    """An API token (the response, secret included under "token")."""
    payload = {"name": "Integration", "permissions": {"read": True}, **body}
    headers = in_workspace(workspace_id) if workspace_id else {}
    response = tenant.post("/api/tokens", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def token_auth(secret: str, scheme: str = "Token") -> dict[str, str]:
    return {"Authorization": f"{scheme} {secret}"}


def create_api_key(tenant: Tenant) -> str:
    """The account's per-user API key, made (or replaced) now."""
    response = tenant.post("/api/user/api-key")
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


def create_admin_token(
    tenant: Tenant, *, workspace_id: str | None = None, **body: Any
) -> dict[str, Any]:
    """An admin token (the response, secret included under "token")."""
    headers = in_workspace(workspace_id) if workspace_id else {}
    response = tenant.post("/api/admin-tokens", json={"name": "Backend", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


# Every record operation on every app and schema of the workspace.
ALL_RECORDS = {"create": True, "read": True, "update": True, "delete": True}
