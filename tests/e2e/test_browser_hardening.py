"""What the gateway tells browsers: no sniffing, no referrer, no caching of answers that
carry credentials or data, an Allow header on 405, login and logout refused from other
sites, and CORS granted to the configured origins only."""

from __future__ import annotations

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant

FOREIGN = "https://evil.example"
FRIEND = "https://app.example"


def assert_hardened(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


def test_answers_with_data_or_credentials_are_never_cached_or_sniffed(
    client: httpx.Client, tenant: Tenant
) -> None:
    assert_hardened(tenant.get("/api/workspaces/"))
    issued = client.post(
        "/api/user/token-auth/", json={"username": tenant.email, "password": tenant.password}
    )
    assert issued.status_code == 200
    assert_hardened(issued)
    assert_hardened(client.get("/api/workspaces/"))  # a 401 too


def test_a_405_names_the_methods_the_path_takes(client: httpx.Client) -> None:
    refused = client.delete("/api/apps")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"
    assert refused.json()["error"]["code"] == "method_not_allowed"
    record = client.post("/api/apps/crm/schemas/contacts/records/rec_x")
    assert record.headers["allow"] == "DELETE, GET, PATCH, PUT"


@pytest.mark.parametrize(
    "headers",
    [{"Origin": FOREIGN}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["foreign-origin", "sec-fetch-site"],
)
def test_a_cross_site_form_cannot_log_anyone_in_or_out(
    client: httpx.Client, tenant: Tenant, headers: dict[str, str]
) -> None:
    planted = client.post(
        "/auth/login/",
        data={"username": tenant.email, "password": tenant.password},
        headers=headers,
    )
    assert planted.status_code == 403
    assert "set-cookie" not in planted.headers

    logged_in = client.post(
        "/auth/login/", json={"username": tenant.email, "password": tenant.password}
    )
    assert logged_in.status_code == 200
    session = {"sessionid": logged_in.cookies["sessionid"]}
    with httpx.Client(base_url=client.base_url, cookies=session, timeout=10) as browser:
        assert browser.post("/auth/logout/", headers=headers).status_code == 403
        assert browser.get("/api/workspaces/").status_code == 200


def test_a_same_site_form_still_logs_in(client: httpx.Client, tenant: Tenant) -> None:
    own = str(client.base_url).rstrip("/")
    response = client.post(
        "/auth/login/",
        data={"username": tenant.email, "password": tenant.password},
        headers={"Origin": own, "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200
    assert "sessionid" in response.cookies


def test_cors_is_granted_to_the_allow_list_only(stack: Stack, tenant: Tenant) -> None:
    preflight = {"Access-Control-Request-Method": "PATCH"}
    allow = {"GATEWAY_ALLOWED_ORIGINS": f'["{FRIEND}"]'}
    with stack.another_gateway(**allow) as url, httpx.Client(base_url=url, timeout=10) as browser:
        granted = browser.options("/api/apps", headers={"Origin": FRIEND, **preflight})
        assert granted.status_code == 200
        assert granted.headers["access-control-allow-origin"] == FRIEND
        assert granted.headers["access-control-allow-credentials"] == "true"
        assert "PATCH" in granted.headers["access-control-allow-methods"]

        refused = browser.options("/api/apps", headers={"Origin": FOREIGN, **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        read = browser.get(
            "/api/workspaces/",
            headers={"Origin": FOREIGN, "Authorization": f"JWT {tenant.token}"},
        )
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers
