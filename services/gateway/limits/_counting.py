"""Fixed windows of requests, one counter per (policy, key, window): counted here on the
request path, and topped up with what the other gateway replicas report."""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

# Keys whose digests are remembered; past this the memory starts over.
DIGEST_CACHE_SIZE = 100_000


class Partition(StrEnum):
    """Whom a policy counts requests of; also the policy's name in the RateLimit fields."""

    ADDRESS = "address"
    CREDENTIAL = "credential"
    WORKSPACE = "workspace"
    # Password sign-ins from one address: refused here, before identity spends a database
    # transaction (or a hash) on each.
    SIGN_IN = "sign-in"


@dataclass(frozen=True)
class Policy:
    partition: Partition
    limit: int
    window_seconds: int

    @functools.cached_property
    def item(self) -> str:
        """This policy as an item of the RateLimit-Policy field."""
        return f'"{self.partition}";q={self.limit};w={self.window_seconds}'


class Allowance(NamedTuple):
    """The answer for one request under one policy."""

    policy: Policy
    allowed: bool
    # Requests left in the window after this one.
    remaining: int
    # Whole seconds until the window ends; at least 1.
    reset_seconds: int


@dataclass
class _Counter:
    ends_at: float
    own: int = 0
    others: dict[str, int] = field(default_factory=dict)
    others_total: int = 0


def counter_name(partition: str, window_seconds: int, digest: str, window: int) -> str:
    """Also the key under which replicas share the count (NATS KV key syntax)."""
    return f"{partition}.{window_seconds}.{digest}.{window}"


def _offset(digest: str, window_seconds: int) -> int:
    # Each key's windows start at their own second, so clients throttled together do not
    # all come back at the same instant.
    return int(digest[:8], 16) % window_seconds


def _ends_at(name: str) -> float | None:
    """When the window a counter name stands for ends; None for a name that is not one."""
    parts = name.split(".")
    if len(parts) != 4:
        return None
    _, window_seconds, digest, window = parts
    try:
        seconds, index = int(window_seconds), int(window)
        offset = _offset(digest, seconds) if seconds > 0 else 0
    except ValueError:
        return None
    if seconds <= 0:
        return None
    return float((index + 1) * seconds + offset)


class RateLimiter:
    """Counts requests per policy and key. Keys are hashed before they are kept or shared,
    so no address or credential id leaves the process in clear."""

    def __init__(self, policies: Iterable[Policy], *, clock: Callable[[], float] = time.time):
        self.policies = {policy.partition: policy for policy in policies}
        # Wall-clock time: replicas must agree on where windows start.
        self._clock = clock
        self._counters: dict[str, _Counter] = {}
        self._unshared: set[str] = set()
        self._digests: dict[tuple[Partition, str], str] = {}

    def take(self, policy: Policy, key: str) -> Allowance:
        """Counts one request for `key`, unless the window is already full."""
        now = self._clock()
        digest = self._digests.get((policy.partition, key))
        if digest is None:
            if len(self._digests) >= DIGEST_CACHE_SIZE:
                self._digests.clear()
            digest = hashlib.blake2b(
                f"{policy.partition}:{key}".encode(), digest_size=12
            ).hexdigest()
            self._digests[policy.partition, key] = digest
        seconds = policy.window_seconds
        offset = _offset(digest, seconds)
        window = int((now - offset) // seconds)
        name = counter_name(policy.partition, seconds, digest, window)
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = _Counter(
                ends_at=float((window + 1) * seconds + offset)
            )
        reset_seconds = max(1, math.ceil(counter.ends_at - now))
        used = counter.own + counter.others_total
        if used >= policy.limit:
            return Allowance(policy, allowed=False, remaining=0, reset_seconds=reset_seconds)
        counter.own += 1
        self._unshared.add(name)
        return Allowance(
            policy, allowed=True, remaining=policy.limit - used - 1, reset_seconds=reset_seconds
        )

    def unshared(self) -> list[tuple[str, int]]:
        """This replica's counts that changed since the last call, by counter name."""
        changed = [
            (name, self._counters[name].own) for name in self._unshared if name in self._counters
        ]
        self._unshared.clear()
        return changed

    def own_counts(self) -> list[tuple[str, int]]:
        """Every count of this replica in a running window (to tell the others again after
        an outage)."""
        self._unshared.clear()
        return [(name, counter.own) for name, counter in self._counters.items() if counter.own]

    def heard(self, name: str, replica: str, count: int) -> None:
        """Another replica's count for a counter. Counts only grow within a window, so an
        older report arriving late changes nothing."""
        counter = self._counters.get(name)
        if counter is None:
            ends_at = _ends_at(name)
            if ends_at is None or ends_at <= self._clock():
                return
            counter = self._counters[name] = _Counter(ends_at=ends_at)
        previous = counter.others.get(replica, 0)
        if count > previous:
            counter.others[replica] = count
            counter.others_total += count - previous

    def forget_ended(self) -> None:
        now = self._clock()
        for name in [name for name, counter in self._counters.items() if counter.ends_at <= now]:
            del self._counters[name]
            self._unshared.discard(name)
