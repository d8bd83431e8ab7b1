"""Rate limits as a client meets them: gateways started with small limits refuse a burst
with 429, Retry-After, the RateLimit fields and the error envelope; one credential's
limit leaves another's alone; callers without a credential are counted per address (as a
trusted load balancer names it, and only then); two replicas enforce one limit.

The windows here are an hour long, so none ends during a test, and the counters of these
gateways are apart from the main gateway's (a counter belongs to its policy's window
length). Each test acts from an address of its own, forwarded by the local "load
balancer" the gateways are told to trust."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import ALL_RECORDS, create_token, token_auth
from tests.support.wait import eventually

WINDOW = "3600"
CREDENTIAL_LIMIT = 5
ADDRESS_LIMIT = 12
LIMITED = {
    "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]',
    "GATEWAY_RATE_LIMIT_CREDENTIAL": str(CREDENTIAL_LIMIT),
    "GATEWAY_RATE_LIMIT_CREDENTIAL_WINDOW_SECONDS": WINDOW,
    "GATEWAY_RATE_LIMIT_ADDRESS": str(ADDRESS_LIMIT),
    "GATEWAY_RATE_LIMIT_ADDRESS_WINDOW_SECONDS": WINDOW,
    "GATEWAY_RATE_LIMIT_WORKSPACE": "1000",
    "GATEWAY_RATE_LIMIT_WORKSPACE_WINDOW_SECONDS": WINDOW,
}


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[httpx.Client]:
    with stack.another_gateway(**LIMITED) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture
def crm(tenant: Tenant) -> str:
    app = create_app(tenant)
    create_schema(tenant, app["slug"])
    return str(app["slug"])


def new_address() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def items(field: str) -> dict[str, dict[str, int]]:
    """A RateLimit or RateLimit-Policy field: `"name";k=v;k=v, ...` by name."""
    parsed: dict[str, dict[str, int]] = {}
    for item in field.split(","):
        name, *params = item.strip().split(";")
        assert name.startswith('"'), field
        assert name.endswith('"'), field
        parsed[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return parsed


def remaining(response: httpx.Response, policy: str) -> int:
    return items(response.headers["RateLimit"])[policy]["r"]


def assert_refused(response: httpx.Response, policy: str, whose: str) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= int(WINDOW)
    assert response.json() == {
        "error": {
            "code": "rate_limited",
            "message": f"Too many requests {whose}; try again in {retry_after} s",
        }
    }
    assert items(response.headers["RateLimit"])[policy] == {"r": 0, "t": retry_after}
    assert policy in items(response.headers["RateLimit-Policy"])


def test_a_burst_past_a_credentials_limit_is_refused_and_writes_nothing(
    limited: httpx.Client, tenant: Tenant, crm: str
) -> None:
    token = create_token(tenant, permissions=ALL_RECORDS)
    headers = {**token_auth(token["token"]), **forwarded_for(new_address())}
    path = records_path(crm)

    allowed = [limited.get(path, headers=headers) for _ in range(CREDENTIAL_LIMIT - 1)]
    allowed.append(limited.post(path, json={"name": "Ann"}, headers=headers))
    assert [r.status_code for r in allowed] == [200] * (CREDENTIAL_LIMIT - 1) + [201]
    for response in allowed:
        policies = items(response.headers["RateLimit-Policy"])
        assert policies["credential"] == {"q": CREDENTIAL_LIMIT, "w": int(WINDOW)}
        assert policies["address"] == {"q": ADDRESS_LIMIT, "w": int(WINDOW)}
        assert policies["workspace"] == {"q": 1000, "w": int(WINDOW)}
    assert [remaining(r, "credential") for r in allowed] == [4, 3, 2, 1, 0]
    assert [remaining(r, "address") for r in allowed] == [11, 10, 9, 8, 7]

    refused = limited.post(path, json={"name": "Bob"}, headers=headers)
    assert_refused(refused, "credential", "with this credential")
    assert_refused(limited.get(path, headers=headers), "credential", "with this credential")

    listed = tenant.get(path).json()
    assert [record["name"] for record in listed["records"]] == ["Ann"]


def test_one_credentials_limit_leaves_another_credential_alone(
    limited: httpx.Client, tenant: Tenant, crm: str
) -> None:
    address = forwarded_for(new_address())
    spent, fresh = create_token(tenant), create_token(tenant)
    path = records_path(crm)
    for _ in range(CREDENTIAL_LIMIT):
        assert limited.get(path, headers={**token_auth(spent["token"]), **address}).is_success
    over = limited.get(path, headers={**token_auth(spent["token"]), **address})
    assert_refused(over, "credential", "with this credential")

    other = limited.get(path, headers={**token_auth(fresh["token"]), **address})
    assert other.status_code == 200, other.text
    assert remaining(other, "credential") == CREDENTIAL_LIMIT - 1


def test_requests_without_a_credential_are_limited_per_address(limited: httpx.Client) -> None:
    flooding, elsewhere = forwarded_for(new_address()), forwarded_for(new_address())
    answers = [limited.get("/api/apps", headers=flooding) for _ in range(ADDRESS_LIMIT)]
    assert {r.status_code for r in answers} == {401}
    assert [remaining(r, "address") for r in answers] == list(reversed(range(ADDRESS_LIMIT)))
    assert all("credential" not in items(r.headers["RateLimit"]) for r in answers)

    assert_refused(limited.get("/api/apps", headers=flooding), "address", "from this address")
    login = limited.post(
        "/auth/login/", json={"username": "a@b.c", "password": "x"}, headers=flooding
    )
    assert_refused(login, "address", "from this address")

    assert limited.get("/api/apps", headers=elsewhere).status_code == 401
    health = limited.get("/healthz", headers=flooding)
    assert health.status_code == 200
    assert "RateLimit" not in health.headers


def test_an_address_is_taken_from_x_forwarded_for_only_from_a_trusted_proxy(
    stack: Stack,
) -> None:
    untrusting = {
        "GATEWAY_TRUSTED_PROXIES": '["192.0.2.1"]',
        "GATEWAY_RATE_LIMIT_ADDRESS": "1000",
        # A window of its own: no other gateway here counts under this policy.
        "GATEWAY_RATE_LIMIT_ADDRESS_WINDOW_SECONDS": "7200",
    }
    with stack.another_gateway(**untrusting) as url, httpx.Client(base_url=url) as http:
        first = http.get("/api/apps", headers=forwarded_for(new_address()))
        second = http.get("/api/apps", headers=forwarded_for(new_address()))
    assert remaining(second, "address") == remaining(first, "address") - 1


def test_two_replicas_enforce_one_limit(stack: Stack, tenant: Tenant, crm: str) -> None:
    limit = 200
    shared = {
        **LIMITED,
        "GATEWAY_RATE_LIMIT_CREDENTIAL": str(limit),
        "GATEWAY_RATE_LIMIT_ADDRESS": str(10 * limit),
    }
    token = create_token(tenant)
    headers = {**token_auth(token["token"]), **forwarded_for(new_address())}
    path = records_path(crm)
    with (
        stack.another_gateway(**shared) as first_url,
        stack.another_gateway(**shared) as second_url,
        httpx.Client(base_url=first_url, headers=headers) as first,
        httpx.Client(base_url=second_url, headers=headers) as second,
    ):
        for _ in range(limit // 2):
            assert first.get(path).status_code == 200
        # The second replica hears of the first one's count (each probe counts too).
        asked = 0

        def second_knows() -> bool:
            nonlocal asked
            asked += 1
            answer = second.get(path)
            assert answer.status_code == 200, answer.text
            return remaining(answer, "credential") == limit - limit // 2 - asked

        eventually(second_knows, timeout=5.0, interval=0.1)

        served_by_second = asked
        while (answer := second.get(path)).status_code == 200:
            served_by_second += 1
            assert served_by_second <= limit, "the second replica never refused"
        assert_refused(answer, "credential", "with this credential")
        assert served_by_second == limit - limit // 2

        # The first replica refuses too once it hears the second one's count; alone, it
        # would serve another limit // 2.
        served_after = 0

        def first_refuses() -> bool:
            nonlocal served_after
            if first.get(path).status_code == 429:
                return True
            served_after += 1
            return False

        eventually(first_refuses, timeout=5.0, interval=0.02)
        assert served_after < limit // 4


def test_sign_ins_from_one_address_past_their_limit_are_refused_at_the_gateway(
    stack: Stack, tenant: Tenant
) -> None:
    sign_in_limit = 3
    settings = {
        "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]',
        "GATEWAY_RATE_LIMIT_SIGN_IN": str(sign_in_limit),
        "GATEWAY_RATE_LIMIT_SIGN_IN_WINDOW_SECONDS": WINDOW,
    }
    credentials = {"username": tenant.email, "password": tenant.password}
    with stack.another_gateway(**settings) as url, httpx.Client(base_url=url) as http:
        address, elsewhere = forwarded_for(new_address()), forwarded_for(new_address())
        signed_in = [
            http.post("/api/user/token-auth/", json=credentials, headers=address)
            for _ in range(sign_in_limit)
        ]
        assert [r.status_code for r in signed_in] == [200] * sign_in_limit
        assert [remaining(r, "sign-in") for r in signed_in] == [2, 1, 0]

        for path in (
            "/api/user/token-auth/",
            "/auth/login/",
            "/api/apps/app_x/auth/login",
            # Signing up hashes a password too.
            "/api/user/",
            "/api/apps/app_x/auth/signup",
        ):
            refused = http.post(path, json=credentials, headers=address)
            assert_refused(refused, "sign-in", "to sign in from this address")

        # Only signing in is held back: the token works, and other addresses sign in.
        token = signed_in[0].json()["token"]
        apps = http.get("/api/apps", headers={"Authorization": f"JWT {token}", **address})
        assert apps.status_code == 200, apps.text
        assert "sign-in" not in items(apps.headers["RateLimit-Policy"])
        other = http.post("/api/user/token-auth/", json=credentials, headers=elsewhere)
        assert other.status_code == 200, other.text


def test_an_apps_end_users_do_not_count_against_its_workspace(
    limited: httpx.Client, tenant: Tenant, crm: str
) -> None:
    """Anyone may sign up to a public app, so its end users, like its visitors, count per
    session and address, never against the limit the workspace's members share."""
    public_id = tenant.get(f"/api/apps/{crm}").json()["public_id"]
    address = forwarded_for(new_address())
    signed_up = limited.post(
        f"/api/apps/{public_id}/auth/signup",
        json={"email": f"end-{secrets.token_hex(4)}@example.com", "password": "end user pass 1"},
        headers=address,
    )
    assert signed_up.status_code == 201, signed_up.text
    end_user = {"Authorization": f"Bearer {signed_up.json()['token']}", **address}
    member = {"Authorization": f"JWT {tenant.token}", **forwarded_for(new_address())}

    path = records_path(public_id)
    before = remaining(limited.get(records_path(crm), headers=member), "workspace")
    read = limited.get(path, headers=end_user)
    assert "workspace" not in items(read.headers["RateLimit"])
    assert "credential" in items(read.headers["RateLimit"])
    after = remaining(limited.get(records_path(crm), headers=member), "workspace")
    assert after == before - 1


def test_the_addresses_of_one_ipv6_64_count_as_one(limited: httpx.Client) -> None:
    """An IPv6 client usually holds a whole /64: rotating through it escapes nothing."""
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    first = limited.get("/api/apps", headers=forwarded_for(f"{prefix}::1"))
    second = limited.get("/api/apps", headers=forwarded_for(f"{prefix}:ffff::2"))
    other_prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    elsewhere = limited.get("/api/apps", headers=forwarded_for(f"{other_prefix}::1"))
    assert remaining(second, "address") == remaining(first, "address") - 1
    assert remaining(elsewhere, "address") == ADDRESS_LIMIT - 1
