"""Caches of what another service said (the gateway's of identity and the schema service,
the workflows service's of apps): each value is held until its own deadline, and a full
cache starts over rather than tracking use, since every entry is cheap to fetch again.

A value fetched while a drop happened may be what the drop was about (a lookup in flight
across a revocation): fetch with `generation` read before the call and `put(...,
fetched_at=generation)`, and such a value is not kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[K, tuple[float, V]] = {}
        # Bumped by every drop and clear.
        self.generation = 0

    def get(self, key: K) -> V | None:
        """The value, unless it is missing or its time is up."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V, *, seconds: float, fetched_at: int | None = None) -> None:
        """Holds `value` for `seconds`; not at all if a drop came since `fetched_at`."""
        if fetched_at is not None and fetched_at != self.generation:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + seconds, value)

    def drop(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)

    def drop_where(self, held: Callable[[V], bool]) -> None:
        self.generation += 1
        for key in [key for key, (_, value) in self._entries.items() if held(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
