"""Login throttling and bounded password hashing, as an attacker and the account's owner
see them, on a stack of its own with small limits. Where a request comes from is its
X-Forwarded-For, which the gateway takes from the test client as from a trusted proxy."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.apps import create_app
from tests.support.infra import Infra
from tests.support.stack import running_stack
from tests.support.wait import eventually

FREE_PER_ACCOUNT_ADDRESS = 3
FREE_PER_ACCOUNT = 6
FREE_PER_ADDRESS = 8
# Long enough for the next request to come within it, short enough to wait out.
DELAY_SECONDS = 3
HASHING_CONCURRENCY = 1
HASHING_WAITING = 2
WRONG = "not the password"

# next() on a count is atomic, where a generator entered from two threads at once raises.
_numbers = itertools.count()


def new_address() -> str:
    """A client address no other test uses (the burst test asks from many threads)."""
    n = next(_numbers)
    return f"198.18.{n // 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def throttled_stack(infra: Infra) -> Iterator[Stack]:
    limits = {
        "IDENTITY_LOGIN_FREE_FAILURES_PER_ACCOUNT_ADDRESS": str(FREE_PER_ACCOUNT_ADDRESS),
        "IDENTITY_LOGIN_FREE_FAILURES_PER_ACCOUNT": str(FREE_PER_ACCOUNT),
        "IDENTITY_LOGIN_FREE_FAILURES_PER_ADDRESS": str(FREE_PER_ADDRESS),
        "IDENTITY_LOGIN_FIRST_DELAY_SECONDS": str(DELAY_SECONDS),
        "IDENTITY_PASSWORD_HASHING_CONCURRENCY": str(HASHING_CONCURRENCY),
        "IDENTITY_PASSWORD_HASHING_WAITING": str(HASHING_WAITING),
        "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    for scope in ("ACCOUNT_ADDRESS", "ACCOUNT", "ADDRESS"):
        limits[f"IDENTITY_LOGIN_MAX_DELAY_PER_{scope}_SECONDS"] = str(DELAY_SECONDS)
    with running_stack(infra, **limits) as stack:
        yield stack


@pytest.fixture
def client(throttled_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=throttled_stack.gateway_url, timeout=30.0) as http:
        yield http


@pytest.fixture
def account(client: httpx.Client) -> Tenant:
    return sign_up(client)


def token_auth(client: httpx.Client, email: str, password: str, address: str) -> httpx.Response:
    return client.post(
        "/api/user/token-auth/",
        json={"username": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= DELAY_SECONDS
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"].startswith("Too many failed attempts; try again in")


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [response.status_code for response in responses]


def test_wrong_passwords_from_one_address_wait_and_the_right_one_passes_once_the_wait_is_over(
    client: httpx.Client, account: Tenant
) -> None:
    here, elsewhere = new_address(), new_address()
    failures = [
        token_auth(client, account.email, WRONG, here) for _ in range(FREE_PER_ACCOUNT_ADDRESS + 1)
    ]
    assert statuses(failures) == [401] * (FREE_PER_ACCOUNT_ADDRESS + 1)

    assert_throttled(token_auth(client, account.email, WRONG, here))
    # The right password is not even checked while the wait lasts ...
    assert_throttled(token_auth(client, account.email, account.password, here))
    # ... and the account is not locked: from another address its owner logs in.
    assert token_auth(client, account.email, account.password, elsewhere).status_code == 200

    def accepted() -> httpx.Response | None:
        response = token_auth(client, account.email, account.password, here)
        return None if response.status_code == 429 else response

    after_the_wait = eventually(accepted, timeout=4 * DELAY_SECONDS, interval=0.25)
    assert after_the_wait.status_code == 200, after_the_wait.text
    assert client.get(
        "/api/apps", headers={"Authorization": "JWT " + after_the_wait.json()["token"]}
    ).is_success
    # The success cleared this address's count for the account: one typo is a plain 401.
    assert token_auth(client, account.email, WRONG, here).status_code == 401


def test_an_unknown_email_is_throttled_exactly_like_a_real_account(
    client: httpx.Client, account: Tenant
) -> None:
    def attempts(email: str) -> list[httpx.Response]:
        address = new_address()
        return [
            token_auth(client, email, WRONG, address) for _ in range(FREE_PER_ACCOUNT_ADDRESS + 2)
        ]

    real, unknown = attempts(account.email), attempts(unique_email())

    expected = [401] * (FREE_PER_ACCOUNT_ADDRESS + 1) + [429]
    assert statuses(real) == statuses(unknown) == expected
    assert real[-1].json()["error"]["code"] == unknown[-1].json()["error"]["code"]
    assert real[0].json() == unknown[0].json()


Attempt = Callable[[str, str], httpx.Response]


@pytest.fixture(params=["session_login", "app_user_login", "password_change"])
def other_password_check(
    request: pytest.FixtureRequest, client: httpx.Client, account: Tenant
) -> tuple[Attempt, int]:
    """A password check other than token-auth, as (attempt(password, address), the status
    a wrong password gets)."""
    kind = request.param
    if kind == "session_login":

        def session_login(password: str, address: str) -> httpx.Response:
            return client.post(
                "/auth/login/",
                json={"username": account.email, "password": password},
                headers={"X-Forwarded-For": address},
            )

        return session_login, 401
    if kind == "app_user_login":
        public_id = create_app(account)["public_id"]
        email = unique_email("enduser")
        signed_up = client.post(
            f"/api/apps/{public_id}/auth/signup", json={"email": email, "password": "end user pw"}
        )
        assert signed_up.status_code == 201, signed_up.text

        def app_user_login(password: str, address: str) -> httpx.Response:
            return client.post(
                f"/api/apps/{public_id}/auth/login",
                json={"email": email, "password": password},
                headers={"X-Forwarded-For": address},
            )

        return app_user_login, 401

    def password_change(password: str, address: str) -> httpx.Response:
        return account.post(
            "/api/user/change-password/",
            json={"old_password": password, "new_password": "a brand new passphrase"},
            headers={"X-Forwarded-For": address},
        )

    return password_change, 400


def test_session_login_app_user_login_and_password_change_are_throttled_alike(
    other_password_check: tuple[Attempt, int],
) -> None:
    attempt, wrong_status = other_password_check
    here = new_address()

    failures = [attempt(WRONG, here) for _ in range(FREE_PER_ACCOUNT_ADDRESS + 1)]

    assert statuses(failures) == [wrong_status] * (FREE_PER_ACCOUNT_ADDRESS + 1)
    assert_throttled(attempt(WRONG, here))
    # A well-formed attempt from elsewhere is checked as usual.
    assert attempt(WRONG, new_address()).status_code == wrong_status


def test_one_password_tried_on_many_accounts_from_one_address_is_throttled(
    client: httpx.Client, account: Tenant
) -> None:
    here = new_address()

    sprayed = [
        token_auth(client, unique_email(), "Summer2026!", here) for _ in range(FREE_PER_ADDRESS + 1)
    ]

    assert statuses(sprayed) == [401] * (FREE_PER_ADDRESS + 1)
    # From this address every account waits now, even with its right password ...
    assert_throttled(token_auth(client, account.email, account.password, here))
    # ... while nobody else does.
    assert token_auth(client, account.email, account.password, new_address()).status_code == 200


def test_an_attack_from_many_addresses_does_not_lock_the_owner_out_of_a_known_address(
    client: httpx.Client, account: Tenant
) -> None:
    home = new_address()
    assert token_auth(client, account.email, account.password, home).status_code == 200

    guesses = [
        token_auth(client, account.email, WRONG, new_address()) for _ in range(FREE_PER_ACCOUNT + 1)
    ]

    assert statuses(guesses) == [401] * (FREE_PER_ACCOUNT + 1)
    # The account as a whole waits a little: a new address, right password or not ...
    assert_throttled(token_auth(client, account.email, account.password, new_address()))
    # ... but where its owner logged in before, the owner gets in.
    assert token_auth(client, account.email, account.password, home).status_code == 200


def test_a_burst_of_logins_beyond_the_waiting_line_gets_429_at_once_and_never_a_500(
    throttled_stack: Stack, client: httpx.Client, account: Tenant
) -> None:
    def log_in(_: Any) -> httpx.Response:
        with httpx.Client(base_url=throttled_stack.gateway_url, timeout=30.0) as http:
            return token_auth(http, account.email, account.password, new_address())

    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(log_in, range(24)))

    codes = statuses(responses)
    assert set(codes) <= {200, 429}, codes
    assert 200 in codes
    assert 429 in codes
    busy = next(response for response in responses if response.status_code == 429)
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["error"] == {
        "code": "rate_limited",
        "message": "Too many password checks at once; try again in a moment",
    }
    # The flood over, identity checks passwords as before.
    assert token_auth(client, account.email, account.password, new_address()).status_code == 200
