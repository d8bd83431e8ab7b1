"""Rate-limit counting, without I/O: windows, what another replica reports, and the
RateLimit fields a request's charges render to."""

from __future__ import annotations

import pytest

from services.gateway.config import GatewaySettings
from services.gateway.limits import Meter, Partition, Policy, RateLimiter, limiter_from
from services.kit.errors import RateLimited

CREDENTIAL = Policy(Partition.CREDENTIAL, limit=3, window_seconds=60)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, *policies: Policy) -> RateLimiter:
    return RateLimiter(policies or (CREDENTIAL,), clock=clock)


def test_a_window_admits_its_limit_then_refuses_until_it_ends() -> None:
    clock = Clock()
    counting = limiter(clock)
    answers = [counting.take(CREDENTIAL, "tok_a") for _ in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining for a in answers] == [2, 1, 0, 0]
    assert all(1 <= a.reset_seconds <= 60 for a in answers)

    clock.now += answers[-1].reset_seconds
    assert counting.take(CREDENTIAL, "tok_a").allowed


def test_keys_are_counted_apart() -> None:
    counting = limiter(Clock())
    for _ in range(3):
        counting.take(CREDENTIAL, "tok_a")
    assert not counting.take(CREDENTIAL, "tok_a").allowed
    assert counting.take(CREDENTIAL, "tok_b").remaining == 2


def test_what_another_replica_counted_is_added() -> None:
    clock = Clock()
    first, second = limiter(clock), limiter(clock)
    first.take(CREDENTIAL, "tok_a")
    first.take(CREDENTIAL, "tok_a")
    for name, count in first.unshared():
        second.heard(name, "replica-1", count)

    assert second.take(CREDENTIAL, "tok_a").remaining == 0
    assert not second.take(CREDENTIAL, "tok_a").allowed
    assert first.unshared() == []


def test_a_late_report_does_not_lower_a_count() -> None:
    clock = Clock()
    first, second = limiter(clock), limiter(clock)
    first.take(CREDENTIAL, "tok_a")
    [(name, _)] = first.unshared()
    second.heard(name, "replica-1", 2)
    second.heard(name, "replica-1", 1)
    assert second.take(CREDENTIAL, "tok_a").remaining == 0


def test_reports_of_ended_windows_and_malformed_names_are_ignored() -> None:
    clock = Clock()
    first, second = limiter(clock), limiter(clock)
    first.take(CREDENTIAL, "tok_a")
    [(name, _)] = first.unshared()
    clock.now += 61
    second.heard(name, "replica-1", 3)
    second.heard("credential.60.nothex.x", "replica-1", 3)
    second.heard("credential", "replica-1", 3)
    second.heard("credential.0.abcdef12.5", "replica-1", 3)
    assert second.take(CREDENTIAL, "tok_a").remaining == 2


def test_ended_windows_are_forgotten() -> None:
    clock = Clock()
    counting = limiter(clock)
    counting.take(CREDENTIAL, "tok_a")
    clock.now += 61
    counting.forget_ended()
    assert counting.own_counts() == []


def test_after_an_outage_every_running_count_is_told_again() -> None:
    counting = limiter(Clock())
    counting.take(CREDENTIAL, "tok_a")
    counting.unshared()
    counting.take(CREDENTIAL, "tok_b")
    assert sorted(count for _, count in counting.own_counts()) == [1, 1]
    assert counting.unshared() == []


def test_a_meter_charges_each_key_once_and_renders_the_tightest() -> None:
    address = Policy(Partition.ADDRESS, limit=10, window_seconds=30)
    meter = Meter(limiter(Clock(), address, CREDENTIAL))
    meter.charge(Partition.ADDRESS, "203.0.113.7")
    meter.charge(Partition.CREDENTIAL, "tok_a")
    meter.charge(Partition.CREDENTIAL, "tok_a")
    meter.charge(Partition.WORKSPACE, "ws_1")  # no such policy: not limited

    fields = dict(meter.fields())
    assert fields["RateLimit-Policy"] == '"address";q=10;w=30, "credential";q=3;w=60'
    address_item, credential_item = fields["RateLimit"].split(", ")
    assert address_item.startswith('"address";r=9;t=')
    assert credential_item.startswith('"credential";r=2;t=')


def test_a_full_window_raises_rate_limited_with_retry_after() -> None:
    counting = limiter(Clock())
    for _ in range(3):
        Meter(counting).charge(Partition.CREDENTIAL, "tok_a")
    meter = Meter(counting)
    with pytest.raises(RateLimited) as refused:
        meter.charge(Partition.CREDENTIAL, "tok_a")
    retry_after = refused.value.retry_after
    assert retry_after is not None
    assert 1 <= retry_after <= 60
    assert refused.value.message == (
        f"Too many requests with this credential; try again in {retry_after} s"
    )
    assert dict(meter.fields())["RateLimit"] == f'"credential";r=0;t={retry_after}'


def test_settings_turn_limits_off_whole_or_one_by_one() -> None:
    assert limiter_from(GatewaySettings(rate_limits_enabled=False)) is None
    configured = limiter_from(GatewaySettings(rate_limit_workspace=0, rate_limit_address=5))
    assert configured is not None
    assert set(configured.policies) == {Partition.ADDRESS, Partition.CREDENTIAL, Partition.SIGN_IN}
    assert configured.policies[Partition.ADDRESS].limit == 5
