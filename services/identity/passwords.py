"""Argon2id password hashing. Hashing is CPU-bound and slow on purpose, so it runs in a
worker thread, off the event loop."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Verification:
    ok: bool
    # Set when the hash used older parameters than the current defaults.
    needs_rehash: bool = False


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


def verify_password_sync(password_hash: str, password: str) -> Verification:
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return Verification(ok=False)
    return Verification(ok=True, needs_rehash=_hasher.check_needs_rehash(password_hash))


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("tessera-dummy-password-for-unknown-accounts")


def warm_up() -> None:
    """Computes the dummy hash at startup rather than on the first unknown-email login."""
    _dummy_hash()


def burn_verification_sync(password: str) -> None:
    """Costs what a real verification costs, so an unknown email answers no faster."""
    verify_password_sync(_dummy_hash(), password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password_hash: str, password: str) -> Verification:
    return await asyncio.to_thread(verify_password_sync, password_hash, password)


async def burn_verification(password: str) -> None:
    await asyncio.to_thread(burn_verification_sync, password)
