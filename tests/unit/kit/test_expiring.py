"""The gateway's expiring cache: a value fetched across a drop is not kept."""

from __future__ import annotations

from services.kit.expiring import ExpiringCache


def test_a_value_fetched_before_a_drop_is_not_kept() -> None:
    cache: ExpiringCache[str, str] = ExpiringCache(size=10)
    for drop in (
        lambda: cache.drop("other"),
        lambda: cache.drop_where(lambda value: False),
        cache.clear,
    ):
        fetched_at = cache.generation
        drop()
        cache.put("key", "stale", seconds=60, fetched_at=fetched_at)
        assert cache.get("key") is None

    fetched_at = cache.generation
    cache.put("key", "fresh", seconds=60, fetched_at=fetched_at)
    assert cache.get("key") == "fresh"


def test_starting_over_when_full_is_no_drop() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(size=2)
    fetched_at = cache.generation
    for key in range(3):
        cache.put(key, key, seconds=60)
    cache.put(9, 9, seconds=60, fetched_at=fetched_at)
    assert cache.get(9) == 9
