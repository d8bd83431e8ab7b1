from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from services.identity import passwords
from services.identity.errors import HashingBusy


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = passwords.hash_password_sync("correct horse")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password_sync(hashed, "correct horse").ok
    assert not passwords.verify_password_sync(hashed, "wrong horse").ok


def test_same_password_hashes_differently() -> None:
    assert passwords.hash_password_sync("same password") != passwords.hash_password_sync(
        "same password"
    )


def test_garbage_hash_is_a_mismatch_not_a_crash() -> None:
    assert not passwords.verify_password_sync("not-a-hash", "whatever").ok


def test_weaker_parameters_ask_for_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("old password")
    verification = passwords.verify_password_sync(weak, "old password")
    assert verification.ok
    assert verification.needs_rehash


def test_current_parameters_do_not_ask_for_a_rehash() -> None:
    hashed = passwords.hash_password_sync("fresh password")
    assert not passwords.verify_password_sync(hashed, "fresh password").needs_rehash


def test_async_helpers_run_off_the_loop() -> None:
    async def scenario() -> tuple[bool, bool]:
        hashed = await passwords.hash_password("async password")
        await passwords.burn_verification("async password")
        good = await passwords.verify_password(hashed, "async password")
        bad = await passwords.verify_password(hashed, "other password")
        return good.ok, bad.ok

    assert asyncio.run(scenario()) == (True, False)


def test_the_gate_refuses_at_once_beyond_the_hashes_it_runs_and_lets_wait() -> None:
    release = threading.Event()

    async def scenario() -> tuple[list[bool], int]:
        gate = passwords.HashingGate(concurrency=1, waiting=2)
        try:
            held = [asyncio.ensure_future(gate.run(release.wait, 10)) for _ in range(3)]
            await asyncio.sleep(0)
            with pytest.raises(HashingBusy) as refused:
                await gate.run(passwords.hash_password_sync, "one too many")
            assert refused.value.retry_after == 1
            assert refused.value.http_status == 429
            release.set()
            results = list(await asyncio.gather(*held))
            # The line has moved: the next hash is taken again.
            await gate.run(passwords.hash_password_sync, "after the flood")
            return results, gate.admitted
        finally:
            gate.close()

    results, admitted = asyncio.run(scenario())
    assert results == [True, True, True]
    assert admitted == 0


def test_a_caller_that_stops_waiting_keeps_its_place_until_its_hash_ends() -> None:
    release = threading.Event()

    async def scenario() -> None:
        gate = passwords.HashingGate(concurrency=1, waiting=0)
        try:
            waiting = asyncio.ensure_future(gate.run(release.wait, 10))
            await asyncio.sleep(0)
            waiting.cancel()
            # The thread still hashes (and holds its memory): no room for another yet.
            with pytest.raises(HashingBusy):
                await gate.run(passwords.hash_password_sync, "too soon")
            release.set()
            for _ in range(100):
                if gate.admitted == 0:
                    break
                await asyncio.sleep(0.05)
            await gate.run(passwords.hash_password_sync, "now there is room")
        finally:
            gate.close()

    asyncio.run(scenario())


def test_the_check_line_lets_as_many_checks_in_as_the_gate_hashes_and_refuses_past_its_line() -> (
    None
):
    gate = passwords.HashingGate(concurrency=2, waiting=1)
    line = passwords.CheckLine(gate)
    inside = 0
    most_inside = 0
    release = asyncio.Event()

    async def check() -> None:
        nonlocal inside, most_inside
        async with line.admitted():
            inside += 1
            most_inside = max(most_inside, inside)
            await release.wait()
            inside -= 1

    async def flood() -> list[BaseException | None]:
        admitted = [asyncio.create_task(check()) for _ in range(3)]
        await asyncio.sleep(0)
        # The line is full: two checks inside, one waiting outside.
        with pytest.raises(HashingBusy):
            async with line.admitted():
                pass
        release.set()
        return await asyncio.gather(*admitted, return_exceptions=True)

    try:
        outcomes = asyncio.run(flood())
    finally:
        gate.close()
    assert outcomes == [None, None, None]
    assert most_inside == 2
