"""The throttling policy on its own: how waits grow, and which attempts share a
count."""

from __future__ import annotations

from services.identity.config import IdentitySettings
from services.identity.throttling import (
    Limit,
    LoginAttempt,
    Scope,
    ThrottlePolicy,
)


def test_waits_start_after_the_free_failures_and_double_up_to_the_cap() -> None:
    limit = Limit(free_failures=3, first_delay_seconds=1.0, max_delay_seconds=10.0)

    delays = [limit.delay_after(failures) for failures in range(1, 10)]

    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert limit.delay_after(10_000) == 10.0


def test_settings_make_the_account_wide_limit_the_lenient_one() -> None:
    policy = ThrottlePolicy.from_settings(IdentitySettings(database_url="postgresql://x/y"))
    per_pair, per_login = policy.limits[Scope.LOGIN_ADDRESS], policy.limits[Scope.LOGIN]

    assert per_login.free_failures > per_pair.free_failures
    assert per_login.max_delay_seconds < per_pair.max_delay_seconds
    assert policy.longest_block.total_seconds() == max(
        limit.max_delay_seconds for limit in policy.limits.values()
    )


def test_an_email_counts_alike_however_it_is_typed() -> None:
    assert (
        LoginAttempt.member(" Ada@Example.com", "203.0.113.7").keys()
        == LoginAttempt.member("ada@example.com", "203.0.113.7").keys()
    )


def test_attempts_share_exactly_the_scopes_they_have_in_common() -> None:
    ada_here = LoginAttempt.member("ada@example.com", "203.0.113.7").keys()
    ada_there = LoginAttempt.member("ada@example.com", "198.51.100.1").keys()
    bob_here = LoginAttempt.member("bob@example.com", "203.0.113.7").keys()
    ada_in_an_app = LoginAttempt.app_user("app_1", "ada@example.com", "203.0.113.7").keys()

    assert ada_here[Scope.LOGIN] == ada_there[Scope.LOGIN]
    assert ada_here[Scope.LOGIN_ADDRESS] != ada_there[Scope.LOGIN_ADDRESS]
    assert ada_here[Scope.ADDRESS] == bob_here[Scope.ADDRESS]
    assert ada_here[Scope.LOGIN] != bob_here[Scope.LOGIN]
    # An app's end user is not the workspace member of the same email; the address is
    # one address whatever it logs in to.
    assert ada_here[Scope.LOGIN] != ada_in_an_app[Scope.LOGIN]
    assert ada_here[Scope.ADDRESS] == ada_in_an_app[Scope.ADDRESS]


def test_keys_reveal_neither_the_email_nor_the_address() -> None:
    keys = LoginAttempt.member("ada@example.com", "203.0.113.7").keys()

    assert all("ada" not in key and "203.0" not in key for key in keys.values())
