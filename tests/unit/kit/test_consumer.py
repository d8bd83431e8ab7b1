"""The delays after which a durable consumer has a failed message redelivered."""

from __future__ import annotations

from services.kit.nats.consumer import RetryPolicy, backoff_seconds


def test_nak_delay_doubles_with_every_delivery_up_to_the_cap() -> None:
    policy = RetryPolicy(first_delay_seconds=1.0, max_delay_seconds=60.0)
    delays = [policy.nak_delay(delivered) for delivered in range(1, 10)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_default_policy_waits_a_second_first_and_a_minute_at_most() -> None:
    policy = RetryPolicy()
    assert policy.nak_delay(1) == 1.0
    assert policy.nak_delay(policy.max_deliver) == 60.0


def test_small_delays_for_tests_scale_the_same_way() -> None:
    policy = RetryPolicy(max_deliver=3, first_delay_seconds=0.05, max_delay_seconds=0.15)
    assert [policy.nak_delay(delivered) for delivered in (1, 2, 3)] == [0.05, 0.1, 0.15]


def test_backoff_holds_at_the_cap_for_any_attempt_count() -> None:
    assert backoff_seconds(10_000, first=1.0, cap=30.0) == 30.0
    # JetStream counts deliveries from 1; anything lower is the first attempt.
    assert backoff_seconds(0, first=0.5, cap=30.0) == 0.5
