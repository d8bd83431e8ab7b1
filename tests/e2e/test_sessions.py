"""Session cookies as AppBuilder documents them, with CSRF protection on writes."""

from __future__ import annotations

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant


@pytest.fixture
def session(stack: Stack, tenant: Tenant) -> httpx.Response:
    with httpx.Client(base_url=stack.gateway_url) as http:
        response = http.post(
            "/auth/login/", data={"username": tenant.email, "password": tenant.password}
        )
    assert response.status_code == 200, response.text
    return response


def cookie_client(stack: Stack, session_id: str) -> httpx.Client:
    # As in AppBuilder's curl examples: only the sessionid cookie, no CSRF cookie.
    return httpx.Client(base_url=stack.gateway_url, headers={"Cookie": f"sessionid={session_id}"})


def test_form_login_sets_an_httponly_samesite_session_cookie(session: httpx.Response) -> None:
    set_cookie = "\n".join(session.headers.get_list("set-cookie"))
    assert "sessionid=" in set_cookie
    session_line = next(
        line for line in session.headers.get_list("set-cookie") if line.startswith("sessionid=")
    )
    assert "HttpOnly" in session_line
    assert "SameSite=lax" in session_line
    assert "csrftoken=" in set_cookie
    assert session.json()["csrf_token"] == session.cookies["csrftoken"]


def test_json_login_works_too(stack: Stack, tenant: Tenant) -> None:
    with httpx.Client(base_url=stack.gateway_url) as http:
        response = http.post(
            "/auth/login/", json={"username": tenant.email, "password": tenant.password}
        )
        assert response.status_code == 200
        assert http.get("/api/apps").status_code == 200


def test_login_with_wrong_password_is_401_and_sets_no_cookie(
    client: httpx.Client, tenant: Tenant
) -> None:
    response = client.post(
        "/auth/login/", data={"username": tenant.email, "password": "nope nope nope"}
    )
    assert response.status_code == 401
    assert "sessionid" not in response.cookies


def test_cookie_authenticates_reads_and_appbuilder_style_json_writes(
    stack: Stack, session: httpx.Response
) -> None:
    with cookie_client(stack, session.cookies["sessionid"]) as http:
        assert http.get("/api/apps").status_code == 200
        created = http.post("/api/apps", json={"name": "My CRM"})
        assert created.status_code == 201
        assert created.json()["slug"] == "my-crm"


def test_cookie_write_with_form_content_type_and_no_token_is_refused(
    stack: Stack, session: httpx.Response
) -> None:
    with cookie_client(stack, session.cookies["sessionid"]) as http:
        response = http.post(
            "/api/apps",
            content=b'{"name": "Forged"}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert [a["name"] for a in http.get("/api/apps").json()["apps"]] == []


def test_cookie_write_from_a_foreign_origin_is_refused(
    stack: Stack, session: httpx.Response
) -> None:
    with cookie_client(stack, session.cookies["sessionid"]) as http:
        response = http.post(
            "/api/apps", json={"name": "Forged"}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        own = http.post("/api/apps", json={"name": "Mine"}, headers={"Origin": stack.gateway_url})
        assert own.status_code == 201


def test_csrf_header_matching_the_session_token_passes(
    stack: Stack, session: httpx.Response
) -> None:
    token = session.cookies["csrftoken"]
    with cookie_client(stack, session.cookies["sessionid"]) as http:
        form_post = http.post(
            "/api/apps",
            content=b'{"name": "With token"}',
            headers={"Content-Type": "text/plain", "X-CSRFToken": token},
        )
        assert form_post.status_code == 201
        wrong = http.post(
            "/api/apps", json={"name": "Wrong token"}, headers={"X-CSRFToken": "x" + token}
        )
        assert wrong.status_code == 403


def test_logout_ends_the_session_server_side(stack: Stack, session: httpx.Response) -> None:
    session_id = session.cookies["sessionid"]
    with cookie_client(stack, session_id) as http:
        assert http.post("/auth/logout/").status_code == 200
        response = http.get("/api/apps")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


def test_unknown_session_cookie_is_401(stack: Stack) -> None:
    with cookie_client(stack, "not-a-session") as http:
        assert http.get("/api/apps").status_code == 401
