"""Login throttling, shared by every identity replica through the database.

Every password check (token-auth, session login, app end-user login, password change)
is an attempt on a login (an email, or for a password change the account) from an
address. Failed attempts are counted in three scopes:

- the login from this address: strict; a handful of free failures, then growing waits;
- the login from anywhere: lenient and short-capped, so that an attacker cannot lock the
  owner out for long, and not applied at all to an address the login succeeded from
  lately (the owner's own machine keeps working through an attack from elsewhere);
- the address across every login: against trying one password on many accounts.

Past a scope's free failures it waits `first_delay`, then twice as long after each
further failure, up to the scope's cap; failures older than the memory are forgotten. A
success clears the count of its login and address (never the address's own count, or
one good account would reset a spray). While any scope waits, the attempt is refused
with 429 and Retry-After before any password is checked. The login is counted by what
was typed, so an unknown email is throttled exactly like a real one. Addresses are
IPv4 addresses or IPv6 /64 networks (what one client can easily vary within)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import validation
from services.identity.config import IdentitySettings
from services.identity.errors import LoginThrottled
from services.identity.repository import IdentityRepository
from services.kit.addresses import counted_address

# Doubling stops mattering long before this; it keeps 2**n finite.
_MAX_DOUBLINGS = 40


class Scope(StrEnum):
    LOGIN_ADDRESS = "login_address"
    LOGIN = "login"
    ADDRESS = "address"


@dataclass(frozen=True)
class Limit:
    free_failures: int
    first_delay_seconds: float
    max_delay_seconds: float

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return 0.0
        delay = self.first_delay_seconds * 2 ** min(beyond - 1, _MAX_DOUBLINGS)
        return min(self.max_delay_seconds, delay)


@dataclass(frozen=True)
class ThrottlePolicy:
    limits: Mapping[Scope, Limit]
    failure_memory: timedelta
    known_address: timedelta

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> ThrottlePolicy:
        first = settings.login_first_delay_seconds
        return cls(
            limits={
                Scope.LOGIN_ADDRESS: Limit(
                    settings.login_free_failures_per_account_address,
                    first,
                    settings.login_max_delay_per_account_address_seconds,
                ),
                Scope.LOGIN: Limit(
                    settings.login_free_failures_per_account,
                    first,
                    settings.login_max_delay_per_account_seconds,
                ),
                Scope.ADDRESS: Limit(
                    settings.login_free_failures_per_address,
                    first,
                    settings.login_max_delay_per_address_seconds,
                ),
            },
            failure_memory=timedelta(seconds=settings.login_failure_memory_seconds),
            known_address=timedelta(seconds=settings.login_known_address_seconds),
        )

    @property
    def longest_block(self) -> timedelta:
        return timedelta(seconds=max(limit.max_delay_seconds for limit in self.limits.values()))


@dataclass(frozen=True)
class LoginAttempt:
    """`realm` keeps logins of different kinds apart (members, one app's end users, a
    member's password change); `login` is what names the account within it."""

    realm: str
    login: str
    client_ip: str

    @classmethod
    def member(cls, email: str, client_ip: str) -> LoginAttempt:
        return cls("member", validation.normalize_email(email), client_ip)

    @classmethod
    def app_user(cls, app_id: str, email: str, client_ip: str) -> LoginAttempt:
        return cls(f"app:{app_id}", validation.normalize_email(email), client_ip)

    @classmethod
    def password_change(cls, account_id: str, client_ip: str) -> LoginAttempt:
        return cls("password-change", account_id, client_ip)

    def keys(self) -> dict[Scope, str]:
        """Hashes name the rows, so no email or address is stored in the clear."""
        address = counted_address(self.client_ip)
        return {
            Scope.LOGIN_ADDRESS: _key(Scope.LOGIN_ADDRESS, self.realm, self.login, address),
            Scope.LOGIN: _key(Scope.LOGIN, self.realm, self.login),
            Scope.ADDRESS: _key(Scope.ADDRESS, address),
        }


async def refuse_if_throttled(
    session: AsyncSession, attempt: LoginAttempt, policy: ThrottlePolicy, now: datetime
) -> None:
    """Raises LoginThrottled, with the seconds to wait, while any scope of the attempt
    waits."""
    keys = attempt.keys()
    states = await IdentityRepository(session).login_throttles(list(keys.values()))
    own = states.get(keys[Scope.LOGIN_ADDRESS])
    known = (
        own is not None
        and own.last_success_at is not None
        and own.last_success_at > now - policy.known_address
    )
    waits = [
        (state.blocked_until - now).total_seconds()
        for scope, key in keys.items()
        if (state := states.get(key)) is not None
        and state.blocked_until is not None
        and not (scope is Scope.LOGIN and known)
    ]
    wait = max(waits, default=0.0)
    if wait > 0:
        raise LoginThrottled(retry_after=max(1, math.ceil(wait)))


async def record_failure(
    session: AsyncSession, attempt: LoginAttempt, policy: ThrottlePolicy, now: datetime
) -> None:
    repo = IdentityRepository(session)
    for scope, key in attempt.keys().items():
        failures = await repo.count_login_failure(
            key, scope, now=now, forget_before=now - policy.failure_memory
        )
        delay = policy.limits[scope].delay_after(failures)
        if delay > 0:
            await repo.block_logins(key, until=now + timedelta(seconds=delay))


async def record_success(session: AsyncSession, attempt: LoginAttempt, now: datetime) -> None:
    key = attempt.keys()[Scope.LOGIN_ADDRESS]
    await IdentityRepository(session).login_succeeded(key, Scope.LOGIN_ADDRESS, now=now)


async def prune(session: AsyncSession, policy: ThrottlePolicy, now: datetime) -> int:
    """Deletes rows that hold neither a failure still remembered or waited for, nor a
    known address; how many."""
    remembered = max(policy.failure_memory, policy.longest_block)
    return await IdentityRepository(session).prune_login_throttles(
        untouched_since=now - remembered, known_since=now - policy.known_address
    )


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
