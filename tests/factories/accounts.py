"""Typed factories for accounts: sign up through the gateway and log in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Tenant:
    """A signed-up account with a JWT, acting in its first workspace."""

    email: str
    password: str
    name: str
    account_id: str
    workspace_id: str
    workspace_slug: str
    token: str
    refresh_token: str
    client: httpx.Client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self._auth(kwargs), **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers=self._auth(kwargs), **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, headers=self._auth(kwargs), **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.patch(path, headers=self._auth(kwargs), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, headers=self._auth(kwargs), **kwargs)

    def request_delete_json(self, path: str, body: Any) -> httpx.Response:
        """DELETE with a JSON body, which httpx's delete() does not take."""
        return self.client.request("DELETE", path, json=body, headers=self._auth({}))

    def _auth(self, kwargs: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"JWT {self.token}", **kwargs.pop("headers", {})}


def unique_domain(prefix: str = "sso") -> str:
    """A mail domain nobody else in the suite claims (single sign-on claims domains)."""
    return f"{prefix}-{secrets.token_hex(4)}.test"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


def sign_up(
    client: httpx.Client,
    *,
    name: str = "Ada Lovelace",
    password: str = "correct horse battery",
    email: str | None = None,
) -> Tenant:
    email = email or unique_email()
    created = client.post("/api/user/", json={"name": name, "email": email, "password": password})
    assert created.status_code in (200, 201), created.text
    tokens = client.post("/api/user/token-auth/", json={"username": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    body = created.json()
    return Tenant(
        email=email,
        password=password,
        name=name,
        account_id=body["user"]["id"],
        workspace_id=body["workspace"]["id"],
        workspace_slug=body["workspace"]["slug"],
        token=tokens.json()["token"],
        refresh_token=tokens.json()["refresh_token"],
        client=client,
    )
