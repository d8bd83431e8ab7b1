"""The CSRF decision and workspace selection, without I/O."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from tessera.identity.v1 import identity_pb2

from services.gateway.auth import Authenticator, _select_workspace
from services.gateway.config import GatewaySettings
from services.kit.errors import NotFound, PermissionDenied

TOKEN = "s3cret-token"


def request(method: str, headers: dict[str, str]) -> Request:
    raw = [
        (k.lower().encode(), v.encode()) for k, v in {"host": "api.example.com", **headers}.items()
    ]
    return Request(
        {
            "type": "http",
            "method": method,
            "scheme": "https",
            "path": "/api/apps",
            "headers": raw,
            "query_string": b"",
        }
    )


def check(method: str, headers: dict[str, str], allowed: list[str] | None = None) -> None:
    settings = GatewaySettings(allowed_origins=allowed or [])
    Authenticator(settings, backends=None)._check_csrf(request(method, headers), TOKEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {"content-type": "application/json"}),
        (
            "POST",
            {
                "content-type": "application/json; charset=utf-8",
                "origin": "https://api.example.com",
            },
        ),
        ("POST", {"content-type": "text/plain", "x-csrftoken": TOKEN}),
        ("DELETE", {}),
        ("PATCH", {"content-type": "application/json"}),
    ],
)
def test_writes_a_cross_site_page_cannot_forge_pass(method: str, headers: dict[str, str]) -> None:
    check(method, headers)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {"content-type": "application/x-www-form-urlencoded"}),
        ("POST", {"content-type": "multipart/form-data; boundary=x"}),
        ("POST", {"content-type": "text/plain"}),
        ("POST", {}),
        ("POST", {"content-type": "application/json", "origin": "https://evil.example"}),
        ("DELETE", {"origin": "https://evil.example"}),
        ("POST", {"content-type": "application/json", "x-csrftoken": "wrong"}),
    ],
)
def test_forgeable_writes_are_refused(method: str, headers: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied):
        check(method, headers)


def test_configured_origins_are_allowed() -> None:
    check(
        "POST",
        {"content-type": "application/json", "origin": "https://app.example"},
        ["https://app.example"],
    )


def membership(workspace_id: str, slug: str, role: str = "owner") -> identity_pb2.Membership:
    return identity_pb2.Membership(
        workspace=identity_pb2.Workspace(id=workspace_id, slug=slug), role=role
    )


def test_workspace_selection() -> None:
    memberships = [membership("ws_1", "first"), membership("ws_2", "second", "editor")]
    assert _select_workspace(memberships, None).workspace.id == "ws_1"
    assert _select_workspace(memberships, "second").role == "editor"
    assert _select_workspace(memberships, "ws_2").workspace.slug == "second"
    with pytest.raises(NotFound):
        _select_workspace(memberships, "ws_3")
    with pytest.raises(PermissionDenied):
        _select_workspace([], None)
