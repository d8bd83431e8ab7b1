"""Argon2id password hashing. Hashing is CPU-bound, slow and memory-hungry on purpose
(64 MiB per hash), so it runs on a few worker threads of its own, off the event loop, and
only so many hashes may run or wait at once: a flood of logins is refused with 429 at
the door instead of queueing without end, so identity's memory stays about
`concurrency x 64 MiB` above its base and other calls keep their pace."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.identity.errors import HashingBusy

_hasher = PasswordHasher()
Result = TypeVar("Result")


def default_concurrency() -> int:
    """One hash per CPU this process may use: more would only share the same cores."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class HashingGate:
    """Runs at most `concurrency` hashes at once on its own threads, with at most
    `waiting` more in line; anything beyond is refused with HashingBusy, at once."""

    def __init__(self, *, concurrency: int, waiting: int) -> None:
        if concurrency < 1 or waiting < 0:
            raise ValueError("concurrency must be at least 1 and waiting at least 0")
        self.concurrency = concurrency
        self.capacity = concurrency + waiting
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Hashes running or waiting now."""
        return self._admitted

    async def run(self, work: Callable[..., Result], *args: object) -> Result:
        with self._lock:
            if self._admitted >= self.capacity:
                raise HashingBusy()
            self._admitted += 1
        try:
            future = self._executor.submit(work, *args)
        except BaseException:
            self._release()
            raise
        # Released when the hash itself ends, not when its caller stops waiting (a
        # deadline, a cancelled call): the thread and its 64 MiB are busy until then.
        future.add_done_callback(self._released)
        return await asyncio.wrap_future(future)

    def _released(self, _: Future[Any]) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class CheckLine:
    """Lets password checks (logins, password changes) into their database transaction no
    faster than the gate hashes: the others wait here, holding no pooled connection (a
    check waiting inside its transaction would hold one, and a flood would starve every
    other call of the pool), up to the gate's waiting line; beyond it, HashingBusy at once."""

    def __init__(self, gate: HashingGate) -> None:
        self.capacity = gate.capacity
        self._running = asyncio.Semaphore(gate.concurrency)
        self._inside = 0

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        if self._inside >= self.capacity:
            raise HashingBusy()
        self._inside += 1
        try:
            async with self._running:
                yield
        finally:
            self._inside -= 1


# Process-wide on purpose: the limit is on this process's CPUs and memory, whichever
# call asks. The composition root sets it from the settings (bound_hashing).
_gate = HashingGate(concurrency=default_concurrency(), waiting=8 * default_concurrency())
_line = CheckLine(_gate)


def bound_hashing(*, concurrency: int, waiting: int) -> HashingGate:
    """Replaces the process's hashing limits; answers the new gate."""
    global _gate, _line
    previous, _gate = _gate, HashingGate(concurrency=concurrency, waiting=waiting)
    _line = CheckLine(_gate)
    previous.close()
    return _gate


def check_admitted() -> AbstractAsyncContextManager[None]:
    """Around a password check's transaction: see CheckLine."""
    return _line.admitted()


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
    return await _gate.run(hash_password_sync, password)


async def verify_password(password_hash: str, password: str) -> Verification:
    return await _gate.run(verify_password_sync, password_hash, password)


async def burn_verification(password: str) -> None:
    await _gate.run(burn_verification_sync, password)
