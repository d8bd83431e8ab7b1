from __future__ import annotations

import asyncio

from argon2 import PasswordHasher

from services.identity import passwords


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
